/**
 * Tenant access tokens: any number per account, each 256 random bits, shown once when issued and kept in the
 * ledger store only as its SHA-256. A copy of the database grants nothing, one tenant's token can be revoked
 * without touching another's, and rotating revokes an account's tokens and issues a new one in one step.
 *
 * Why SHA-256 and not a password hash: a password hash is slow because passwords are guessable; a 256-bit
 * random token is not, so its plain digest is already beyond brute force and lets a request be checked with
 * one indexed lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Clock } from '../clock';
import { LedgerError } from '../ledger/requests';

export interface AccessTokenRecord {
  /** Public name of the token, for listing and revoking it (never enough to use it). */
  tokenId: string;
  accountId: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  label: string;
  issuedAt: number;
  issuedBy: string;
  revokedAt?: number;
  revokedBy?: string;
}

/** Which tokens a revocation is for: one by its id (optionally only if it is the account's), or an account's all. */
export type TokenSelection = { tokenId: string; accountId?: string } | { accountId: string };

/** What the service needs from storage; both ledger stores implement it on a table of their own. */
export interface AccessTokenStore {
  /** Adds a token; `replacing` revokes the account's active tokens first, in the same transaction. Returns how many it revoked. */
  insertToken(record: AccessTokenRecord, replacing?: { at: number; by: string }): Promise<number>;
  tokenByHash(hash: string): Promise<AccessTokenRecord | undefined>;
  tokensOf(accountId: string): Promise<AccessTokenRecord[]>;
  /** Revokes the selected active tokens; returns how many. */
  revokeTokens(which: TokenSelection, at: number, by: string): Promise<number>;
}

const TOKEN_PREFIX = 'pt_';
const TOKEN_PATTERN = /^pt_[A-Za-z0-9_-]{43}$/;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A token's listing: everything but its hash. */
export function tokenInfo(record: AccessTokenRecord): Record<string, unknown> {
  return {
    tokenId: record.tokenId,
    accountId: record.accountId,
    label: record.label,
    issuedAt: record.issuedAt,
    issuedBy: record.issuedBy,
    revokedAt: record.revokedAt ?? null,
    revokedBy: record.revokedBy ?? null,
    active: record.revokedAt === undefined,
  };
}

export type AccessTokenCommand =
  | { action: 'issue' | 'rotate'; accountId: string; label: string; by: string }
  | { action: 'revoke'; selection: TokenSelection; by: string }
  | { action: 'verify'; accountId: string; token: string }
  | { action: 'list'; accountId: string };

const ACTIONS = ['issue', 'rotate', 'revoke', 'verify', 'list'];

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw new LedgerError(field, 'is required');
  if (value.length > max) throw new LedgerError(field, `must be at most ${max} characters`);
  return value;
}

function optional(value: unknown, field: string, max: number, fallback: string): string {
  return value === undefined || value === null || value === '' ? fallback : text(value, field, max);
}

/** A `tenant-token` command from a message payload, checked field by field. */
export function readAccessTokenCommand(payload: Record<string, unknown>): AccessTokenCommand {
  const action = payload.action;
  if (typeof action !== 'string' || !ACTIONS.includes(action))
    throw new LedgerError('action', `must be one of ${ACTIONS.join(', ')}`);
  switch (action) {
    case 'issue':
    case 'rotate':
      return {
        action,
        accountId: text(payload.accountId, 'accountId', 64),
        label: optional(payload.label, 'label', 100, 'tenant'),
        by: optional(payload.by, 'by', 100, 'flow'),
      };
    case 'revoke': {
      const by = optional(payload.by, 'by', 100, 'flow');
      const accountId =
        payload.accountId === undefined || payload.accountId === ''
          ? undefined
          : text(payload.accountId, 'accountId', 64);
      if (payload.tokenId !== undefined && payload.tokenId !== '') {
        const tokenId = text(payload.tokenId, 'tokenId', 64);
        return { action, selection: accountId ? { tokenId, accountId } : { tokenId }, by };
      }
      if (!accountId) throw new LedgerError('tokenId', 'or accountId is required');
      return { action, selection: { accountId }, by };
    }
    case 'verify':
      // The token is checked, never echoed: a refusal does not say whether it was malformed or unknown.
      return {
        action,
        accountId: text(payload.accountId, 'accountId', 64),
        token: typeof payload.token === 'string' ? payload.token : '',
      };
    default:
      return { action: 'list', accountId: text(payload.accountId, 'accountId', 64) };
  }
}

export class TenantAccess {
  constructor(
    private readonly store: AccessTokenStore,
    private readonly clock: Clock,
    private readonly accountExists: (accountId: string) => Promise<boolean>,
    private readonly random: (size: number) => Buffer = randomBytes,
  ) {}

  /** A new token for the account (rotating: the account's other tokens are revoked with it). */
  async issue(
    accountId: string,
    options: { label?: string; by?: string; rotate?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    if (!(await this.accountExists(accountId)))
      throw new LedgerError('accountId', `account "${accountId}" does not exist`, 'unknown-account');
    const token = `${TOKEN_PREFIX}${this.random(32).toString('base64url')}`;
    const record: AccessTokenRecord = {
      tokenId: `tok_${this.random(6).toString('hex')}`,
      accountId,
      hash: tokenHash(token),
      label: options.label ?? 'tenant',
      issuedAt: this.clock.now(),
      issuedBy: options.by ?? 'flow',
    };
    const revoked = await this.store.insertToken(
      record,
      options.rotate ? { at: record.issuedAt, by: record.issuedBy } : undefined,
    );
    // The token itself is in this answer only: it is not stored, and whoever receives it must not log it.
    return Object.assign(tokenInfo(record), { token, revoked });
  }

  async revoke(selection: TokenSelection, by = 'flow'): Promise<number> {
    return this.store.revokeTokens(selection, this.clock.now(), by);
  }

  /** The token's id when `token` is an active token of `accountId`; refuses anything else alike. */
  async verify(accountId: string, token: unknown): Promise<string> {
    const record =
      typeof token === 'string' && TOKEN_PATTERN.test(token)
        ? await this.store.tokenByHash(tokenHash(token))
        : undefined;
    if (!record || record.accountId !== accountId || record.revokedAt !== undefined)
      throw new LedgerError('token', 'is not an access token of this account', 'bad-token');
    return record.tokenId;
  }

  async list(accountId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.store.tokensOf(accountId)).map(tokenInfo);
  }

  async run(command: AccessTokenCommand): Promise<Record<string, unknown>> {
    const answer = { ok: true, command: 'tenant-token', action: command.action };
    switch (command.action) {
      case 'issue':
      case 'rotate':
        return Object.assign(
          answer,
          await this.issue(command.accountId, {
            label: command.label,
            by: command.by,
            rotate: command.action === 'rotate',
          }),
        );
      case 'revoke':
        return Object.assign(answer, command.selection, {
          revoked: await this.revoke(command.selection, command.by),
        });
      case 'verify':
        return Object.assign(answer, {
          accountId: command.accountId,
          tokenId: await this.verify(command.accountId, command.token),
        });
      case 'list':
        return Object.assign(answer, {
          accountId: command.accountId,
          tokens: await this.list(command.accountId),
        });
    }
  }
}
