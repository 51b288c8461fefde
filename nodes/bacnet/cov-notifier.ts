/**
 * COV notifications on the wire: Unconfirmed- and ConfirmedCOVNotification (ASHRAE 135 clause 13.6/13.7) sent
 * to each subscriber directly (never broadcast), and the event notifications (event-service.ts) by the same path. A confirmed one waits for its SimpleACK and is sent again after
 * the APDU timeout, as many times as Number_Of_APDU_Retries says, then counted as failed; the subscription stays.
 */
import type { Notification } from '../core/bacnet/cov';
import { ObjectType } from '../core/bacnet/constants';
import { Writer } from './codec';
import { beginFrame, finishFrame, peerKey, Service, type Peer } from './pdu';

export interface NotifierOptions {
  deviceInstance: number;
  apduTimeoutMs: number;
  retries: number;
  send(datagram: Buffer, peer: Peer): void;
}

interface Pending {
  counters: NotifierStats;
  datagram: Buffer;
  peer: Peer;
  retriesLeft: number;
  timer: NodeJS.Timeout;
}

export interface NotifierStats {
  unconfirmed: number;
  confirmed: number;
  acknowledged: number;
  failed: number;
}

export class CovNotifier {
  private readonly w = new Writer(512);
  private readonly pending = new Map<string, Pending>();
  private nextInvokeId = 0;
  readonly counters: NotifierStats = { unconfirmed: 0, confirmed: 0, acknowledged: 0, failed: 0 };
  /** The event notifications' own figures. */
  readonly eventCounters: NotifierStats = { unconfirmed: 0, confirmed: 0, acknowledged: 0, failed: 0 };

  constructor(private readonly options: NotifierOptions) {}

  send(notification: Notification): void {
    const { subscription } = notification;
    const peer: Peer = {
      host: subscription.recipient.host,
      port: subscription.recipient.port,
      ...(subscription.recipient.net !== undefined && subscription.recipient.adr
        ? { station: { net: subscription.recipient.net, adr: subscription.recipient.adr } }
        : {}),
    };
    const confirmed = subscription.confirmed;
    this.request(
      peer,
      confirmed ? Service.CONFIRMED_COV_NOTIFICATION : Service.UNCONFIRMED_COV_NOTIFICATION,
      confirmed,
      (w) => {
        w.ctxUnsigned(0, subscription.processId);
        w.ctxOid(1, ObjectType.DEVICE, this.options.deviceInstance);
        w.ctxOid(2, subscription.object.type, subscription.object.instance);
        w.ctxUnsigned(3, notification.timeRemaining);
        w.opening(4);
        for (const item of notification.values) {
          w.ctxEnum(0, item.property);
          if (item.index !== undefined) w.ctxUnsigned(1, item.index);
          w.opening(2);
          w.value(item.value);
          w.closing(2);
        }
        w.closing(4);
      },
    );
  }

  /**
   * Sends one request whose service data `body` writes (also the event notifications): a confirmed one waits
   * for its answer and is sent again after the APDU timeout.
   */
  request(
    peer: Peer,
    service: number,
    confirmed: boolean,
    body: (w: Writer) => void,
    counters: NotifierStats = this.counters,
  ): void {
    const w = this.w;
    beginFrame(w, peer, confirmed);
    let invokeId = 0;
    if (confirmed) {
      invokeId = this.invokeIdFor(peer);
      w.u8(0x00); // confirmed request, unsegmented
      w.u8(0x05); // max segments unspecified, max APDU 1476
      w.u8(invokeId);
      w.u8(service);
    } else {
      w.u8(0x10);
      w.u8(service);
    }
    body(w);
    const datagram = finishFrame(w);
    this.options.send(datagram, peer);
    if (!confirmed) {
      counters.unconfirmed += 1;
      return;
    }
    counters.confirmed += 1;
    const key = `${peerKey(peer)}#${invokeId}`;
    const entry: Pending = {
      counters,
      datagram,
      peer,
      retriesLeft: this.options.retries,
      timer: this.timer(key),
    };
    this.pending.set(key, entry);
  }

  /** A SimpleACK (ok) or Error/Reject/Abort (not ok) answering one of our confirmed notifications. */
  answered(peer: Peer, invokeId: number, ok: boolean): boolean {
    const key = `${peerKey(peer)}#${invokeId}`;
    const entry = this.pending.get(key);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    if (ok) entry.counters.acknowledged += 1;
    else entry.counters.failed += 1;
    return true;
  }

  clear(): void {
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
  }

  private timer(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const entry = this.pending.get(key);
      if (!entry) return;
      if (entry.retriesLeft <= 0) {
        this.pending.delete(key);
        entry.counters.failed += 1;
        return;
      }
      entry.retriesLeft -= 1;
      this.options.send(entry.datagram, entry.peer);
      entry.timer = this.timer(key);
    }, this.options.apduTimeoutMs);
    timer.unref?.();
    return timer;
  }

  private invokeIdFor(peer: Peer): number {
    const prefix = `${peerKey(peer)}#`;
    for (let tries = 0; tries < 256; tries++) {
      const id = this.nextInvokeId;
      this.nextInvokeId = (this.nextInvokeId + 1) & 0xff;
      if (!this.pending.has(prefix + id)) return id;
    }
    return this.nextInvokeId; // 256 outstanding to one peer: reuse (the oldest will time out)
  }
}
