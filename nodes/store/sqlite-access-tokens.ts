/**
 * Tenant access tokens in the SQLite ledger file (table tenant_tokens, schema version 4): the ledger store's
 * own connection, so they share its file, its migrations and its backups.
 */
import type Database from 'better-sqlite3';
import { AccessTokenRecord, AccessTokenStore, TokenSelection } from '../core/tenant/access-tokens';

type Row = Record<string, unknown>;

export function tokenFromRow(row: Row): AccessTokenRecord {
  const record: AccessTokenRecord = {
    tokenId: String(row.token_id),
    accountId: String(row.account_id),
    hash: String(row.token_hash),
    label: String(row.label),
    issuedAt: Number(row.issued_at),
    issuedBy: String(row.issued_by),
  };
  if (row.revoked_at !== null && row.revoked_at !== undefined) {
    record.revokedAt = Number(row.revoked_at);
    record.revokedBy = String(row.revoked_by ?? '');
  }
  return record;
}

export class SqliteAccessTokens implements AccessTokenStore {
  constructor(private readonly database: () => Database.Database) {}

  async insertToken(record: AccessTokenRecord, replacing?: { at: number; by: string }): Promise<number> {
    const db = this.database();
    return db
      .transaction(() => {
        const revoked = replacing
          ? db
              .prepare(
                'UPDATE tenant_tokens SET revoked_at = ?, revoked_by = ? WHERE account_id = ? AND revoked_at IS NULL',
              )
              .run(replacing.at, replacing.by, record.accountId).changes
          : 0;
        db.prepare(
          `INSERT INTO tenant_tokens (token_id, account_id, token_hash, label, issued_at, issued_by)
           VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(record.tokenId, record.accountId, record.hash, record.label, record.issuedAt, record.issuedBy);
        return revoked;
      })
      .immediate();
  }

  async tokenByHash(hash: string): Promise<AccessTokenRecord | undefined> {
    const row = this.database().prepare('SELECT * FROM tenant_tokens WHERE token_hash = ?').get(hash) as
      Row | undefined;
    return row ? tokenFromRow(row) : undefined;
  }

  async tokensOf(accountId: string): Promise<AccessTokenRecord[]> {
    const rows = this.database()
      .prepare('SELECT * FROM tenant_tokens WHERE account_id = ? ORDER BY issued_at, token_id')
      .all(accountId) as Row[];
    return rows.map(tokenFromRow);
  }

  async revokeTokens(which: TokenSelection, at: number, by: string): Promise<number> {
    const db = this.database();
    if ('tokenId' in which)
      return db
        .prepare(
          'UPDATE tenant_tokens SET revoked_at = ?, revoked_by = ? WHERE token_id = ? AND (? IS NULL OR account_id = ?) AND revoked_at IS NULL',
        )
        .run(at, by, which.tokenId, which.accountId ?? null, which.accountId ?? null).changes;
    return db
      .prepare(
        'UPDATE tenant_tokens SET revoked_at = ?, revoked_by = ? WHERE account_id = ? AND revoked_at IS NULL',
      )
      .run(at, by, which.accountId).changes;
  }
}
