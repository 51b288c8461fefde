/**
 * One BACnet device with everything around it, owned by a prepay-bacnet-device config node and fed by the
 * prepay-bacnet nodes that name it: the object model (restored from the user directory), the UDP server, the
 * three state files (instances soon after every change, values every few seconds, event states, acknowledgements
 * and BEMS-added alarm recipients soon after every change), the timers (local midnight, override expiry) and
 * the override outputs. Independent of Node-RED, so tests can run it on its own.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock';
import type { DeviceInfo } from '../core/bacnet/device-object';
import { edeObjects, edeStateTexts } from '../core/bacnet/ede';
import type { NotificationClassSettings } from '../core/bacnet/events';
import { readEventsSnapshot, type EventsSnapshot } from '../core/bacnet/event-state';
import { readRegistrySnapshot, type RegistrySnapshot } from '../core/bacnet/instances';
import {
  PointModel,
  readValuesSnapshot,
  type ModelChange,
  type ModelInput,
  type OverrideCommand,
  type PointSettings,
  type ValuesSnapshot,
} from '../core/bacnet/model';
import { StateFile } from '../shared/state-file';
import { BacnetDeviceServer, type DeviceServerOptions, type DeviceStats } from './device-server';

/** Point values are written at most this often (ms); they are a cache of what the messages say. */
const VALUES_SAVE_MS = 30_000;
/** Override writes from the BEMS, event transitions, acknowledgements and recipients reach the disk within this (ms). */
const OVERRIDE_SAVE_MS = 250;

export interface DeviceHostOptions {
  /** Where the state files go (the Node-RED user directory's prepay/ folder). */
  stateDir: string;
  device: DeviceInfo;
  server: DeviceServerOptions;
  overrides: boolean;
  overrideMinutes: number;
  maxObjects?: number;
  maxSubscriptions?: number;
  /** Priorities, acknowledgements and recipients of the alarm notifications. */
  notificationClass?: NotificationClassSettings;
  /** A BEMS may change the notification class's recipient list. */
  recipientWrites?: boolean;
  clock: Clock;
  /** How long value changes may wait before they are written (ms). */
  valuesDebounceMs?: number;
}

/** Receives the override commands of writes to override points (a prepay-bacnet node's output). */
export type OverrideSink = (commands: OverrideCommand[]) => void;

export type HostState = 'starting' | 'up' | 'failed' | 'stopped';

export class DeviceHost extends EventEmitter {
  readonly model: PointModel;
  readonly server: BacnetDeviceServer;
  state: HostState = 'starting';
  problem: string | undefined;
  /** Set when a state file could not be used (restored from its previous copy, or started empty). */
  readonly loadProblems: string[] = [];
  private readonly registryFile: StateFile<RegistrySnapshot>;
  private readonly valuesFile: StateFile<ValuesSnapshot>;
  private readonly eventsFile: StateFile<EventsSnapshot>;
  private readonly sinks = new Map<string, OverrideSink>();
  /** Which node last spoke about an account: its override commands go out of that node. */
  private readonly owners = new Map<string, string>();
  private midnightTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private lastChange: number;

  private readonly valuesDebounceMs: number;

  constructor(private readonly options: DeviceHostOptions) {
    super();
    this.valuesDebounceMs = options.valuesDebounceMs ?? VALUES_SAVE_MS;
    // Every prepay-bacnet node on the device listens for its state; a site may have many.
    this.setMaxListeners(0);
    this.registryFile = new StateFile(
      // Named by the device instance: the objects belong to the device, whichever config node describes it.
      join(options.stateDir, `bacnet-device-${options.device.instance}-instances.json`),
      readRegistrySnapshot,
      250,
    );
    this.valuesFile = new StateFile(
      join(options.stateDir, `bacnet-device-${options.device.instance}-values.json`),
      readValuesSnapshot,
      this.valuesDebounceMs,
    );
    this.eventsFile = new StateFile(
      join(options.stateDir, `bacnet-device-${options.device.instance}-events.json`),
      readEventsSnapshot,
      OVERRIDE_SAVE_MS,
    );
    for (const file of [this.registryFile, this.valuesFile, this.eventsFile])
      file.onWriteError = (error) => this.emit('warn', `cannot save BACnet state: ${error.message}`);
    const registry = this.registryFile.load();
    const values = this.valuesFile.load();
    const events = this.eventsFile.load();
    for (const loaded of [registry, values, events])
      if (loaded.problem) this.loadProblems.push(loaded.problem);
    const clock = options.clock;
    this.model = new PointModel(
      {
        device: options.device,
        overrides: options.overrides,
        overrideMinutes: options.overrideMinutes,
        maxObjects: options.maxObjects ?? 100_000,
        maxSubscriptions: options.maxSubscriptions ?? 20_000,
        ...(options.notificationClass ? { notificationClass: options.notificationClass } : {}),
        recipientWrites: options.recipientWrites === true,
      },
      () => clock.now(),
      registry.value,
      values.value,
      events.value,
    );
    this.lastChange = clock.now();
    this.server = new BacnetDeviceServer(this.model, options.server);
    this.server.on('write', (commands: OverrideCommand[], change: ModelChange) => {
      this.changed(change);
      this.deliver(commands);
      this.scheduleExpiry();
    });
    this.server.on('recipients', (by: string, text: string) => {
      this.saveEvents();
      this.emit('audit', `alarm recipients changed by ${by}: ${text}`);
    });
    this.server.on('acknowledged', () => this.saveEvents());
    // Restored event states may have made transitions (the device was down when they happened).
    this.saveEvents();
    // Restoring may have added or retired objects (overrides switched on or off); a new day may have begun.
    this.persist({ changed: [], added: this.model.pointsList(), removed: [] });
    this.persist(this.model.rollDay());
    this.scheduleMidnight();
    this.scheduleExpiry();
  }

  /** Binds the socket. A failure is kept in `problem` (shown on the nodes) rather than thrown. */
  async start(): Promise<void> {
    try {
      await this.server.start();
      this.state = 'up';
      this.problem = undefined;
    } catch (error) {
      this.state = 'failed';
      this.problem = `cannot bind ${this.options.server.address}:${this.options.server.port}: ${(error as Error).message}`;
    }
    this.emit('state', this.state);
  }

  async stop(): Promise<void> {
    if (this.midnightTimer) this.options.clock.clearTimeout(this.midnightTimer);
    if (this.expiryTimer) this.options.clock.clearTimeout(this.expiryTimer);
    this.flush();
    await this.server.stop();
    this.state = 'stopped';
  }

  /** Applies parsed inputs (all of one message) on behalf of node `nodeId`. */
  apply(inputs: readonly ModelInput[], settings: PointSettings, nodeId: string): ModelChange {
    for (const input of inputs) {
      const accountId = 'accountId' in input ? input.accountId : undefined;
      if (accountId) this.owners.set(accountId, nodeId);
    }
    const change: ModelChange = { changed: [], added: [], removed: [] };
    try {
      this.model.applyAll(inputs, settings, change);
    } finally {
      this.changed(change);
    }
    return change;
  }

  addOverrideSink(nodeId: string, sink: OverrideSink): void {
    this.sinks.set(nodeId, sink);
  }

  removeOverrideSink(nodeId: string): void {
    this.sinks.delete(nodeId);
  }

  stats(): DeviceStats & { address?: string; port?: number } {
    const bound = this.server.address();
    return { ...this.server.stats(), ...(bound ? { address: bound.address, port: bound.port } : {}) };
  }

  ede(file: 'objects' | 'state-texts'): string {
    if (file === 'state-texts') return edeStateTexts();
    return edeObjects(this.model, {
      projectName: this.options.device.name,
      author: 'node-red-contrib-prepay',
      timestamp: this.lastChange,
    });
  }

  flush(): void {
    try {
      this.registryFile.flush();
      this.valuesFile.flush();
      this.eventsFile.flush();
    } catch (error) {
      this.emit('warn', `cannot save BACnet state: ${(error as Error).message}`);
    }
  }

  private changed(change: ModelChange): void {
    this.persist(change);
    if (change.changed.length > 0 || change.events) this.server.notify(change.changed, change.events);
    if (change.added.length > 0 || change.removed.length > 0) {
      this.lastChange = this.options.clock.now();
      this.emit('objects', this.model.size);
    }
  }

  private persist(change: ModelChange): void {
    try {
      if (change.added.length > 0 || change.removed.length > 0)
        this.registryFile.save(() => this.model.registry.snapshot());
      if (change.changed.length > 0 || change.added.length > 0 || change.removed.length > 0)
        this.valuesFile.save(
          () => this.model.valuesSnapshot(),
          // An override's priority array goes to disk at once; other values are refreshed by the next
          // message anyway, so their write may wait (a site's 50,000 points are megabytes of JSON).
          // An event transition's values too: after a crash, the restored values and event states agree.
          change.changed.some((point) => point.priority) || change.events
            ? OVERRIDE_SAVE_MS
            : this.valuesDebounceMs,
        );
      // A retired object's record goes with it (its name may come back later as a new object).
      if (change.events || change.removed.length > 0) this.eventsFile.save(() => this.model.eventsSnapshot());
    } catch (error) {
      this.emit('warn', `cannot save BACnet state: ${(error as Error).message}`);
    }
  }

  private saveEvents(): void {
    try {
      this.eventsFile.save(() => this.model.eventsSnapshot());
    } catch (error) {
      this.emit('warn', `cannot save BACnet state: ${(error as Error).message}`);
    }
  }

  private deliver(commands: OverrideCommand[]): void {
    if (commands.length === 0) return;
    const byNode = new Map<string, OverrideCommand[]>();
    const fallback = this.sinks.keys().next().value as string | undefined;
    for (const command of commands) {
      const owner = this.owners.get(command.accountId);
      const nodeId = owner && this.sinks.has(owner) ? owner : fallback;
      if (!nodeId) {
        this.emit('warn', `override for ${command.meterId} not delivered: no prepay-bacnet node is running`);
        continue;
      }
      byNode.set(nodeId, [...(byNode.get(nodeId) ?? []), command]);
    }
    for (const [nodeId, list] of byNode) this.sinks.get(nodeId)?.(list);
  }

  private scheduleMidnight(): void {
    const clock = this.options.clock;
    const wait = Math.max(1000, this.model.nextMidnight() - clock.now());
    this.midnightTimer = clock.setTimeout(() => {
      this.changed(this.model.rollDay());
      this.scheduleMidnight();
    }, wait);
  }

  private scheduleExpiry(): void {
    const clock = this.options.clock;
    if (this.expiryTimer) clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const next = this.model.nextOverrideExpiry();
    if (next === undefined) return;
    this.expiryTimer = clock.setTimeout(
      () => {
        const { commands, change } = this.model.expireOverrides();
        this.changed(change);
        this.deliver(commands);
        this.scheduleExpiry();
      },
      Math.max(0, next - clock.now()),
    );
  }
}
