/**
 * The services the device leaves to @bacnet-js/client: Who-Has, WriteProperty, SubscribeCOV and
 * SubscribeCOVProperty (the library decodes them; its I-Have, SimpleACK and Error encoders answer), and
 * foreign-device registration with a BBMD, renewed at half its time to live. Each handler is guarded: a throw
 * is logged, never lost out of the socket.
 */
import type BACnetClient from '@bacnet-js/client';
import type { BACNetAddress } from '@bacnet-js/client';
import { ObjectType } from '../core/bacnet/constants';
import type { Subscription } from '../core/bacnet/cov';
import type { ModelChange, OverrideCommand, PointModel } from '../core/bacnet/model';
import { Point } from '../core/bacnet/points';
import { isPropertyError, type WriteValue } from '../core/bacnet/properties';
import type { CovNotifier } from './cov-notifier';
import { Bvlc, Service } from './pdu';
import { splitAddress } from './udp-transport';

/** What the services need from the device that runs them. */
export interface LibraryHost {
  readonly model: PointModel;
  readonly notifier: CovNotifier;
  readonly foreignDevice: { bbmd: string; ttlSeconds: number } | undefined;
  /** The port the device's local broadcasts go to (undefined when not bound). */
  broadcastPort(): number | undefined;
  /** COV notifications for points a write changed. */
  notify(points: readonly Point[]): void;
  written(commands: OverrideCommand[], change: ModelChange): void;
  subscriptionsChanged(count: number): void;
  /** Counts an Error answer. */
  answeredError(): void;
  log(level: 'debug' | 'warn', text: string): void;
}

export type Registration = 'pending' | 'registered' | 'failed';

interface LibraryContent {
  header?: { sender?: BACNetAddress; func?: number };
  invokeId?: number;
  service?: number;
}

interface LibraryWhoHas extends LibraryContent {
  payload: {
    lowLimit?: number;
    highLimit?: number;
    objectId?: { type: number; instance: number };
    objectName?: string;
  };
}

interface LibraryWrite extends LibraryContent {
  payload: {
    objectId: { type: number; instance: number };
    value: {
      property: { id: number; index: number };
      value: Array<{ type: number; value: unknown }>;
      priority: number;
    };
  };
}

interface LibrarySubscribe extends LibraryContent {
  payload: {
    subscriberProcessId: number;
    monitoredObjectId: { type: number; instance: number };
    /** Set by the library's decoder (not in its type declarations). */
    cancellationRequest?: boolean;
    issueConfirmedNotifications: boolean;
    lifetime: number;
    monitoredProperty?: { id: number; index: number };
    covIncrement?: number;
  };
}

const ARRAY_ALL = 0xffffffff;

/** Whether a Who-Is or Who-Has range (both limits or none) covers `instance`. */
export function inInstanceRange(
  instance: number,
  low: number | undefined,
  high: number | undefined,
): boolean {
  if (low === undefined || high === undefined) return true;
  return instance >= low && instance <= high;
}

export class LibraryServices {
  registration: Registration | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly client: BACnetClient,
    private readonly host: LibraryHost,
  ) {
    const guard =
      <T>(what: string, handler: (content: T) => void) =>
      (content: T): void => {
        try {
          handler(content);
        } catch (error) {
          host.log('warn', `${what}: ${(error as Error).message}`);
        }
      };
    client.on(
      'whoHas',
      guard('Who-Has', (c: LibraryWhoHas) => this.onWhoHas(c)),
    );
    client.on(
      'writeProperty',
      guard('WriteProperty', (c: LibraryWrite) => this.onWrite(c)),
    );
    client.on(
      'subscribeCov',
      guard('SubscribeCOV', (c: LibrarySubscribe) => this.onSubscribe(c, false)),
    );
    client.on(
      'subscribeProperty',
      guard('SubscribeCOVProperty', (c: LibrarySubscribe) => this.onSubscribe(c, true)),
    );
    if (host.foreignDevice) void this.registerForeignDevice();
  }

  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
  }

  /** Where a request's answer goes, as the library addresses it: directly, port included, via its router. */
  private receiverOf(content: LibraryContent): BACNetAddress {
    const sender = content.header?.sender ?? {};
    const receiver: BACNetAddress = { address: sender.forwardedFrom || sender.address || '' };
    if (sender.net !== undefined && sender.net > 0 && sender.adr) {
      receiver.net = sender.net;
      receiver.adr = sender.adr;
    }
    return receiver;
  }

  private broadcastReceiver(): BACNetAddress | undefined {
    const fd = this.host.foreignDevice;
    if (!fd) return undefined; // the transport's broadcast address, on the device's port
    const bbmd = splitAddress(fd.bbmd, 47808);
    return { address: `${bbmd.host}:${bbmd.port}`, distributeBroadcastToNetwork: true };
  }

  /**
   * Answers a Who-Has as Who-Is is answered: to the asker directly when it asked directly; else broadcast, and
   * also to the asker directly when that broadcast cannot reach it (another port, behind a router or a BBMD).
   */
  private answerTo(content: LibraryContent, send: (receiver?: BACNetAddress) => void): void {
    const receiver = this.receiverOf(content);
    const sender = content.header?.sender ?? {};
    if (content.header?.func === Bvlc.ORIGINAL_UNICAST_NPDU) {
      send(receiver);
      return;
    }
    send(this.broadcastReceiver());
    const asker = splitAddress(receiver.address as string, 47808);
    const reachable =
      !this.host.foreignDevice &&
      !sender.forwardedFrom &&
      receiver.net === undefined &&
      asker.port === this.host.broadcastPort();
    if (!reachable) send(receiver);
  }

  private onWhoHas(content: LibraryWhoHas): void {
    const { payload } = content;
    if (!inInstanceRange(this.host.model.device.instance, payload.lowLimit, payload.highLimit)) return;
    const object =
      payload.objectName !== undefined
        ? this.host.model.objectNamed(payload.objectName)
        : payload.objectId
          ? this.host.model.object(payload.objectId.type, payload.objectId.instance)
          : undefined;
    if (!object) return;
    const device = { type: ObjectType.DEVICE, instance: this.host.model.device.instance };
    this.answerTo(content, (receiver) =>
      this.client.iHaveResponse(
        receiver as BACNetAddress,
        device,
        { type: object.type, instance: object.instance },
        object.name,
      ),
    );
  }

  private onWrite(content: LibraryWrite): void {
    const receiver = this.receiverOf(content);
    const invokeId = content.invokeId ?? 0;
    const { objectId, value } = content.payload;
    const values = value.value;
    const first = values[0];
    let written: WriteValue;
    if (values.length !== 1 || !first) written = { t: 'other', tag: -1 };
    else if (first.type === 0) written = { t: 'null' };
    else if (first.type === 2 && typeof first.value === 'number') written = { t: 'unsigned', v: first.value };
    else written = { t: 'other', tag: first.type };
    const index = value.property.index === ARRAY_ALL ? undefined : value.property.index;
    const result = this.host.model.write(
      objectId.type,
      objectId.instance,
      value.property.id,
      index,
      written,
      value.priority,
      `bacnet:${receiver.address}`,
    );
    if (isPropertyError(result)) {
      this.host.answeredError();
      this.client.errorResponse(receiver, Service.WRITE_PROPERTY, invokeId, result.error[0], result.error[1]);
      return;
    }
    this.client.simpleAckResponse(receiver, Service.WRITE_PROPERTY, invokeId);
    this.host.notify(result.change.changed);
    this.host.written(result.commands, result.change);
  }

  private onSubscribe(content: LibrarySubscribe, property: boolean): void {
    const receiver = this.receiverOf(content);
    const invokeId = content.invokeId ?? 0;
    const service = property ? Service.SUBSCRIBE_COV_PROPERTY : Service.SUBSCRIBE_COV;
    const p = content.payload;
    const target = splitAddress(receiver.address as string, 47808);
    const object = this.host.model.object(p.monitoredObjectId.type, p.monitoredObjectId.instance);
    const monitored = p.monitoredProperty;
    const result = this.host.model.cov.subscribe(
      {
        recipient: {
          host: target.host,
          port: target.port,
          ...(receiver.net !== undefined && receiver.adr ? { net: receiver.net, adr: receiver.adr } : {}),
        },
        processId: p.subscriberProcessId,
        object: p.monitoredObjectId,
        ...(property && monitored
          ? {
              property:
                monitored.index === ARRAY_ALL
                  ? { id: monitored.id }
                  : { id: monitored.id, index: monitored.index },
            }
          : {}),
        cancel: p.cancellationRequest === true,
        confirmed: p.issueConfirmedNotifications,
        lifetime: p.lifetime,
        // The library reports an absent increment as 0.
        ...(property && p.covIncrement ? { covIncrement: p.covIncrement } : {}),
      },
      object,
      Date.now(),
    );
    if (result && 'error' in result) {
      this.host.answeredError();
      this.client.errorResponse(receiver, service, invokeId, result.error[0], result.error[1]);
      return;
    }
    this.client.simpleAckResponse(receiver, service, invokeId);
    this.host.subscriptionsChanged(this.host.model.cov.size);
    const subscription = result as Subscription | undefined;
    // A new or renewed subscription gets the current values at once (after its acknowledgement).
    if (subscription && object instanceof Point)
      setImmediate(() =>
        this.host.notifier.send(this.host.model.cov.notification(subscription, object, Date.now())),
      );
  }

  private async registerForeignDevice(): Promise<void> {
    const fd = this.host.foreignDevice;
    if (!fd || this.stopped) return;
    const bbmd = splitAddress(fd.bbmd, 47808);
    this.registration ??= 'pending';
    try {
      await this.client.registerForeignDevice({ address: `${bbmd.host}:${bbmd.port}` }, fd.ttlSeconds);
      this.registration = 'registered';
      this.host.log(
        'debug',
        `registered as a foreign device with ${bbmd.host}:${bbmd.port} for ${fd.ttlSeconds} s`,
      );
    } catch (error) {
      this.registration = 'failed';
      this.host.log(
        'warn',
        `foreign-device registration with ${bbmd.host}:${bbmd.port} failed: ${(error as Error).message}`,
      );
    }
    if (this.stopped) return;
    // Renew at half the time to live (the BBMD adds a 30 s grace period of its own).
    this.renewTimer = setTimeout(() => void this.registerForeignDevice(), (fd.ttlSeconds * 1000) / 2);
    this.renewTimer.unref?.();
  }
}
