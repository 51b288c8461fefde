/**
 * Segmented ComplexACKs (ASHRAE 135 clause 5.4.5, the server's SEGMENTED_RESPONSE state): a response larger than
 * the client's max APDU is cut into segments of that size and sent in windows. The first segment goes alone; the
 * client's SegmentACK says how many it takes per window; each ACK slides the window past the segment it names
 * (a client that ACKs early just moves the window sooner); a NAK or a silence resends from the first segment not
 * acknowledged, three times at most, then the transaction is aborted. An object-list of 10,000 entries is about
 * 34 segments of 1476 octets.
 */
import { Writer } from './codec';
import { AbortReason, beginFrame, finishFrame, peerKey, type Peer } from './pdu';

export interface SegmenterOptions {
  /** Window size proposed in each segment (1..127). */
  proposedWindowSize: number;
  /** Time to wait for a SegmentACK before resending (APDU_Segment_Timeout). */
  segmentTimeoutMs: number;
  retries: number;
  /** At most this many segmented responses in progress at once (more are aborted: out of resources). */
  maxTransactions: number;
  send(datagram: Buffer, peer: Peer): void;
}

interface Transaction {
  peer: Peer;
  key: string;
  invokeId: number;
  service: number;
  data: Buffer;
  segmentSize: number;
  count: number;
  /** Highest segment acknowledged in order (-1: none yet). */
  acked: number;
  /** Highest segment sent so far. */
  sent: number;
  window: number;
  retriesLeft: number;
  timer?: NodeJS.Timeout;
}

export interface SegmenterStats {
  responses: number;
  segments: number;
  resent: number;
  timedOut: number;
}

export class Segmenter {
  private readonly transactions = new Map<string, Transaction>();
  private readonly w = new Writer(1600);
  readonly counters: SegmenterStats = { responses: 0, segments: 0, resent: 0, timedOut: 0 };

  constructor(private readonly options: SegmenterOptions) {}

  /** True while a segmented answer to this request is being sent (a repeated request is then ignored). */
  busy(peer: Peer, invokeId: number): boolean {
    // Asked of every read: with nothing being segmented, no key is built.
    return this.transactions.size > 0 && this.transactions.has(`${peerKey(peer)}#${invokeId}`);
  }

  get active(): number {
    return this.transactions.size;
  }

  /**
   * Starts sending `data` (the service ACK data, without the APDU header) in segments that fit `maxApdu`.
   * Returns an abort reason when it cannot be sent segmented.
   */
  start(
    peer: Peer,
    invokeId: number,
    service: number,
    data: Buffer,
    maxApdu: number,
    maxSegments: number,
  ): number | undefined {
    const segmentSize = maxApdu - 5; // type, invoke id, sequence, window, service choice
    const count = Math.ceil(data.length / segmentSize);
    if (count > maxSegments || count > 256) return AbortReason.BUFFER_OVERFLOW;
    if (this.transactions.size >= this.options.maxTransactions) return AbortReason.OUT_OF_RESOURCES;
    const key = `${peerKey(peer)}#${invokeId}`;
    const transaction: Transaction = {
      peer,
      key,
      invokeId,
      service,
      data,
      segmentSize,
      count,
      acked: -1,
      sent: -1,
      window: 1,
      retriesLeft: this.options.retries,
    };
    this.transactions.set(key, transaction);
    this.counters.responses += 1;
    this.sendSegment(transaction, 0);
    transaction.sent = 0;
    this.arm(transaction);
    return undefined;
  }

  /** A SegmentACK from `peer` (octets of the APDU: type, invoke id, sequence, actual window). */
  segmentAck(peer: Peer, negative: boolean, invokeId: number, sequence: number, windowSize: number): void {
    const transaction = this.transactions.get(`${peerKey(peer)}#${invokeId}`);
    if (!transaction) return;
    // The ACK names a segment between the first unacknowledged and the last sent, modulo 256.
    const first = transaction.acked + 1;
    const offset = (sequence - (first & 0xff) + 256) & 0xff;
    const named = first + offset;
    const inWindow = named <= transaction.sent;
    if (!inWindow) {
      // A duplicate ACK for a segment acknowledged before: with a NAK, resend what follows it.
      if (negative) this.resend(transaction);
      return;
    }
    transaction.acked = named;
    transaction.window = Math.min(127, Math.max(1, windowSize || 1));
    transaction.retriesLeft = this.options.retries;
    if (transaction.acked >= transaction.count - 1) {
      this.finish(transaction);
      return;
    }
    if (negative) transaction.sent = transaction.acked;
    this.fill(transaction);
    this.arm(transaction);
  }

  /** Abandons everything (device stopping). */
  clear(): void {
    for (const transaction of this.transactions.values()) this.finish(transaction);
  }

  private fill(transaction: Transaction): void {
    const last = Math.min(transaction.count - 1, transaction.acked + transaction.window);
    for (let i = transaction.sent + 1; i <= last; i++) this.sendSegment(transaction, i);
    transaction.sent = Math.max(transaction.sent, last);
  }

  private resend(transaction: Transaction): void {
    transaction.sent = transaction.acked;
    this.counters.resent += 1;
    // Before the first ACK the window is the single first segment.
    if (transaction.acked < 0) {
      this.sendSegment(transaction, 0);
      transaction.sent = 0;
    } else this.fill(transaction);
    this.arm(transaction);
  }

  private arm(transaction: Transaction): void {
    if (transaction.timer) clearTimeout(transaction.timer);
    transaction.timer = setTimeout(() => {
      if (transaction.retriesLeft <= 0) {
        this.counters.timedOut += 1;
        this.abort(transaction);
        return;
      }
      transaction.retriesLeft -= 1;
      this.resend(transaction);
    }, this.options.segmentTimeoutMs);
    transaction.timer.unref?.();
  }

  private sendSegment(transaction: Transaction, index: number): void {
    const w = this.w;
    beginFrame(w, transaction.peer);
    const more = index < transaction.count - 1;
    w.u8(0x30 | 0x08 | (more ? 0x04 : 0)); // ComplexACK, segmented, more follows
    w.u8(transaction.invokeId);
    w.u8(index & 0xff);
    w.u8(this.options.proposedWindowSize);
    w.u8(transaction.service);
    const start = index * transaction.segmentSize;
    w.bytes(transaction.data, start, Math.min(transaction.data.length, start + transaction.segmentSize));
    this.counters.segments += 1;
    this.options.send(finishFrame(w), transaction.peer);
  }

  private abort(transaction: Transaction): void {
    const w = this.w;
    beginFrame(w, transaction.peer);
    w.u8(0x71); // Abort, sent by the server
    w.u8(transaction.invokeId);
    w.u8(AbortReason.TSM_TIMEOUT);
    this.options.send(finishFrame(w), transaction.peer);
    this.finish(transaction);
  }

  private finish(transaction: Transaction): void {
    if (transaction.timer) clearTimeout(transaction.timer);
    this.transactions.delete(transaction.key);
  }
}
