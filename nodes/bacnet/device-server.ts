/**
 * The BACnet/IP device: the object model served over UDP on @bacnet-js/client.
 *
 * Each datagram is routed first by our own bounded parser (pdu.ts). The hot path is ours: Who-Is/I-Am,
 * ReadProperty and ReadPropertyMultiple from cached encodings, segmented answers, COV notifications and their
 * acknowledgements, the alarm services (event notifications to the notification class's recipients,
 * AcknowledgeAlarm, GetEventInformation, GetAlarmSummary), the recipient list's WriteProperty, AddListElement and
 * RemoveListElement (list-service.ts), Reject and Abort for what we do not serve. Who-Has, other WriteProperty
 * requests, SubscribeCOV and SubscribeCOVProperty go to the library (library-services.ts), as does
 * foreign-device registration. Nothing the library does can throw out of the socket (udp-transport.ts).
 */
import BACnetClient from '@bacnet-js/client';
import { EventEmitter } from 'node:events';
import { ErrorClass, ErrorCode, ObjectType, PropertyId as P, Segmentation } from '../core/bacnet/constants';
import type { EventNotice } from '../core/bacnet/events';
import type { ModelChange, OverrideCommand, PointModel } from '../core/bacnet/model';
import type { Point } from '../core/bacnet/points';
import {
  UNKNOWN_OBJECT,
  UNKNOWN_PROPERTY,
  WRITE_ACCESS_DENIED,
  type PropertyError,
} from '../core/bacnet/properties';
import { describeRecipient } from '../core/bacnet/recipients';
import { DecodeError, Reader, RejectReason, Writer } from './codec';
import { CovNotifier } from './cov-notifier';
import {
  decodeAcknowledgeAlarm,
  decodeGetEventInformation,
  needsAttention,
  writeAckNotification,
  writeAlarmSummary,
  writeEventInformation,
  writeEventNotification,
} from './event-service';
import {
  AbortReason,
  beginFrame,
  Bvlc,
  finishFrame,
  finishFrameInPlace,
  parseConfirmed,
  parseDatagram,
  Pdu,
  Service,
  type ConfirmedHeader,
  type Datagram,
  type Peer,
} from './pdu';
import { decodeListRequest, writeChangeListError, writesRecipientList } from './list-service';
import { PropertyEncoder } from './read-service';
import { Segmenter } from './segmenter';
import { interfaceOf, splitAddress, UdpTransport, type Routing } from './udp-transport';
import { inInstanceRange, LibraryServices, type LibraryHost, type Registration } from './library-services';

export interface DeviceServerOptions {
  port: number;
  /** Local address to bind: "0.0.0.0" (all interfaces) or one interface's address. */
  address: string;
  /** "a.b.c.d[:port]"; default: the interface's broadcast address on the device's port. */
  broadcastAddress?: string;
  /** Register as a foreign device with this BBMD ("a.b.c.d[:port]") and renew every ttl/2 seconds. */
  foreignDevice?: { bbmd: string; ttlSeconds: number };
  proposedWindowSize?: number;
  maxSegmentedTransactions?: number;
  log?: (level: 'debug' | 'warn', text: string) => void;
}

export interface DeviceStats {
  received: number;
  /** Answered by our own code (reads, segments, COV acknowledgements, rejects). */
  handled: number;
  /** Handed to the library (Who-Has, writes, subscriptions, BVLC results). */
  library: number;
  /** Ignored by design (not for a device, or nothing to answer). */
  ignored: number;
  /** Could not be parsed or threw while handled: dropped with a debug log. */
  malformed: number;
  rejected: number;
  aborted: number;
  errors: number;
  segmentedResponses: number;
  segments: number;
  covNotifications: number;
  covFailures: number;
  /** Event notifications sent (each recipient counts), and confirmed ones never acknowledged. */
  eventNotifications: number;
  eventFailures: number;
  subscriptions: number;
  objects: number;
  /** Foreign-device registration with the BBMD, when one is configured. */
  registration?: Registration;
}

/** What the device's owner hears about. */
export interface DeviceServerEvents {
  /** A write to an override point changed points and asks the cutoff relay for these overrides. */
  write: (commands: OverrideCommand[], change: ModelChange) => void;
  /** The subscriptions changed (persisting is not needed; for status only). */
  subscriptions: (count: number) => void;
  /** A BEMS changed the notification class's recipient list (to persist, and to log: `text` says what). */
  recipients: (by: string, text: string) => void;
  /** A BEMS acknowledged a transition (to persist). */
  acknowledged: (point: Point) => void;
}

const MALFORMED_LOG_EVERY = 1000;

export class BacnetDeviceServer extends EventEmitter {
  private transport: UdpTransport | undefined;
  private client: BACnetClient | undefined;
  private readonly encoder: PropertyEncoder;
  private readonly segmenter: Segmenter;
  private readonly notifier: CovNotifier;
  private readonly w = new Writer(4096);
  private readonly counters = {
    received: 0,
    handled: 0,
    library: 0,
    ignored: 0,
    malformed: 0,
    rejected: 0,
    aborted: 0,
    errors: 0,
  };
  private services: LibraryServices | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly log: (level: 'debug' | 'warn', text: string) => void;

  constructor(
    private readonly model: PointModel,
    private readonly options: DeviceServerOptions,
  ) {
    super();
    this.log = options.log ?? (() => undefined);
    this.encoder = new PropertyEncoder((type, instance) => model.object(type, instance));
    const send = (datagram: Buffer, peer: Peer): void =>
      this.transport?.sendTo(datagram, peer.host, peer.port);
    const info = model.device.info;
    this.segmenter = new Segmenter({
      proposedWindowSize: options.proposedWindowSize ?? 16,
      segmentTimeoutMs: info.apduSegmentTimeoutMs,
      retries: info.apduRetries,
      maxTransactions: options.maxSegmentedTransactions ?? 64,
      send,
    });
    this.notifier = new CovNotifier({
      deviceInstance: info.instance,
      apduTimeoutMs: info.apduTimeoutMs,
      retries: info.apduRetries,
      send,
    });
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /** Binds the socket; resolves with the bound address, rejects when the port cannot be had. */
  start(): Promise<{ address: string; port: number }> {
    const transport = new UdpTransport({
      port: this.options.port,
      address: this.options.address,
      ...(this.options.broadcastAddress ? { broadcastAddress: this.options.broadcastAddress } : {}),
      route: (datagram, host, port) => this.route(datagram, host, port),
      onThrow: (error, datagram, from) => this.malformed(error, datagram, from),
    });
    this.transport = transport;
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => {
        // Not bound: nothing to stop later.
        this.transport = undefined;
        this.client = undefined;
        transport.close();
        reject(error);
      };
      transport.once('error', failed);
      transport.once('listening', (bound: { address: string; port: number }) => {
        transport.off('error', failed);
        const reached = interfaceOf(bound.address);
        const fd = this.options.foreignDevice;
        this.model.networkPort.bind({
          address: reached.address,
          port: bound.port,
          mask: reached.netmask,
          ...(fd ? { foreignDevice: { ...splitAddress(fd.bbmd, 47808), ttlSeconds: fd.ttlSeconds } } : {}),
        });
        transport.on('error', (error: Error) => this.log('warn', `socket: ${error.message}`));
        this.services = new LibraryServices(this.client as BACnetClient, this.libraryHost(transport));
        this.expiryTimer = setInterval(() => this.expireSubscriptions(), 1000);
        this.expiryTimer.unref?.();
        this.announce();
        // Restored points already in alarm or fault are reported as the device comes up.
        for (const notice of this.model.takeStartupEvents()) this.sendEvent(notice);
        resolve(bound);
      });
      // The library's constructor opens (binds) the transport; it re-emits socket errors, which must be heard.
      this.client = new BACnetClient({ transport, apduTimeout: this.model.device.info.apduTimeoutMs });
      this.client.on('error', (error: Error) => this.log('debug', `BACnet: ${error.message}`));
    });
  }

  async stop(): Promise<void> {
    this.services?.stop();
    this.services = undefined;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.segmenter.clear();
    this.notifier.clear();
    const transport = this.transport;
    this.transport = undefined;
    if (!transport) return;
    await new Promise<void>((resolve) => {
      transport.once('close', () => resolve());
      try {
        this.client?.close();
      } catch {
        transport.close();
      }
    });
    this.client = undefined;
  }

  address(): { address: string; port: number } | undefined {
    return this.transport?.address();
  }

  stats(): DeviceStats {
    return {
      ...this.counters,
      segmentedResponses: this.segmenter.counters.responses,
      segments: this.segmenter.counters.segments,
      covNotifications: this.notifier.counters.unconfirmed + this.notifier.counters.confirmed,
      covFailures: this.notifier.counters.failed,
      eventNotifications: this.notifier.eventCounters.unconfirmed + this.notifier.eventCounters.confirmed,
      eventFailures: this.notifier.eventCounters.failed,
      subscriptions: this.model.cov.size,
      objects: this.model.size,
      ...(this.services?.registration ? { registration: this.services.registration } : {}),
    };
  }

  /** Broadcasts an I-Am (on start, as devices do, and whenever the owner wants to be found). */
  announce(): void {
    this.sendIAm(undefined);
  }

  /** Sends the event notifications of a change's transitions, and the COV notifications its points call for. */
  notify(points: readonly Point[], events: readonly EventNotice[] = []): void {
    for (const notice of events) this.sendEvent(notice);
    const now = Date.now();
    for (const point of points)
      for (const notification of this.model.cov.changed(point, now)) this.notifier.send(notification);
  }

  private sendEvent(notice: EventNotice): void {
    const instance = this.model.device.instance;
    for (const recipient of this.model.recipientsFor(notice.transition)) {
      this.notifier.request(
        { host: recipient.host, port: recipient.port },
        recipient.confirmed ? Service.CONFIRMED_EVENT_NOTIFICATION : Service.UNCONFIRMED_EVENT_NOTIFICATION,
        recipient.confirmed,
        (w) => writeEventNotification(w, notice, recipient.processId, instance),
        this.notifier.eventCounters,
      );
    }
  }

  // --- routing -----------------------------------------------------------------------------------------------

  private route(datagram: Buffer, host: string, port: number): Routing {
    this.counters.received += 1;
    const parsed = parseDatagram(datagram);
    if (!parsed) {
      // BVLC-Result answers our foreign-device registration; the library matches it to the request.
      if (datagram.length === 6 && datagram[0] === 0x81 && datagram[1] === Bvlc.RESULT)
        return this.toLibrary();
      if (datagram[0] !== 0x81 || datagram.length < 4 || datagram.readUInt16BE(2) !== datagram.length) {
        this.malformed(new Error('not a BACnet/IP datagram'), datagram, `${host}:${port}`);
        return 'drop';
      }
      this.counters.ignored += 1;
      return 'drop';
    }
    let peer: Peer;
    if (parsed.forwardedFrom || parsed.source) {
      const origin = parsed.forwardedFrom ? splitAddress(parsed.forwardedFrom, 47808) : { host, port };
      peer = parsed.source
        ? { host: origin.host, port: origin.port, station: parsed.source }
        : { host: origin.host, port: origin.port };
    } else peer = { host, port };
    const apdu = parsed.apdu;
    switch (parsed.pduType) {
      case Pdu.CONFIRMED_REQUEST:
        return this.confirmed(datagram, apdu, peer, host, port);
      case Pdu.UNCONFIRMED_REQUEST: {
        const service = datagram[apdu + 1];
        if (service === Service.WHO_IS) return this.whoIs(datagram, parsed, peer);
        if (service === Service.WHO_HAS) return this.toLibrary();
        this.counters.ignored += 1;
        return 'drop';
      }
      case Pdu.SIMPLE_ACK:
      case Pdu.ERROR:
      case Pdu.REJECT:
      case Pdu.ABORT: {
        const invokeId = datagram[apdu + 1];
        if (invokeId === undefined) return this.drop();
        const service = datagram[apdu + 2];
        const ok =
          parsed.pduType === Pdu.SIMPLE_ACK &&
          (service === Service.CONFIRMED_COV_NOTIFICATION ||
            service === Service.CONFIRMED_EVENT_NOTIFICATION);
        if (this.notifier.answered(peer, invokeId, ok)) this.counters.handled += 1;
        else this.counters.ignored += 1;
        return 'drop';
      }
      case Pdu.SEGMENT_ACK: {
        if (apdu + 4 > datagram.length) return this.drop();
        const first = datagram[apdu] as number;
        this.segmenter.segmentAck(
          peer,
          (first & 0x02) !== 0,
          datagram[apdu + 1] as number,
          datagram[apdu + 2] as number,
          datagram[apdu + 3] as number,
        );
        this.counters.handled += 1;
        return 'drop';
      }
      default:
        // ComplexACKs (we send no requests that take one) and reserved types.
        this.counters.ignored += 1;
        return 'drop';
    }
  }

  // --- Who-Is, I-Am ------------------------------------------------------------------------------------------

  /**
   * Who-Is, answered here rather than by the library (discovery is latency-sensitive, and a BEMS repeats it):
   * to the asker directly when it asked directly; else broadcast as usual, and also to the asker directly when
   * that broadcast cannot reach it (another port, behind a router, through a BBMD).
   */
  private whoIs(datagram: Buffer, parsed: Datagram, peer: Peer): Routing {
    let low: number | undefined;
    let high: number | undefined;
    const reader = new Reader(datagram, parsed.apdu + 2, datagram.length);
    if (reader.remaining > 0) {
      try {
        low = reader.contextUnsigned(0);
        high = reader.contextUnsigned(1);
      } catch (error) {
        this.malformed(error, datagram, `${peer.host}:${peer.port}`);
        return 'drop';
      }
      if (reader.remaining > 0 || low > 4_194_303 || high > 4_194_303) {
        this.malformed(new Error('Who-Is with bad limits'), datagram, `${peer.host}:${peer.port}`);
        return 'drop';
      }
    }
    this.counters.handled += 1;
    if (!inInstanceRange(this.model.device.instance, low, high)) return 'drop';
    if (parsed.bvlcFunction === Bvlc.ORIGINAL_UNICAST_NPDU) {
      this.sendIAm(peer);
      return 'drop';
    }
    this.sendIAm(undefined);
    const reachable =
      !this.options.foreignDevice &&
      !parsed.forwardedFrom &&
      !peer.station &&
      peer.port === this.transport?.broadcastTarget().port;
    if (!reachable) this.sendIAm(peer);
    return 'drop';
  }

  /** An I-Am to `peer`, or broadcast (through the BBMD as a foreign device). */
  private sendIAm(peer: Peer | undefined): void {
    const transport = this.transport;
    if (!transport) return;
    const fd = this.options.foreignDevice;
    const w = this.w;
    beginFrame(
      w,
      peer,
      false,
      peer
        ? Bvlc.ORIGINAL_UNICAST_NPDU
        : fd
          ? Bvlc.DISTRIBUTE_BROADCAST_TO_NETWORK
          : Bvlc.ORIGINAL_BROADCAST_NPDU,
    );
    const info = this.model.device.info;
    w.u8(0x10);
    w.u8(Service.I_AM);
    w.appOid(ObjectType.DEVICE, info.instance);
    w.appUnsigned(info.maxApdu);
    w.appEnum(Segmentation.SEGMENTED_TRANSMIT);
    w.appUnsigned(info.vendorIdentifier);
    const target = peer ?? (fd ? splitAddress(fd.bbmd, 47808) : transport.broadcastTarget());
    transport.sendTo(finishFrame(w), target.host, target.port);
  }

  private toLibrary(): Routing {
    this.counters.library += 1;
    return 'library';
  }

  private drop(): Routing {
    this.counters.ignored += 1;
    return 'drop';
  }

  private confirmed(datagram: Buffer, apdu: number, peer: Peer, host: string, port: number): Routing {
    const header = parseConfirmed(datagram, apdu);
    if (!header) {
      this.malformed(new Error('truncated confirmed request'), datagram, `${host}:${port}`);
      return 'drop';
    }
    if (header.segmented) {
      // Requests to this device are small; a segmented one is refused rather than buffered.
      this.abort(peer, header.invokeId, AbortReason.SEGMENTATION_NOT_SUPPORTED);
      return 'drop';
    }
    switch (header.service) {
      case Service.READ_PROPERTY:
      case Service.READ_PROPERTY_MULTIPLE:
        if (this.segmenter.busy(peer, header.invokeId)) return this.drop(); // a retry while we still answer
        this.read(datagram, header, peer);
        this.counters.handled += 1;
        return 'drop';
      case Service.GET_EVENT_INFORMATION:
      case Service.GET_ALARM_SUMMARY:
        if (this.segmenter.busy(peer, header.invokeId)) return this.drop();
        this.complexAck(datagram, header, peer);
        this.counters.handled += 1;
        return 'drop';
      case Service.ACKNOWLEDGE_ALARM:
        this.acknowledgeAlarm(datagram, header, peer);
        this.counters.handled += 1;
        return 'drop';
      case Service.WRITE_PROPERTY:
        if (!writesRecipientList(datagram, header.body, datagram.length)) return this.toLibrary();
        this.changeList(datagram, header, peer);
        this.counters.handled += 1;
        return 'drop';
      case Service.ADD_LIST_ELEMENT:
      case Service.REMOVE_LIST_ELEMENT:
        this.changeList(datagram, header, peer);
        this.counters.handled += 1;
        return 'drop';
      case Service.SUBSCRIBE_COV:
      case Service.SUBSCRIBE_COV_PROPERTY:
        return this.toLibrary();
      default:
        this.reject(peer, header.invokeId, RejectReason.UNRECOGNIZED_SERVICE);
        return 'drop';
    }
  }

  // --- ReadProperty, ReadPropertyMultiple -----------------------------------------------------------------

  private read(datagram: Buffer, header: ConfirmedHeader, peer: Peer): void {
    this.complexAck(datagram, header, peer);
  }

  /** A ComplexACK: reads and the alarm summaries, segmented when larger than the client takes. */
  private complexAck(datagram: Buffer, header: ConfirmedHeader, peer: Peer): void {
    const w = this.w;
    let error: PropertyError | undefined;
    // The service data goes first into the writer after a frame header that is rewritten when segmenting.
    beginFrame(w, peer);
    const apduStart = w.pos;
    w.u8(0x30);
    w.u8(header.invokeId);
    w.u8(header.service);
    const dataStart = w.pos;
    try {
      if (header.service === Service.READ_PROPERTY) {
        error = this.encoder.readPropertyAckFrom(w, datagram, header.body, datagram.length);
      } else if (header.service === Service.GET_EVENT_INFORMATION) {
        const after = decodeGetEventInformation(datagram, header.body, datagram.length);
        // One answer fits the client's APDU: the client asks again after the last object it got.
        const budget = Math.min(header.maxApdu, this.model.device.info.maxApdu) - 16;
        writeEventInformation(
          w,
          this.model.eventPoints(after).filter(needsAttention),
          this.model.events.nc.settings.priority,
          budget,
        );
      } else if (header.service === Service.GET_ALARM_SUMMARY) {
        writeAlarmSummary(w, this.model.eventPoints());
      } else {
        this.encoder.readPropertyMultipleAckFrom(w, datagram, header.body, datagram.length);
      }
    } catch (caught) {
      if (caught instanceof DecodeError) {
        this.reject(peer, header.invokeId, caught.reason);
        return;
      }
      throw caught;
    }
    if (error) {
      this.error(peer, header.invokeId, header.service, error);
      return;
    }
    const apduLength = w.pos - apduStart;
    const limit = Math.min(header.maxApdu, this.model.device.info.maxApdu);
    if (apduLength <= limit) {
      // The answer goes out of the writer's own octets, not a copy: a poll's answer is hundreds of octets, and
      // a copy per answer (and a new pool of them every few answers) is a measurable part of a read.
      const transport = this.transport;
      if (transport && !transport.sendFrom(finishFrameInPlace(w), peer.host, peer.port)) w.detach();
      return;
    }
    if (!header.segmentedResponseAccepted) {
      this.abort(peer, header.invokeId, AbortReason.SEGMENTATION_NOT_SUPPORTED);
      return;
    }
    const reason = this.segmenter.start(
      peer,
      header.invokeId,
      header.service,
      Buffer.from(w.buf.subarray(dataStart, w.pos)),
      limit,
      header.maxSegments,
    );
    if (reason !== undefined) this.abort(peer, header.invokeId, reason);
  }

  // --- AcknowledgeAlarm ---------------------------------------------------------------------------------------

  private acknowledgeAlarm(datagram: Buffer, header: ConfirmedHeader, peer: Peer): void {
    let request;
    try {
      request = decodeAcknowledgeAlarm(datagram, header.body, datagram.length);
    } catch (caught) {
      if (caught instanceof DecodeError) {
        this.reject(peer, header.invokeId, caught.reason);
        return;
      }
      throw caught;
    }
    const object = this.model.object(request.object.type, request.object.instance);
    const point = object && 'kind' in object ? (object as Point) : undefined;
    const outcome = this.model.events.acknowledge(object ? point : undefined, request.state, request.stamp);
    if (outcome !== 'acknowledged') {
      const error: PropertyError =
        outcome === 'unknown-object'
          ? { error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT] }
          : outcome === 'invalid-time-stamp'
            ? { error: [ErrorClass.SERVICES, ErrorCode.INVALID_TIMESTAMP] }
            : { error: [ErrorClass.SERVICES, ErrorCode.SERVICE_REQUEST_DENIED] };
      this.error(peer, header.invokeId, header.service, error);
      return;
    }
    const w = this.w;
    beginFrame(w, peer);
    w.u8(0x20);
    w.u8(header.invokeId);
    w.u8(header.service);
    this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
    // The recipients learn of the acknowledgement (an ack-notification), as they learnt of the transition.
    if (!point) return;
    this.emit('acknowledged', point);
    this.notify([point]); // Acked_Transitions is a COV-visible change of the object
    const transition = request.state === 0 ? 2 : request.state === 1 ? 1 : 0;
    const stamp = point.event?.stamps[transition];
    if (!stamp) return;
    const settings = this.model.events.nc.settings;
    const instance = this.model.device.instance;
    for (const recipient of this.model.recipientsFor(transition)) {
      this.notifier.request(
        { host: recipient.host, port: recipient.port },
        recipient.confirmed ? Service.CONFIRMED_EVENT_NOTIFICATION : Service.UNCONFIRMED_EVENT_NOTIFICATION,
        recipient.confirmed,
        (ack) =>
          writeAckNotification(
            ack,
            point,
            request.state,
            stamp,
            settings.priority[transition] as number,
            this.model.events.nc.instance,
            recipient.processId,
            instance,
          ),
        this.notifier.eventCounters,
      );
    }
  }

  // --- the notification class's recipient list: WriteProperty, AddListElement, RemoveListElement --------------

  private changeList(datagram: Buffer, header: ConfirmedHeader, peer: Peer): void {
    const write = header.service === Service.WRITE_PROPERTY;
    let request;
    try {
      request = decodeListRequest(datagram, header.body, datagram.length, write);
    } catch (caught) {
      if (caught instanceof DecodeError) {
        this.reject(peer, header.invokeId, caught.reason);
        return;
      }
      throw caught;
    }
    const refuse = (error: PropertyError, element = 0): void => {
      if (write) {
        this.error(peer, header.invokeId, header.service, error);
        return;
      }
      const w = this.w;
      beginFrame(w, peer);
      w.u8(0x50);
      w.u8(header.invokeId);
      w.u8(header.service);
      writeChangeListError(w, error, element);
      this.counters.errors += 1;
      this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
    };
    const object = this.model.object(request.object.type, request.object.instance);
    if (!object) return refuse(UNKNOWN_OBJECT);
    if (!object.propertyIds('all').includes(request.property)) return refuse(UNKNOWN_PROPERTY);
    if (object !== this.model.events.nc || request.property !== P.RECIPIENT_LIST)
      return refuse(WRITE_ACCESS_DENIED);
    if (request.index !== undefined)
      return refuse({ error: [ErrorClass.PROPERTY, ErrorCode.PROPERTY_IS_NOT_AN_ARRAY] });
    const by = `bacnet:${peer.host}:${peer.port}`;
    const how = write ? 'write' : header.service === Service.ADD_LIST_ELEMENT ? 'add' : 'remove';
    const outcome = this.model.changeRecipients(how, request.elements, by);
    if (!outcome.ok) {
      this.log('debug', `alarm recipient list: ${how} by ${by} refused (${outcome.error.error.join('/')})`);
      return refuse(outcome.error, outcome.element);
    }
    const w = this.w;
    beginFrame(w, peer);
    w.u8(0x20);
    w.u8(header.invokeId);
    w.u8(header.service);
    this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
    if (outcome.added.length === 0 && outcome.removed.length === 0) return;
    const parts = [
      ...outcome.added.map((r) => `added ${describeRecipient(r)}`),
      ...outcome.removed.map((r) => `removed ${describeRecipient(r)}`),
    ];
    this.emit(
      'recipients',
      by,
      `${parts.join('; ')} (${this.model.events.recipients.all().length} recipients now)`,
    );
  }

  private error(peer: Peer, invokeId: number, service: number, error: PropertyError): void {
    const w = this.w;
    beginFrame(w, peer);
    w.u8(0x50);
    w.u8(invokeId);
    w.u8(service);
    w.appEnum(error.error[0]);
    w.appEnum(error.error[1]);
    this.counters.errors += 1;
    this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
  }

  private reject(peer: Peer, invokeId: number, reason: number): void {
    const w = this.w;
    beginFrame(w, peer);
    w.u8(0x60);
    w.u8(invokeId);
    w.u8(reason);
    this.counters.rejected += 1;
    this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
  }

  private abort(peer: Peer, invokeId: number, reason: number): void {
    const w = this.w;
    beginFrame(w, peer);
    w.u8(0x71); // Abort from the server
    w.u8(invokeId);
    w.u8(reason);
    this.counters.aborted += 1;
    this.transport?.sendTo(finishFrame(w), peer.host, peer.port);
  }

  private libraryHost(transport: UdpTransport): LibraryHost {
    return {
      model: this.model,
      notifier: this.notifier,
      foreignDevice: this.options.foreignDevice,
      broadcastPort: () => transport.broadcastTarget().port,
      notify: (points) => this.notify(points),
      written: (commands, change) => this.emit('write', commands, change),
      subscriptionsChanged: (count) => this.emit('subscriptions', count),
      answeredError: () => (this.counters.errors += 1),
      log: this.log,
    };
  }

  private expireSubscriptions(): void {
    if (this.model.cov.expire(Date.now()) > 0) this.emit('subscriptions', this.model.cov.size);
  }

  private malformed(error: unknown, datagram: Buffer, from: string): void {
    this.counters.malformed += 1;
    if (this.counters.malformed <= 10 || this.counters.malformed % MALFORMED_LOG_EVERY === 0)
      this.log(
        'debug',
        `dropped a malformed datagram from ${from} (${datagram.length} octets, ${this.counters.malformed} so far): ${(error as Error).message ?? String(error)}`,
      );
  }
}
