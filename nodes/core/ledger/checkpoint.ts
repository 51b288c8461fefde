/**
 * Checkpoints: what every account looked like at a moment (entries so far, the last entry's hash,
 * balance, debt, and its postings that may leave no entry: bind, unbind, debt-recovery), kept OUTSIDE
 * the database as one JSON line each, so that history a database writer removes (entries deleted
 * from the end, the account rolled back) is still known.
 *
 * Lines are append-only and chained: each names the seal of the line before it, and is sealed with
 * the ledger key (HMAC-SHA256 over the line's text without its seal). Without a key a line carries a
 * plain SHA-256 instead and `"key": null`: that shows accidental damage, not a forger with the file.
 *
 *   {"v":1,"n":12,"at":1735689600000,"key":"3f2a9c01be47","prev":"<seal of line 11>",
 *    "accounts":[{"a":"T0412","s":5310,"h":"<hash of entry 5310>","b":"12050","d":"0","p":31}, ...],
 *    "seal":"<64 hex>"}
 *
 * Pure: formatting and checking lines; the file itself is an adapter (nodes/store/checkpoint-file.ts).
 */
import { createHash } from 'node:crypto';
import { Keyring } from './seal';

export interface AccountCheckpoint {
  accountId: string;
  /** Entries the account had. */
  seq: number;
  /** Hash of its last entry (the genesis hash when it had none). */
  hash: string;
  balance: bigint;
  debt: bigint;
  /** Postings records of the account that may have no entry (bind, unbind, debt-recovery). */
  postings: number;
}

export interface Checkpoint {
  /** Line number in the log, from 1. */
  line: number;
  at: number;
  /** Id of the key that sealed it; undefined for an unsealed line. */
  keyId?: string;
  accounts: Map<string, AccountCheckpoint>;
  /** The line's seal (what the next line chains to), when just written. */
  seal?: string;
}

/** What reading the log found: the last intact checkpoint, and anything wrong with the log. */
export interface LogReading {
  exists: boolean;
  /** Complete lines in the log. */
  lines: number;
  /** The last line that is whole, chained to its predecessor and sealed by a key of the ring. */
  last?: Checkpoint;
  /** Seal of the last complete line (what the next line chains to). */
  tailSeal: string;
  problems: string[];
}

/** Where checkpoints are kept (an append-only file; anything with these two operations). */
export interface CheckpointLog {
  /** Said in reports and errors (a path). */
  readonly location: string;
  read(keyring: Keyring): Promise<LogReading>;
  /**
   * Reads the log, lets `build` make the next checkpoint from that reading, appends it sealed and
   * chained, and resolves once it is durable. Appends are serialised.
   */
  append(
    keyring: Keyring,
    build: (reading: LogReading) => Promise<{ at: number; accounts: AccountCheckpoint[] }>,
  ): Promise<Checkpoint>;
}

/** What a store needs to seal and what verify needs to prove more than the chain. */
export interface LedgerIntegrity {
  keyring: Keyring;
  log?: CheckpointLog;
}

export const LOG_GENESIS = createHash('sha256').update('prepay-ledger/checkpoints/genesis').digest('hex');

const HEADER = /^\{"v":1,"n":(\d+),"at":(\d+),"key":(null|"([0-9a-f]{1,64})"),"prev":"([0-9a-f]{64})",/;
const SEAL_FIELD = ',"seal":"';

function digest(body: string): string {
  return createHash('sha256').update(`prepay-ledger/checkpoint/${body}`).digest('hex');
}

/** One sealed line (without its newline). */
export function checkpointLine(
  keyring: Keyring,
  line: number,
  at: number,
  prev: string,
  accounts: AccountCheckpoint[],
): string {
  const body = JSON.stringify({
    v: 1,
    n: line,
    at,
    key: keyring.current?.id ?? null,
    prev,
    accounts: accounts.map((a) => ({
      a: a.accountId,
      s: a.seq,
      h: a.hash,
      b: a.balance.toString(),
      d: a.debt.toString(),
      p: a.postings,
    })),
  });
  const seal = keyring.sealLine(body) ?? digest(body);
  return `${body.slice(0, -1)}${SEAL_FIELD}${seal}"}`;
}

interface SplitLine {
  line: number;
  at: number;
  keyId?: string;
  prev: string;
  body: string;
  seal: string;
}

function split(text: string): SplitLine | undefined {
  const header = HEADER.exec(text);
  const cut = text.lastIndexOf(SEAL_FIELD);
  if (!header || cut < 0 || !text.endsWith('"}')) return undefined;
  const seal = text.slice(cut + SEAL_FIELD.length, -2);
  if (!/^[0-9a-f]{64}$/.test(seal)) return undefined;
  return {
    line: Number(header[1]),
    at: Number(header[2]),
    keyId: header[4],
    prev: header[5] as string,
    body: `${text.slice(0, cut)}}`,
    seal,
  };
}

function accountsOf(body: string): Map<string, AccountCheckpoint> {
  const parsed = JSON.parse(body) as {
    accounts: Array<{ a: string; s: number; h: string; b: string; d: string; p: number }>;
  };
  return new Map(
    parsed.accounts.map((a) => [
      a.a,
      { accountId: a.a, seq: a.s, hash: a.h, balance: BigInt(a.b), debt: BigInt(a.d), postings: a.p },
    ]),
  );
}

/**
 * Checks a log line by line (a year of daily lines of thousands of accounts is too big to hold at
 * once): every line whole, numbered in order, chained to the line before and sealed by a key of the
 * ring. Lines sealed by a key no longer in the ring (before a rotation) are passed over when a later
 * line is checked. Only the last good line is kept.
 */
export class CheckpointLogChecker {
  private readonly problems: string[] = [];
  private count = 0;
  private tailSeal = LOG_GENESIS;
  private last: SplitLine | undefined;
  private lastUnchecked: number | undefined;
  private sealedSeen = false;

  constructor(
    private readonly keyring: Keyring,
    private readonly where: string,
  ) {}

  add(text: string): void {
    const n = ++this.count;
    const at = `${this.where} line ${n}`;
    const line = split(text);
    if (!line) {
      this.problems.push(`${at}: damaged (not a checkpoint line)`);
      return;
    }
    let good = true;
    if (line.line !== n) {
      this.problems.push(`${at}: numbered ${line.line} (lines removed or inserted)`);
      good = false;
    }
    if (line.prev !== this.tailSeal) {
      this.problems.push(`${at}: does not follow the line before it (lines removed, inserted or edited)`);
      good = false;
    }
    this.tailSeal = line.seal;
    if (line.keyId === undefined) {
      // Written without a key: its digest shows only that the line is whole.
      if (line.seal !== digest(line.body)) {
        this.problems.push(`${at}: edited (its digest does not match)`);
        good = false;
      } else if (this.sealedSeen) {
        this.problems.push(
          `${at}: not sealed, after sealed lines (the key was removed, or the line is forged)`,
        );
        good = false;
      }
    } else {
      this.sealedSeen = true;
      const valid = this.keyring.lineSealValid(line.keyId, line.body, line.seal);
      if (valid === false) {
        this.problems.push(`${at}: its seal does not match (edited or forged)`);
        good = false;
      } else if (valid === undefined) {
        this.lastUnchecked = n;
        return;
      }
    }
    if (good) {
      this.last = line;
      this.lastUnchecked = undefined;
    }
  }

  result(): LogReading {
    const problems = [...this.problems];
    if (this.lastUnchecked !== undefined)
      problems.push(
        `${this.where} line ${this.lastUnchecked}: sealed with a key that is not configured, so the last checkpoint cannot be checked`,
      );
    const last = this.last;
    return {
      exists: true,
      lines: this.count,
      last: last
        ? { line: last.line, at: last.at, keyId: last.keyId, accounts: accountsOf(last.body) }
        : undefined,
      tailSeal: this.tailSeal,
      problems,
    };
  }
}

/** Checks a whole log held as text. A last line without its newline is a torn write: ignored. */
export function readCheckpointLog(text: string, keyring: Keyring, where: string): LogReading {
  const checker = new CheckpointLogChecker(keyring, where);
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) checker.add(line);
  return checker.result();
}
