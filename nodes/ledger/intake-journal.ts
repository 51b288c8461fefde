/**
 * The ledger node's intake journal: every posting the node accepts is on local disk, fsynced, before the
 * node takes responsibility for it, and stays there until the store has committed it (or refused it for
 * good). After a stop, a crash or a power cut, whatever was not settled is read back and posted again, in
 * order; the store's unique references make that exactly once.
 *
 * The file is a sequence of JSON lines: `{"q":seq,"t":receivedAt,"r":reference,"o":topic,"p":payload}` for an
 * accepted posting and `{"s":seq}` once it is settled. Accepted lines are fsynced before they are
 * acknowledged; settled marks are not (a lost mark only makes a replay that the store answers as a
 * duplicate). The file is preallocated ahead of its end (the reserve, zeros) and written in place, so that
 * when the disk fills up (the store then fails too, and postings wait) the journal can still take postings
 * into space it holds already. A reader stops at the first zero byte. Once nothing is pending the journal
 * starts again from the beginning of the file; stale lines past the new end are all settled ones, which a
 * reader skips.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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
}

export interface JournalOptions {
  /** Bytes kept allocated ahead of the journal's end. */
  reserveBytes?: number;
  /** The file is cut back to the reserve when it is empty and has grown past this. */
  shrinkAboveBytes?: number;
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
  private marks: number[] = [];
  private flushScheduled = false;
  private readonly reserveBytes: number;
  private readonly shrinkAboveBytes: number;
  /** Set when the reserve could not be extended (the disk is full): the status shows it. */
  growthProblem: string | undefined;

  constructor(
    readonly path: string,
    options: JournalOptions = {},
  ) {
    this.reserveBytes = options.reserveBytes ?? 16 << 20;
    this.shrinkAboveBytes = options.shrinkAboveBytes ?? 4 * this.reserveBytes;
    mkdirSync(dirname(path), { recursive: true });
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
    const record: Pending = { seq, reference, offset: -1, length: line.length };
    return new Promise<number>((resolve, reject) => {
      this.waiting.push({ line, record, resolve: () => resolve(seq), reject });
      this.scheduleFlush();
    });
  }

  /** The posting is committed, or refused for good: it need not be replayed. */
  settle(seq: number): void {
    const pending = this.pending.get(seq);
    if (!pending) return;
    this.pending.delete(seq);
    if (this.pendingReferences.get(pending.reference) === seq)
      this.pendingReferences.delete(pending.reference);
    this.marks.push(seq);
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
    for (const seq of marks) {
      const mark = Buffer.from(`{"s":${seq}}\n`, 'utf8');
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
    const settled = new Set<number>();
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
    for (const record of accepted) {
      this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      if (settled.has(record.seq)) continue;
      this.pending.set(record.seq, record);
      this.pendingReferences.set(record.reference, record.seq);
    }
    for (const seq of settled) this.nextSeq = Math.max(this.nextSeq, seq + 1);
  }

  private parseLine(
    line: Buffer,
    offset: number,
    length: number,
    accepted: Pending[],
    settled: Set<number>,
  ): void {
    let value: { q?: unknown; r?: unknown; s?: unknown };
    try {
      value = JSON.parse(line.toString('utf8')) as typeof value;
    } catch {
      return; // a stale fragment past an earlier restart of the journal
    }
    if (typeof value.s === 'number') settled.add(value.s);
    else if (typeof value.q === 'number' && typeof value.r === 'string')
      accepted.push({ seq: value.q, reference: value.r, offset, length });
  }
}
