/**
 * The ledger node's intake journal: every posting the node accepts is on local disk, fsynced, before the
 * node takes responsibility for it, and stays there until the store has committed it (or refused it for
 * good). After a stop, a crash or a power cut, whatever was not settled is read back and posted again, in
 * order; the store's unique references make that exactly once.
 *
 * The file is a sequence of JSON lines: `{"q":seq,"t":receivedAt,"r":reference,"o":topic,"p":payload}` for an
 * accepted posting and `{"s":seq,"x":outcome}` once it is settled (committed, duplicate or refused). Accepted
 * lines are fsynced before they are acknowledged; settled marks are not (a lost mark only makes a replay that
 * the store answers as a duplicate). Per day of receipt, the journal counts what it accepted and what became
 * of it, for the reconciliation; those counts survive restarts of the file in a small side file
 * (`<journal>.days`), written before the journal starts again and naming the last sequence number it covers. The file is preallocated ahead of its end (the reserve, zeros) and written in place, so that
 * when the disk fills up (the store then fails too, and postings wait) the journal can still take postings
 * into space it holds already. A reader stops at the first zero byte. Once nothing is pending the journal
 * starts again from the beginning of the file; stale lines past the new end are all settled ones, which a
 * reader skips.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** What became of a posting. */
export type SettleOutcome = 'committed' | 'duplicate' | 'refused';

/** Per day of receipt: postings accepted, and how many were committed, duplicates or refused. */
export interface DayCounts {
  accepted: number;
  committed: number;
  duplicates: number;
  refused: number;
}

const OUTCOME_CODE: Record<SettleOutcome, string> = { committed: 'c', duplicate: 'd', refused: 'r' };
const CODE_FIELD: Record<string, keyof DayCounts> = { c: 'committed', d: 'duplicates', r: 'refused' };
/** Days of counts kept. */
const KEEP_DAYS = 62;

export interface JournalRecord {
  seq: number;
  receivedAt: number;
  reference: string;
  topic: unknown;
  payload: unknown;
}

interface Pending {
  seq: number;
  reference: string;
  offset: number;
  length: number;
  day: string;
}

export interface JournalOptions {
  /** Bytes kept allocated ahead of the journal's end. */
  reserveBytes?: number;
  /** The file is cut back to the reserve when it is empty and has grown past this. */
  shrinkAboveBytes?: number;
  /** The day (e.g. a local date) postings are counted under, from their time of receipt. */
  dayOf?: (receivedAt: number) => string;
}

export class JournalFullError extends Error {
  readonly code = 'journal-full';
  constructor(message: string) {
    super(message);
    this.name = 'JournalFullError';
  }
}

const NEWLINE = 0x0a;
const READ_CHUNK = 1 << 20;

export class IntakeJournal {
  private fd: number;
  /** Where the next line goes. */
  private end = 0;
  /** Bytes allocated (written) in the file. */
  private allocated = 0;
  private nextSeq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly pendingReferences = new Map<string, number>();
  private waiting: Array<{ line: Buffer; record: Pending; resolve: () => void; reject: (e: Error) => void }> =
    [];
  private marks: string[] = [];
  private flushScheduled = false;
  private readonly reserveBytes: number;
  private readonly shrinkAboveBytes: number;
  private readonly dayOf: (receivedAt: number) => string;
  private readonly days = new Map<string, DayCounts>();
  /** Lines of sequence numbers up to this were counted before the journal last started again. */
  private countedThrough = 0;
  /** Set when the reserve could not be extended (the disk is full): the status shows it. */
  growthProblem: string | undefined;

  constructor(
    readonly path: string,
    options: JournalOptions = {},
  ) {
    this.reserveBytes = options.reserveBytes ?? 16 << 20;
    this.shrinkAboveBytes = options.shrinkAboveBytes ?? 4 * this.reserveBytes;
    this.dayOf = options.dayOf ?? ((t) => new Date(t).toISOString().slice(0, 10));
    mkdirSync(dirname(path), { recursive: true });
    this.readDays();
    this.fd = openSync(path, 'a+');
    closeSync(this.fd);
    this.fd = openSync(path, 'r+');
    this.allocated = fstatSync(this.fd).size;
    this.readBack();
    if (this.pending.size === 0) this.restart();
    this.ensureReserve(0);
  }

  /** Postings accepted and not yet settled. */
  get backlog(): number {
    return this.pending.size;
  }

  /** Bytes of journal in use (from the start of the file to its end). */
  get bytes(): number {
    return this.end;
  }

  /** Bytes allocated ahead of the end, usable even when the disk is full. */
  get reserveLeft(): number {
    return this.allocated - this.end;
  }

  /** What was accepted on `day` and what became of it (still pending: accepted less the rest). */
  dayCounts(day: string): DayCounts & { pending: number } {
    const counts = this.days.get(day) ?? { accepted: 0, committed: 0, duplicates: 0, refused: 0 };
    let pending = 0;
    for (const p of this.pending.values()) if (p.day === day) pending += 1;
    return Object.assign({}, counts, { pending });
  }

  /** Whether a posting with this reference is journaled and not yet settled. */
  holds(reference: string): boolean {
    return this.pendingReferences.has(reference);
  }

  /** The unsettled postings, oldest first, as read back at start (payloads read from the file). */
  unsettled(): JournalRecord[] {
    return [...this.pending.values()].map((p) => this.read(p));
  }

  /** The unsettled postings' sequence numbers, oldest first. */
  unsettledSeqs(): number[] {
    return [...this.pending.keys()];
  }

  /** Reads one unsettled posting back from the file. */
  record(seq: number): JournalRecord | undefined {
    const pending = this.pending.get(seq);
    return pending ? this.read(pending) : undefined;
  }

  /**
   * Journals a posting; resolves with its sequence number once it is on disk (postings accepted in the same
   * turn of the event loop share one fsync). Rejects with JournalFullError when there is no room left.
   */
  accept(reference: string, topic: unknown, payload: unknown, receivedAt: number): Promise<number> {
    const seq = this.nextSeq++;
    const text = JSON.stringify({ q: seq, t: receivedAt, r: reference, o: topic, p: payload });
    const line = Buffer.from(`${text}\n`, 'utf8');
    const record: Pending = { seq, reference, offset: -1, length: line.length, day: this.dayOf(receivedAt) };
    return new Promise<number>((resolve, reject) => {
      this.waiting.push({ line, record, resolve: () => resolve(seq), reject });
      this.scheduleFlush();
    });
  }

  /** The posting is committed, a duplicate, or refused for good: it need not be replayed. */
  settle(seq: number, outcome: SettleOutcome): void {
    const pending = this.pending.get(seq);
    if (!pending) return;
    this.pending.delete(seq);
    if (this.pendingReferences.get(pending.reference) === seq)
      this.pendingReferences.delete(pending.reference);
    this.count(pending.day, CODE_FIELD[OUTCOME_CODE[outcome]] as keyof DayCounts);
    this.marks.push(`{"s":${seq},"x":"${OUTCOME_CODE[outcome]}"}\n`);
    this.scheduleFlush();
  }

  /** Writes what is buffered now (accepted lines fsynced). */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    const marks = this.marks;
    this.marks = [];
    if (batch.length === 0 && marks.length === 0) return this.compact();
    const parts: Buffer[] = [];
    let size = 0;
    for (const text of marks) {
      const mark = Buffer.from(text, 'utf8');
      parts.push(mark);
      size += mark.length;
    }
    const markBytes = size;
    for (const item of batch) {
      item.record.offset = this.end + size;
      parts.push(item.line);
      size += item.line.length;
    }
    try {
      this.ensureReserve(size);
      if (this.end + size > this.allocated) {
        throw new JournalFullError(
          `the ledger journal has no room left (${this.growthProblem ?? 'reserve used up'}); the posting was not accepted`,
        );
      }
      writeSync(this.fd, Buffer.concat(parts, size), 0, size, this.end);
      if (batch.length > 0) fdatasyncSync(this.fd);
      this.end += size;
    } catch (error) {
      // Marks can wait for the next write; accepted postings are refused (their senders get the error).
      if (this.end + markBytes <= this.allocated) {
        try {
          if (markBytes > 0)
            writeSync(this.fd, Buffer.concat(parts.slice(0, marks.length)), 0, markBytes, this.end);
          this.end += markBytes;
        } catch {
          this.marks.unshift(...marks);
        }
      } else this.marks.unshift(...marks);
      for (const item of batch) item.reject(error as Error);
      return;
    }
    for (const item of batch) {
      this.pending.set(item.record.seq, item.record);
      this.pendingReferences.set(item.record.reference, item.record.seq);
      this.count(item.record.day, 'accepted');
      item.resolve();
    }
    this.compact();
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
      fdatasyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.fd < 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Nothing pending: start again at the beginning of the file (cut back if it grew large). */
  private compact(): void {
    if (this.pending.size > 0 || this.waiting.length > 0 || this.end === 0) return;
    if (this.end < this.reserveBytes / 2 && this.allocated <= this.shrinkAboveBytes) return;
    this.restart();
  }

  private restart(): void {
    // The day counts of every line so far go to the side file first: the lines are about to go.
    this.writeDays(this.nextSeq - 1);
    if (this.allocated > this.shrinkAboveBytes) {
      ftruncateSync(this.fd, this.reserveBytes);
      this.allocated = this.reserveBytes;
    }
    // Zeros at the start end the journal for a reader; once new lines run past them, the old lines that
    // follow are all settled ones (nothing was pending), which a reader skips.
    const zero = Buffer.alloc(Math.min(4096, this.allocated));
    if (zero.length > 0) writeSync(this.fd, zero, 0, zero.length, 0);
    fdatasyncSync(this.fd);
    this.end = 0;
  }

  /** Keeps `reserveBytes` allocated past what the next write needs; a full disk leaves what is there. */
  private ensureReserve(needed: number): void {
    const want = this.end + needed + this.reserveBytes;
    if (this.allocated >= this.end + needed + this.reserveBytes / 2) return;
    try {
      const chunk = Buffer.alloc(1 << 20);
      while (this.allocated < want) {
        const n = Math.min(chunk.length, want - this.allocated);
        writeSync(this.fd, chunk, 0, n, this.allocated);
        this.allocated += n;
      }
      fdatasyncSync(this.fd);
      this.growthProblem = undefined;
    } catch (error) {
      this.allocated = fstatSync(this.fd).size;
      this.growthProblem = `cannot extend the journal: ${(error as Error).message}`;
    }
  }

  private read(pending: Pending): JournalRecord {
    const buffer = Buffer.alloc(pending.length);
    readSync(this.fd, buffer, 0, pending.length, pending.offset);
    const line = JSON.parse(buffer.toString('utf8')) as {
      q: number;
      t: number;
      r: string;
      o: unknown;
      p: unknown;
    };
    return { seq: line.q, receivedAt: line.t, reference: line.r, topic: line.o, payload: line.p };
  }

  /** Reads the file at start: accepted lines not settled become pending; the end is the first zero byte. */
  private readBack(): void {
    const settled = new Map<number, string>();
    const accepted: Pending[] = [];
    let offset = 0;
    let carry = Buffer.alloc(0);
    let carryOffset = 0;
    let ended = false;
    const chunk = Buffer.alloc(READ_CHUNK);
    while (!ended && offset < this.allocated) {
      const n = readSync(this.fd, chunk, 0, chunk.length, offset);
      if (n <= 0) break;
      let data = Buffer.concat([carry, chunk.subarray(0, n)]);
      const zero = data.indexOf(0);
      if (zero >= 0) {
        data = data.subarray(0, zero);
        ended = true;
      }
      let start = 0;
      for (let i = data.indexOf(NEWLINE); i >= 0; i = data.indexOf(NEWLINE, start)) {
        this.parseLine(data.subarray(start, i), carryOffset + start, i + 1 - start, accepted, settled);
        start = i + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryOffset += start;
      offset += n;
    }
    // The end is after the last whole line: a torn one (a crash in the middle of a write that was never
    // acknowledged) is overwritten.
    this.end = carryOffset;
    const dayOfSeq = new Map<number, string>();
    for (const record of accepted) {
      this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      if (record.seq <= this.countedThrough) continue; // counted and settled before the journal started again
      dayOfSeq.set(record.seq, record.day);
      this.count(record.day, 'accepted');
      if (settled.has(record.seq)) continue;
      this.pending.set(record.seq, record);
      this.pendingReferences.set(record.reference, record.seq);
    }
    for (const [seq, code] of settled) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const day = dayOfSeq.get(seq);
      const field = CODE_FIELD[code];
      if (day !== undefined && field) this.count(day, field);
    }
    this.nextSeq = Math.max(this.nextSeq, this.countedThrough + 1);
  }

  private count(day: string, field: keyof DayCounts): void {
    let counts = this.days.get(day);
    if (!counts) {
      counts = { accepted: 0, committed: 0, duplicates: 0, refused: 0 };
      this.days.set(day, counts);
      if (this.days.size > KEEP_DAYS) this.days.delete([...this.days.keys()].sort()[0] as string);
    }
    counts[field] += 1;
  }

  private readDays(): void {
    const file = `${this.path}.days`;
    if (!existsSync(file)) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      through: number;
      days: Record<string, DayCounts>;
    };
    this.countedThrough = saved.through;
    for (const [day, counts] of Object.entries(saved.days)) this.days.set(day, counts);
  }

  private writeDays(through: number): void {
    const file = `${this.path}.days`;
    const text = JSON.stringify({ through, days: Object.fromEntries(this.days) });
    const fd = openSync(`${file}.tmp`, 'w');
    try {
      writeSync(fd, text);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${file}.tmp`, file);
    this.countedThrough = through;
  }

  private parseLine(
    line: Buffer,
    offset: number,
    length: number,
    accepted: Pending[],
    settled: Map<number, string>,
  ): void {
    let value: { q?: unknown; t?: unknown; r?: unknown; s?: unknown; x?: unknown };
    try {
      value = JSON.parse(line.toString('utf8')) as typeof value;
    } catch {
      return; // a stale fragment past an earlier restart of the journal
    }
    if (typeof value.s === 'number') settled.set(value.s, typeof value.x === 'string' ? value.x : 'c');
    else if (typeof value.q === 'number' && typeof value.r === 'string')
      accepted.push({
        seq: value.q,
        reference: value.r,
        offset,
        length,
        day: this.dayOf(typeof value.t === 'number' ? value.t : 0),
      });
  }
}
