/**
 * Tamper evidence: each entry's hash covers its content and the previous entry's hash, per account.
 * Editing a row breaks its hash; deleting one breaks the chain (or, at the tail, no longer matches
 * the account's recorded sequence and last hash). `verifyChain` finds all of these.
 */
import { createHash } from 'node:crypto';
import { EntryRecord } from './types';

/** The first link of an account's chain: derived from the account id, so chains cannot be swapped. */
export function genesisHash(accountId: string): string {
  return createHash('sha256').update(`prepay-ledger/genesis/${accountId}`).digest('hex');
}

/** JSON with sorted keys, so the same meta always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
    .join(',')}}`;
}

export function entryHash(entry: Omit<EntryRecord, 'hash'>): string {
  const content = [
    entry.prevHash,
    entry.accountId,
    entry.seq,
    entry.kind,
    entry.reference,
    entry.part,
    entry.amount.toString(),
    entry.debtDelta.toString(),
    entry.balanceAfter.toString(),
    entry.debtAfter.toString(),
    entry.currency,
    entry.postedAt,
    entry.effectiveAt,
    canonicalJson(entry.meta),
  ].join('|');
  return createHash('sha256').update(content).digest('hex');
}

export interface ChainReport {
  accountId: string;
  ok: boolean;
  entries: number;
  /** Balance and debt recomputed from the entries. */
  balance: bigint;
  debt: bigint;
  problems: string[];
}

/**
 * Checks an account's entries (in seq order) against its recorded registers, sequence and last
 * hash: the balance must equal the sum of the entries, every hash must match, no seq may be missing.
 */
export function verifyChain(
  account: { id: string; balance: bigint; debt: bigint; seq: number; lastHash: string },
  entries: EntryRecord[],
): ChainReport {
  const problems: string[] = [];
  let previous = genesisHash(account.id);
  let balance = 0n;
  let debt = 0n;
  entries.forEach((entry, index) => {
    const where = `entry ${entry.seq} (${entry.kind} ${entry.reference})`;
    if (entry.seq !== index + 1) problems.push(`${where}: expected seq ${index + 1}, an entry is missing`);
    if (entry.prevHash !== previous) problems.push(`${where}: does not follow the previous entry's hash`);
    const { hash: _hash, ...rest } = entry;
    if (entryHash(rest) !== entry.hash) problems.push(`${where}: content does not match its hash (edited)`);
    balance += entry.amount;
    debt += entry.debtDelta;
    if (entry.balanceAfter !== balance)
      problems.push(`${where}: balance after ${entry.balanceAfter} but entries sum to ${balance}`);
    if (entry.debtAfter !== debt)
      problems.push(`${where}: debt after ${entry.debtAfter} but entries sum to ${debt}`);
    previous = entry.hash;
  });
  if (entries.length !== account.seq)
    problems.push(`account records ${account.seq} entries, found ${entries.length}`);
  if (previous !== account.lastHash)
    problems.push('the last entry is not the one the account records (deleted or replaced)');
  if (balance !== account.balance)
    problems.push(`account balance ${account.balance} but entries sum to ${balance}`);
  if (debt !== account.debt) problems.push(`account debt ${account.debt} but entries sum to ${debt}`);
  return {
    accountId: account.id,
    ok: problems.length === 0,
    entries: entries.length,
    balance,
    debt,
    problems,
  };
}
