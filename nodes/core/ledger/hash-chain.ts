/**
 * Tamper evidence: each entry's hash covers its content and the previous entry's hash, per account.
 * Editing a row breaks its hash; deleting one breaks the chain (or, at the tail, no longer matches
 * the account's recorded sequence and last hash). `verifyChain` finds all of these.
 *
 * The hash is unkeyed: whoever can write the database can also recompute the chain after an edit,
 * or remove the last entries and roll the account back. Against them, the seals (an HMAC of each
 * hash under a key the database never holds, seal.ts) and the checkpoints kept outside the database
 * (checkpoint.ts) are what `verifyChain` checks when it is given them.
 */
import * as crypto from 'node:crypto';
import type { AccountCheckpoint } from './checkpoint';
import type { Keyring } from './seal';
import type { PostingsAudit } from './store';
import { AccountRecord, EntryRecord } from './types';

/**
 * SHA-256 of a text (UTF-8), in hex. Node's one-shot `crypto.hash` (Node 20.12 and later) skips the Hash
 * object and its algorithm lookup, which cost more than hashing an entry; older versions take the long way.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
export const sha256Hex: (text: string) => string =
  typeof oneShotHash === 'function'
    ? (text) => oneShotHash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** The first link of an account's chain: derived from the account id, so chains cannot be swapped. */
export function genesisHash(accountId: string): string {
  return sha256Hex(`prepay-ledger/genesis/${accountId}`);
}

/**
 * A string as JSON: quoted as it is when it has nothing JSON escapes (quote, backslash, controls,
 * surrogates, which JSON.stringify escapes when lone), as JSON.stringify writes it otherwise. The same text
 * as JSON.stringify in every case; a call to it costs more than hashing the whole entry's meta.
 */
function stringJson(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** Keys in code-unit order, as `sort()` puts them (by insertion for the few keys meta has). */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > 12) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** JSON with sorted keys, so the same meta always hashes the same. */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return stringJson(value);
    case 'number':
      // As JSON.stringify: the shortest text (String gives the same; -0 as 0), null when not finite.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      break;
    default:
      // undefined, a function or a symbol: null; a bigint throws, as JSON.stringify does.
      return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let text = '[';
    // A hole stays empty, as it always has (JSON never makes one).
    for (let i = 0; i < value.length; i++)
      text += (i === 0 ? '' : ',') + (i in value ? canonicalJson(value[i]) : '');
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  let text = '{';
  for (const key of sortedKeys(record)) {
    const item = record[key];
    if (item === undefined) continue;
    text += `${text.length === 1 ? '' : ','}${stringJson(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
}

export function entryHash(entry: Omit<EntryRecord, 'hash' | 'seal'>): string {
  return sha256Hex(
    `${entry.prevHash}|${entry.accountId}|${entry.seq}|${entry.kind}|${entry.reference}|${entry.part}|${entry.amount}|${entry.debtDelta}|${entry.balanceAfter}|${entry.debtAfter}|${entry.currency}|${entry.postedAt}|${entry.effectiveAt}|${canonicalJson(entry.meta)}`,
  );
}

export interface ChainReport {
  accountId: string;
  ok: boolean;
  entries: number;
  /** Balance and debt recomputed from the entries. */
  balance: bigint;
  debt: bigint;
  /** Whether the entries after the last checkpoint had their seals checked against the ledger key. */
  sealed: boolean;
  /** Line of the checkpoint log the account was compared with, if any. */
  checkpoint?: number;
  problems: string[];
}

/** What verify proves beyond the chain itself, when it has it. */
export interface ChainChecks {
  /** The ledger key(s): every entry after the checkpoint must carry a seal one of them made. */
  keyring?: Keyring;
  /** Require seals (false while a ledger first gets a key: its older entries have none). */
  sealsRequired?: boolean;
  /** The account as the last checkpoint recorded it, and that checkpoint's line. */
  checkpoint?: { line: number; account: AccountCheckpoint };
  /** `entries` holds only the entries after the checkpoint (a checkpoint's incremental check). */
  fromCheckpoint?: boolean;
  /** The account's postings records cross-checked with its entries. */
  postings?: PostingsAudit;
}

function policyText(policy: Record<string, unknown>): string {
  return canonicalJson(Object.fromEntries(Object.entries(policy).map(([k, v]) => [k, String(v)])));
}

/**
 * Checks an account's entries (in seq order) against its recorded registers, sequence and last
 * hash: the balance must equal the sum of the entries, every hash must match, no seq may be missing.
 * With `checks`: the entries after the last checkpoint must be sealed by the ledger key, the history
 * up to the checkpoint must be the one it recorded (no entry removed from the end, none rewritten),
 * and every entry must have its postings record (none deleted, none posted twice).
 */
export function verifyChain(
  account: Pick<AccountRecord, 'id' | 'balance' | 'debt' | 'seq' | 'lastHash'> &
    Partial<Pick<AccountRecord, 'policy' | 'currency' | 'status'>>,
  entries: EntryRecord[],
  checks: ChainChecks = {},
): ChainReport {
  const problems: string[] = [];
  const mark = checks.checkpoint;
  const start =
    checks.fromCheckpoint && mark
      ? {
          seq: mark.account.seq,
          hash: mark.account.hash,
          balance: mark.account.balance,
          debt: mark.account.debt,
        }
      : { seq: 0, hash: genesisHash(account.id), balance: 0n, debt: 0n };
  const keyring = checks.keyring && !checks.keyring.empty ? checks.keyring : undefined;
  const sealedAfter = mark?.account.seq ?? 0;
  let previous = start.hash;
  let balance = start.balance;
  let debt = start.debt;
  const parts = new Set<string>();
  entries.forEach((entry, index) => {
    const where = `entry ${entry.seq} (${entry.kind} ${entry.reference})`;
    const expected = start.seq + index + 1;
    if (entry.seq !== expected) problems.push(`${where}: expected seq ${expected}, an entry is missing`);
    if (entry.prevHash !== previous) problems.push(`${where}: does not follow the previous entry's hash`);
    if (entryHash(entry) !== entry.hash) problems.push(`${where}: content does not match its hash (edited)`);
    if (mark && !checks.fromCheckpoint && entry.seq === mark.account.seq && entry.hash !== mark.account.hash)
      problems.push(`${where}: is not the entry checkpoint ${mark.line} recorded (history rewritten)`);
    if (keyring && entry.seq > sealedAfter) {
      if (entry.seal === undefined) {
        if (checks.sealsRequired !== false)
          problems.push(`${where}: not sealed (written without the ledger key)`);
      } else if (!keyring.entrySealValid(entry.hash, entry.seal)) {
        problems.push(`${where}: its seal does not match (written or rewritten without the ledger key)`);
      }
    }
    const part = `${entry.reference}\u0000${entry.part}`;
    if (parts.has(part)) problems.push(`${where}: reference posted twice`);
    parts.add(part);
    balance += entry.amount;
    debt += entry.debtDelta;
    if (entry.balanceAfter !== balance)
      problems.push(`${where}: balance after ${entry.balanceAfter} but entries sum to ${balance}`);
    if (entry.debtAfter !== debt)
      problems.push(`${where}: debt after ${entry.debtAfter} but entries sum to ${debt}`);
    previous = entry.hash;
  });
  const found = start.seq + entries.length;
  if (found !== account.seq) problems.push(`account records ${account.seq} entries, found ${found}`);
  if (previous !== account.lastHash)
    problems.push('the last entry is not the one the account records (deleted or replaced)');
  if (balance !== account.balance)
    problems.push(`account balance ${account.balance} but entries sum to ${balance}`);
  if (debt !== account.debt) problems.push(`account debt ${account.debt} but entries sum to ${debt}`);
  if (mark && account.seq < mark.account.seq)
    problems.push(
      `account has ${account.seq} entries but checkpoint ${mark.line} recorded ${mark.account.seq}: entries removed and the account rolled back`,
    );
  const opening = entries[0];
  if (opening?.seq === 1 && opening.kind === 'open') {
    // The account row's settings are written once, at open, and recorded in the open entry.
    const recorded = opening.meta.policy as Record<string, unknown> | undefined;
    const policy = account.policy as unknown as Record<string, unknown> | undefined;
    if (policy && recorded && policyText(policy) !== policyText(recorded))
      problems.push("the account's policy is not the one its open entry recorded (edited)");
    if (account.currency !== undefined && account.currency !== opening.currency)
      problems.push(`the account's currency ${account.currency} is not its entries' ${opening.currency}`);
  }
  const closing = entries[entries.length - 1];
  if (account.status !== undefined && closing && closing.seq === account.seq) {
    if ((account.status === 'closed') !== (closing.kind === 'close'))
      problems.push(`the account is ${account.status} but its last entry is a ${closing.kind}`);
  }
  const postings = checks.postings;
  if (postings) {
    if (postings.unrecorded.length > 0)
      problems.push(
        `entries of ${list(postings.unrecorded)} have no postings record (deleted: a retry would be refused, not posted again)`,
      );
    if (postings.phantom && postings.phantom.length > 0)
      problems.push(`postings ${list(postings.phantom)} list entries the ledger does not have (forged)`);
    if (mark && postings.count < mark.account.postings)
      problems.push(
        `${postings.count} binding and debt-recovery postings records but checkpoint ${mark.line} recorded ${mark.account.postings} (deleted)`,
      );
  }
  return {
    accountId: account.id,
    ok: problems.length === 0,
    entries: found,
    balance,
    debt,
    sealed: keyring !== undefined,
    ...(mark ? { checkpoint: mark.line } : {}),
    problems,
  };
}

function list(references: string[]): string {
  const shown = references.slice(0, 5).map((r) => `"${r}"`);
  return references.length > 5 ? `${shown.join(', ')} and ${references.length - 5} more` : shown.join(', ');
}
