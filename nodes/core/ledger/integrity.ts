/**
 * What `verify` proves and how checkpoints are made, over a store and its integrity settings (the
 * ledger key and the checkpoint log, both outside the database).
 *
 * verify, per account: the hash chain and register sums (catches edits by anyone who cannot
 * recompute hashes); the seal of every entry after the last checkpoint (catches entries written or
 * rewritten without the key, however well re-hashed); the history up to the last checkpoint (catches
 * entries removed from the end with the account rolled back, and rewrites of checkpointed history);
 * the postings records (none missing for an entry, none listing entries that do not exist, no fewer
 * than checkpointed); the account's policy against its open entry. Accounts the checkpoint knows and
 * the database lacks are reported too.
 *
 * A checkpoint checks each account from the previous checkpoint on (incrementally), and records the
 * accounts that pass; one that fails keeps its previous record and is reported, so a tampered state
 * is never sealed.
 */
import { AccountCheckpoint, Checkpoint, LogReading } from './checkpoint';
import { ChainReport, verifyChain } from './hash-chain';
import { LedgerStore } from './store';

export interface CheckpointReport {
  line: number;
  at: number;
  location: string;
  /** Id of the key that sealed it; undefined when no key is configured. */
  keyId?: string;
  /** The line's seal: logged too, so a copy of it exists outside the file. */
  seal?: string;
  accounts: number;
  /** Accounts that failed their check and kept their previous record. */
  refused: Array<{ accountId: string; problems: string[] }>;
}

function missingAccount(id: string, mark: AccountCheckpoint, line: number, sealed: boolean): ChainReport {
  return {
    accountId: id,
    ok: false,
    entries: 0,
    balance: 0n,
    debt: 0n,
    sealed,
    checkpoint: line,
    problems: [
      `the account is missing from the database; checkpoint ${line} recorded it with ${mark.seq} entries`,
    ],
  };
}

async function readLog(store: LedgerStore): Promise<{ last?: Checkpoint; problems: string[] }> {
  const integrity = store.integrity;
  if (!integrity?.log) return { problems: [] };
  const reading: LogReading = await integrity.log.read(integrity.keyring);
  if (!reading.exists)
    return {
      problems: [
        `no checkpoint log at ${integrity.log.location}: entries removed from the end cannot be detected`,
      ],
    };
  if (reading.lines === 0)
    return {
      problems: [
        `the checkpoint log at ${integrity.log.location} is empty: entries removed from the end cannot be detected`,
      ],
    };
  return { last: reading.last, problems: reading.problems };
}

/** Verifies one account or all of them; an unknown account that no checkpoint recorded gives none. */
export async function verifyLedger(store: LedgerStore, accountId?: string): Promise<ChainReport[]> {
  const keyring = store.integrity?.keyring;
  const { last, problems: logProblems } = await readLog(store);
  // Seals are required after a sealed checkpoint (or with none at all); after an unsealed one, the
  // ledger has only just been given its key and its newer entries may predate it.
  const sealsRequired = last?.keyId !== undefined || last === undefined;
  const listed = accountId ? [await store.getAccount(accountId)] : await store.listAccounts();
  // One pass over the postings records for those listing entries that do not exist, by account
  // (the account a forger wrote in them, which may be none that exists).
  const phantoms = new Map<string, string[]>();
  for (const { accountId: owner, reference } of await store.phantomPostings(accountId))
    phantoms.set(owner, [...(phantoms.get(owner) ?? []), reference]);
  const reports: ChainReport[] = [];
  const seen = new Set<string>();
  for (const found of listed) {
    if (!found) continue;
    // Read as of one moment: postings may go on while verify runs.
    const history = await store.accountHistory(found.id);
    if (!history) continue;
    seen.add(found.id);
    const { account, entries, postings } = history;
    const recorded = last?.accounts.get(account.id);
    postings.phantom = phantoms.get(account.id) ?? [];
    const report = verifyChain(account, entries, {
      keyring,
      sealsRequired,
      checkpoint: last && recorded ? { line: last.line, account: recorded } : undefined,
      postings,
    });
    if (logProblems.length > 0) {
      report.problems.push(...logProblems);
      report.ok = false;
    }
    reports.push(report);
  }
  const sealed = keyring !== undefined && !keyring.empty;
  for (const [id, mark] of last?.accounts ?? []) {
    if ((accountId === undefined || id === accountId) && !seen.has(id)) {
      seen.add(id);
      reports.push(missingAccount(id, mark, (last as Checkpoint).line, sealed));
    }
  }
  for (const [owner, references] of phantoms) {
    if (seen.has(owner)) continue;
    reports.push({
      accountId: owner,
      ok: false,
      entries: 0,
      balance: 0n,
      debt: 0n,
      sealed,
      problems: [
        `postings ${references.map((r) => `"${r}"`).join(', ')} name an account the ledger does not have and list entries it does not have (forged)`,
      ],
    });
  }
  return reports;
}

/** Checks every account since the last checkpoint and appends a new one (durable when it resolves). */
export async function writeCheckpoint(store: LedgerStore, now: number): Promise<CheckpointReport> {
  const integrity = store.integrity;
  if (!integrity?.log) throw new Error('this ledger store has no checkpoint log');
  const { keyring, log } = integrity;
  const refused: CheckpointReport['refused'] = [];
  const written = await log.append(keyring, async (reading) => {
    const previous = reading.last;
    // The first sealed checkpoint takes the older, unsealed entries as they are (the switch-over);
    // after it, every entry must be sealed.
    const sealsRequired = previous?.keyId !== undefined;
    const accounts: AccountCheckpoint[] = [];
    const seen = new Set<string>();
    for (const listed of await store.listAccounts()) {
      const before = previous?.accounts.get(listed.id);
      const afterSeq = before?.seq ?? 0;
      // Read as of one moment: postings go on while the checkpoint runs.
      const history = await store.accountHistory(listed.id, afterSeq);
      if (!history) continue;
      seen.add(listed.id);
      const { account, entries, postings } = history;
      const report = verifyChain(account, entries, {
        keyring,
        sealsRequired,
        checkpoint: previous && before ? { line: previous.line, account: before } : undefined,
        fromCheckpoint: true,
        postings,
      });
      if (report.ok) {
        accounts.push({
          accountId: account.id,
          seq: account.seq,
          hash: account.lastHash,
          balance: account.balance,
          debt: account.debt,
          postings: postings.count,
        });
      } else {
        refused.push({ accountId: account.id, problems: report.problems });
        if (before) accounts.push(before);
      }
    }
    for (const [id, before] of previous?.accounts ?? []) {
      if (seen.has(id)) continue;
      refused.push({ accountId: id, problems: ['the account is missing from the database'] });
      accounts.push(before);
    }
    return { at: now, accounts };
  });
  return {
    line: written.line,
    at: written.at,
    location: log.location,
    keyId: written.keyId,
    seal: written.seal,
    accounts: written.accounts.size,
    refused,
  };
}
