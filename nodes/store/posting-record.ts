/**
 * The postings record kept for a reference, in its compact form. A posting's answer is mostly its entries and
 * the registers they leave (about 600 bytes for a charge), which the entries table holds already: the record
 * keeps only what the entries cannot say (the available credit and credit state after the posting, and the
 * command's own fields such as a charge's reading or a reversal's target), and a duplicate is answered with the
 * answer rebuilt from the record and the entries, equal to the first one, field by field and in the same order.
 *
 * A posting whose answer the entries cannot rebuild (a binding change, a posting without entries) keeps its
 * whole answer, as every record written before the compact form did.
 */
import { toSafeNumber } from '../core/decimal';
import { entryJson } from '../core/ledger/postings';
import { EntryRecord, PostingResult, PreparedPosting } from '../core/ledger/types';

/** The fields of an answer rebuilt from the record's columns and its entries, in the order the ledger writes them. */
const REBUILT = [
  'ok',
  'command',
  'reference',
  'accountId',
  'entries',
  'balance',
  'debt',
  'available',
  'state',
  'currency',
] as const;
const REBUILT_SET: ReadonlySet<string> = new Set(REBUILT);

export interface CompactRecord {
  /** The JSON kept: `available`, `state`, then the command's own fields in their order. */
  text: string;
  /** How many entries the posting wrote: the answer is rebuilt only when all of them are found. */
  entries: number;
}

/** The compact record of a posting, or undefined when its answer is not one the entries can rebuild exactly. */
export function compactRecord(posting: PreparedPosting): CompactRecord | undefined {
  const result = posting.result;
  const entries = posting.entries;
  const count = entries.length;
  const last = entries[count - 1];
  if (last === undefined || !Array.isArray(result.entries) || result.entries.length !== count)
    return undefined;
  for (let i = 0; i < count; i++) {
    const entry = entries[i] as EntryRecord;
    if (entry.reference !== posting.reference || entry.part !== i || entry.accountId !== posting.accountId)
      return undefined;
  }
  if (
    result.ok !== true ||
    result.command !== posting.command ||
    result.reference !== posting.reference ||
    result.accountId !== posting.accountId ||
    result.currency !== last.currency ||
    result.balance !== Number(last.balanceAfter) ||
    result.debt !== Number(last.debtAfter) ||
    typeof result.available !== 'number' ||
    typeof result.state !== 'string'
  )
    return undefined;
  const keys = Object.keys(result);
  for (let i = 0; i < REBUILT.length; i++) if (keys[i] !== REBUILT[i]) return undefined;
  const kept: Record<string, unknown> = { available: result.available, state: result.state };
  for (let i = REBUILT.length; i < keys.length; i++) {
    const key = keys[i] as string;
    if (REBUILT_SET.has(key)) return undefined;
    kept[key] = result[key];
  }
  return { text: JSON.stringify(kept), entries: count };
}

/** The columns of a postings record an answer is rebuilt from. */
export interface RecordColumns {
  reference: string;
  command: string;
  accountId: string;
  /** The compact record's JSON. */
  text: string;
}

/**
 * The answer of a compact record, from its entries in part order; undefined when they are not all there (deleted,
 * or the record forged ahead of a posting): such a record is never answered as a duplicate.
 */
export function expandRecord(
  record: RecordColumns,
  count: number,
  entries: readonly EntryRecord[],
): PostingResult | undefined {
  const last = entries[entries.length - 1];
  if (last === undefined || entries.length !== count) return undefined;
  if (entries.some((entry, i) => entry.part !== i || entry.accountId !== record.accountId)) return undefined;
  const kept = JSON.parse(record.text) as Record<string, unknown>;
  const result: PostingResult = {
    ok: true,
    command: record.command,
    reference: record.reference,
    accountId: record.accountId,
    entries: entries.map(entryJson),
    balance: toSafeNumber(last.balanceAfter, 'balance'),
    debt: toSafeNumber(last.debtAfter, 'debt'),
    available: kept.available as number,
    state: kept.state as PostingResult['state'],
    currency: last.currency,
  };
  for (const key of Object.keys(kept)) if (key !== 'available' && key !== 'state') result[key] = kept[key];
  return result;
}
