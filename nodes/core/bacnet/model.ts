/**
 * The site as BACnet points. Messages from the ledger, the meter reader and the cutoff relay (already parsed
 * into `ModelInput`s) create points as accounts and meters appear and set their values; an operator's write to
 * an override point becomes override commands for the cutoff relay. Everything needed to bring the same points
 * back after a restart is in two snapshots: the instance registry (names and numbers, written soon after every
 * change) and the values (written every few seconds).
 */
import type { Utility } from '../messages';
import { toScaledRounded } from '../decimal';
import { extend, idRecord } from '../shapes';
import { TimeZone } from '../tariff/zone';
import { EngineeringUnits, ObjectType, PropertyId as P, Reliability } from './constants';
import { CovTable } from './cov';
import { DeviceObject } from './device-object';
import { DEFAULT_NOTIFICATION_CLASS, EventReporter, type EventNotice } from './events';
import { eventsSnapshot, restoreEvent, type EventsSnapshot } from './event-state';
import type { ListElement, ListOutcome, Recipient } from './recipients';
import { NetworkPortObject } from './network-port';
import { InstanceRegistry, type RegistrySnapshot } from './instances';
import { parsePointName, pointKey, pointName, type PointIdentity } from './names';
import {
  CREDIT_STATE_TEXTS,
  KIND_TYPE,
  OVERRIDE_AUTO,
  OVERRIDE_STATE_TEXTS,
  Point,
  type BacnetObject,
  type PointKind,
} from './points';
import {
  INVALID_DATA_TYPE,
  NOT_AN_ARRAY,
  UNKNOWN_OBJECT,
  UNKNOWN_PROPERTY,
  VALUE_OUT_OF_RANGE,
  WRITE_ACCESS_DENIED,
  type ObjectRef,
  type PropertyError,
  type WriteValue,
} from './properties';
import { OverrideSlots } from './overrides';
import { decimalToReal, minorToMajorReal } from './real';
import { engineeringUnits } from './units';
import {
  DEFAULT_POINT_SETTINGS,
  ModelInputError,
  type MeterInfo,
  type ModelChange,
  type ModelInput,
  type ModelOptions,
  type OverrideCommand,
  type PointSettings,
  type SavedPoint,
  type Today,
  type ValuesSnapshot,
} from './model-types';

export * from './model-types';

const RELAY_ALARMS = new Set(['relay-not-confirming', 'relay-fault']);
const DAY_MS = 86_400_000;

export class PointModel {
  readonly device: DeviceObject;
  readonly cov: CovTable;
  readonly registry: InstanceRegistry;
  /** Intrinsic reporting: the alarm points' event states and the notification class. */
  readonly events: EventReporter;
  /** The device's BACnet/IP port (its address is set when the socket is bound). */
  readonly networkPort: NetworkPortObject;
  private readonly points = new Map<string, Point>();
  /** Points by type, then instance (instances are dense: an array lookup, not a hash). */
  private readonly byType: Array<Array<Point | undefined> | undefined> = [];
  private readonly meters = new Map<string, MeterInfo>();
  /** Meter ids per account: alarms and supply are per account, and a site has thousands of meters. */
  private readonly byAccount = new Map<string, Set<string>>();
  private readonly currencies = new Map<string, string>();
  private readonly today = new Map<string, Today>();
  private readonly overrides: OverrideSlots;
  private list: ObjectRef[] | undefined;
  private readonly zone: TimeZone;
  private readonly startupEvents: EventNotice[] = [];

  constructor(
    private readonly options: ModelOptions,
    private readonly now: () => number,
    registry?: RegistrySnapshot,
    values?: ValuesSnapshot,
    events?: EventsSnapshot,
  ) {
    this.registry = new InstanceRegistry(registry);
    this.overrides = new OverrideSlots(options.overrideMinutes);
    this.cov = new CovTable(options.maxSubscriptions);
    this.zone = TimeZone.get(options.device.timeZone);
    this.events = new EventReporter(
      options.device.name,
      options.notificationClass ?? DEFAULT_NOTIFICATION_CLASS,
      this.zone,
      events?.recipients,
    );
    this.networkPort = new NetworkPortObject(options.device.name, options.device.maxApdu);
    this.device = new DeviceObject(options.device, {
      objectList: () => this.objectList(),
      databaseRevision: () => this.registry.databaseRevision,
      // Subscription lifetimes are protocol timers: they run on the wall clock, not building time.
      subscriptions: () => this.cov.views(Date.now()),
      now: this.now,
    });
    this.restore(registry, values, events);
  }

  // --- reading -------------------------------------------------------------------------------------------

  /** Objects served: the points, the device, its network port and its notification class. */
  get size(): number {
    return this.points.size + 3;
  }

  /** The object by identifier; device instance 4194303 is "this device" (ASHRAE 135 clause 15.5). */
  object(type: number, instance: number): BacnetObject | undefined {
    if (type === ObjectType.DEVICE)
      return instance === this.device.instance || instance === 4_194_303 ? this.device : undefined;
    if (type === ObjectType.NOTIFICATION_CLASS)
      return instance === this.events.nc.instance ? this.events.nc : undefined;
    if (type === ObjectType.NETWORK_PORT)
      return instance === this.networkPort.instance ? this.networkPort : undefined;
    return this.byType[type]?.[instance];
  }

  point(name: string): Point | undefined {
    return this.points.get(name);
  }

  pointsList(): Point[] {
    return [...this.points.values()];
  }

  /** Event-capable points in object-list order, after the object `after` when given (GetEventInformation). */
  eventPoints(after?: ObjectRef): Point[] {
    const out: Point[] = [];
    let skipping = after !== undefined;
    for (const ref of this.objectList()) {
      if (skipping) {
        if (ref.type === after?.type && ref.instance === after.instance) skipping = false;
        continue;
      }
      const point = this.byType[ref.type]?.[ref.instance];
      if (point?.event) out.push(point);
    }
    // An identifier no longer listed: start again from the beginning rather than answer nothing.
    return skipping ? this.eventPoints() : out;
  }

  /** The transitions of restored points (already in alarm or fault when the model came up), once. */
  takeStartupEvents(): EventNotice[] {
    return this.startupEvents.splice(0);
  }

  /** The notification class's recipients that hear `transition` now (valid days and times). */
  recipientsFor(transition: number): Recipient[] {
    return this.events.recipientsFor(transition, this.now());
  }

  /**
   * A BEMS's change to the notification class's Recipient_List (WriteProperty of the whole list,
   * AddListElement, RemoveListElement), refused with write-access-denied unless the device allows it.
   */
  changeRecipients(
    how: 'write' | 'add' | 'remove',
    elements: readonly ListElement[],
    by: string,
  ): ListOutcome {
    if (!this.options.recipientWrites) return { ok: false, error: WRITE_ACCESS_DENIED, element: 0 };
    const list = this.events.recipients;
    const at = this.now();
    if (how === 'write') return list.write(elements, by, at);
    if (how === 'add') return list.add(elements, by, at);
    return list.remove(elements);
  }

  /** Who-Has by name. */
  objectNamed(name: string): BacnetObject | undefined {
    if (name === this.events.nc.name) return this.events.nc;
    if (name === this.networkPort.name) return this.networkPort;
    return name === this.device.name ? this.device : this.points.get(name);
  }

  objectList(): readonly ObjectRef[] {
    if (!this.list) {
      this.list = [
        { type: ObjectType.DEVICE, instance: this.device.instance },
        { type: ObjectType.NETWORK_PORT, instance: this.networkPort.instance },
        { type: ObjectType.NOTIFICATION_CLASS, instance: this.events.nc.instance },
        ...[...this.points.values()].map((p) => ({ type: p.type, instance: p.instance })),
      ];
    }
    return this.list;
  }

  // --- messages ------------------------------------------------------------------------------------------

  apply(input: ModelInput, settings: PointSettings = DEFAULT_POINT_SETTINGS): ModelChange {
    return this.applyAll([input], settings);
  }

  /**
   * Applies the inputs of one message: the database revision moves once for all the objects they add. `change`
   * collects what changed, also what was done before an input failed.
   */
  applyAll(
    inputs: readonly ModelInput[],
    settings: PointSettings = DEFAULT_POINT_SETTINGS,
    change: ModelChange = { changed: [], added: [], removed: [] },
  ): ModelChange {
    try {
      for (const input of inputs) this.applyOne(input, settings, change);
    } finally {
      this.finish(change);
    }
    return change;
  }

  private applyOne(input: ModelInput, settings: PointSettings, change: ModelChange): void {
    switch (input.kind) {
      case 'account':
        this.applyAccount(input, settings, change);
        break;
      case 'consumption':
        this.learnMeter(input.meterId, input.accountId, input.utility, input.unit, change);
        this.meterGood(input.meterId, input.value, settings, change);
        if (input.accountId) this.addConsumption(input, settings, change);
        break;
      case 'reading':
        this.learnMeter(input.meterId, input.accountId, input.utility, input.unit, change);
        if (input.quality === 'good' && input.value !== undefined)
          this.meterGood(input.meterId, input.value, settings, change);
        else this.meterHealth(input.meterId, input.quality, true, undefined, change, settings);
        break;
      case 'meter-event':
        this.learnMeter(input.meterId, input.accountId, input.utility, undefined, change);
        this.applyMeterEvent(input, settings, change);
        break;
      case 'relay':
        this.learnMeter(input.meterId, input.accountId, input.utility, undefined, change);
        this.applyRelay(input, change);
        break;
      case 'cutoff-alarm':
        this.learnMeter(input.meterId, input.accountId, undefined, undefined, change);
        this.setAlarm(input.meterId, input.type, input.alarm ? input.text : undefined, change);
        break;
      case 'override-answer':
        this.learnMeter(input.meterId, input.accountId, undefined, undefined, change);
        this.applyOverrideAnswer(input, change);
        break;
      case 'retire':
        this.retire(input, change);
        break;
    }
  }

  /** Local midnight: every consumption-today point starts again from zero. */
  rollDay(): ModelChange {
    const change: ModelChange = { changed: [], added: [], removed: [] };
    const day = this.dayOf(this.now());
    for (const [key, today] of this.today) {
      if (today.day === day) continue;
      today.day = day;
      today.micro = 0n;
      const point = this.points.get(this.nameForKey('consumption-today', key));
      if (point) this.set(point, { value: 0 }, change);
    }
    this.finish(change);
    return change;
  }

  /** The next local midnight after now (when `rollDay` is due). */
  nextMidnight(): number {
    const now = this.now();
    const parts = this.zone.wallParts(now);
    const tomorrow = new Date(Date.UTC(parts.year, parts.month - 1, parts.day) + DAY_MS);
    return this.zone.wallToInstant(
      tomorrow.getUTCFullYear(),
      tomorrow.getUTCMonth() + 1,
      tomorrow.getUTCDate(),
    );
  }

  private applyAccount(
    input: Extract<ModelInput, { kind: 'account' }>,
    settings: PointSettings,
    change: ModelChange,
  ): void {
    const { accountId, currency } = input;
    this.currencies.set(accountId, currency);
    const balance = this.ensure({ kind: 'balance', accountId }, change);
    this.set(
      balance,
      {
        value: minorToMajorReal(input.balance, currency),
        description: `${accountId} balance in ${currency} (major units)`,
        units: EngineeringUnits.NO_UNITS,
        covIncrement: settings.money,
      },
      change,
    );
    const available = this.ensure({ kind: 'available', accountId }, change);
    this.set(
      available,
      {
        value: minorToMajorReal(input.available, currency),
        description: `${accountId} available credit in ${currency}, emergency credit included (major units)`,
        units: EngineeringUnits.NO_UNITS,
        covIncrement: settings.money,
      },
      change,
    );
    const state = this.ensure({ kind: 'credit-state', accountId }, change);
    this.set(
      state,
      {
        value: CREDIT_STATE_TEXTS.indexOf(input.state) + 1,
        description: `${accountId} credit state: ${CREDIT_STATE_TEXTS.join(', ')}`,
      },
      change,
    );
    const alarm = this.ensure({ kind: 'alarm', accountId }, change);
    this.set(alarm, { description: `${accountId} alarm on any of its meters or supplies` }, change);
    this.refreshAccountAlarm(accountId, change);
    const daysName = pointName({ kind: 'days-left', accountId });
    if (input.daysLeft !== undefined || this.points.has(daysName)) {
      const days = this.ensure({ kind: 'days-left', accountId }, change);
      this.set(
        days,
        input.daysLeft !== undefined
          ? {
              value: Math.fround(input.daysLeft),
              reliability: Reliability.NO_FAULT_DETECTED,
              description: `${accountId} days of credit left (forecast)`,
              units: EngineeringUnits.DAYS,
              covIncrement: settings.days,
            }
          : // The forecast no longer has an estimate (a silent account): the last one is not to be trusted.
            { reliability: Reliability.UNRELIABLE_OTHER },
        change,
      );
    }
  }

  private learnMeter(
    meterId: string,
    accountId: string | undefined,
    utility: Utility | undefined,
    unit: string | undefined,
    change: ModelChange,
  ): void {
    const info = this.meters.get(meterId) ?? {};
    const movedFrom = accountId !== undefined && info.accountId !== accountId ? info.accountId : undefined;
    if (accountId !== undefined && info.accountId !== accountId) {
      if (info.accountId) this.byAccount.get(info.accountId)?.delete(meterId);
      this.index(meterId, accountId);
      info.accountId = accountId;
    }
    if (utility !== undefined) info.utility = utility;
    if (unit !== undefined) info.unit = unit;
    this.meters.set(meterId, info);
    if (movedFrom) this.refreshAccountAlarm(movedFrom, change);
    if (this.options.overrides && info.accountId && info.utility) {
      this.ensure({ kind: 'override', accountId: info.accountId, utility: info.utility }, change);
    }
  }

  private meterGood(meterId: string, value: number, settings: PointSettings, change: ModelChange): void {
    this.meterHealth(meterId, 'good', false, value, change, settings);
  }

  /** Sets the register's value and health; a good value clears comm loss and a run of suspect values. */
  private meterHealth(
    meterId: string,
    quality: 'good' | 'suspect' | 'comm-loss',
    raised: boolean,
    value: number | undefined,
    change: ModelChange,
    settings: PointSettings,
  ): void {
    const info = this.meters.get(meterId) as MeterInfo;
    if (quality === 'good') {
      info.commLoss = false;
      info.suspect = false;
      this.setAlarm(meterId, 'comm-loss', undefined, change);
      this.setAlarm(meterId, 'suspect', undefined, change);
    } else if (quality === 'comm-loss') {
      info.commLoss = raised;
    } else {
      info.suspect = raised;
    }
    const register = this.ensure({ kind: 'register', meterId }, change);
    this.set(
      register,
      {
        // No leading spread: Node 20 gives each object that starts with one a shape of its own (see shapes.ts).
        reliability: info.commLoss
          ? Reliability.COMMUNICATION_FAILURE
          : info.suspect
            ? Reliability.UNRELIABLE_OTHER
            : Reliability.NO_FAULT_DETECTED,
        ...(value !== undefined ? { value: Math.fround(value) } : {}),
        covIncrement: settings.register,
        ...this.unitFields(info, `${meterId} ${info.utility ? `${info.utility} ` : ''}register`),
      },
      change,
    );
  }

  /** Units, and a description naming the unit (also when BACnet has no code for it). */
  private unitFields(info: MeterInfo, what: string, after = ''): { units?: number; description: string } {
    if (!info.unit) return { description: `${what}${after}` };
    const units = engineeringUnits(info.unit);
    return { units: units.code, description: `${what} in ${info.unit}${after}` };
  }

  private applyMeterEvent(
    input: Extract<ModelInput, { kind: 'meter-event' }>,
    settings: PointSettings,
    change: ModelChange,
  ): void {
    switch (input.type) {
      case 'comm-loss':
        this.setAlarm(input.meterId, 'comm-loss', input.text, change);
        this.meterHealth(input.meterId, 'comm-loss', true, undefined, change, settings);
        return;
      case 'comm-restored':
        this.setAlarm(input.meterId, 'comm-loss', undefined, change);
        this.meterHealth(input.meterId, 'comm-loss', false, undefined, change, settings);
        return;
      case 'suspect':
        if (input.alarm) this.setAlarm(input.meterId, 'suspect', input.text, change);
        this.meterHealth(input.meterId, 'suspect', true, undefined, change, settings);
        return;
      case 'rollover':
      case 'replaced':
      case 'rebaselined':
      case 'stale':
      case 'first-reading':
        return;
      default:
        // Another vendor's event: an alarm raised (true) or cleared (false) on the meter.
        this.setAlarm(input.meterId, input.type, input.alarm ? input.text : undefined, change);
    }
  }

  private addConsumption(
    input: Extract<ModelInput, { kind: 'consumption' }>,
    settings: PointSettings,
    change: ModelChange,
  ): void {
    const accountId = input.accountId as string;
    const key = `${accountId}|${input.utility}`;
    const point = this.ensure({ kind: 'consumption-today', accountId, utility: input.utility }, change);
    const today = this.today.get(key) ?? { day: this.dayOf(this.now()), micro: 0n, last: new Map() };
    this.today.set(key, today);
    const day = this.dayOf(input.to);
    if (day > today.day) {
      today.day = day;
      today.micro = 0n;
    }
    const last = today.last.get(input.meterId);
    if (day === today.day && (last === undefined || input.to > last)) {
      today.micro += toScaledRounded(input.delta, 6, 'half-even');
      today.last.set(input.meterId, input.to);
    }
    this.set(
      point,
      {
        value: decimalToReal(today.micro, 6),
        covIncrement: settings.consumption,
        ...this.unitFields(
          { unit: input.unit },
          `${accountId} ${input.utility} consumption today`,
          ` since local midnight (${this.options.device.timeZone})`,
        ),
      },
      change,
    );
  }

  private applyRelay(input: Extract<ModelInput, { kind: 'relay' }>, change: ModelChange): void {
    const info = this.meters.get(input.meterId) as MeterInfo;
    if (!info.accountId)
      throw new ModelInputError(
        'accountId',
        `is not known for meter "${input.meterId}": send its consumption or readings first, or include it`,
      );
    if (!info.utility)
      throw new ModelInputError('utility', `is not known for meter "${input.meterId}": include it`);
    info.relay = input.action;
    this.refreshSupply(info.accountId, info.utility, change);
  }

  private retire(input: Extract<ModelInput, { kind: 'retire' }>, change: ModelChange): void {
    for (const point of [...this.points.values()]) {
      const match =
        (input.accountId !== undefined && point.accountId === input.accountId) ||
        (input.meterId !== undefined && point.meterId === input.meterId);
      if (match) this.remove(point, change);
    }
    if (input.meterId !== undefined) {
      const accountId = this.meters.get(input.meterId)?.accountId;
      if (accountId) this.byAccount.get(accountId)?.delete(input.meterId);
      this.meters.delete(input.meterId);
    }
    if (input.accountId !== undefined) {
      this.currencies.delete(input.accountId);
      for (const key of [...this.today.keys()])
        if (key.startsWith(`${input.accountId}|`)) this.today.delete(key);
      for (const meterId of this.byAccount.get(input.accountId) ?? [])
        delete this.meters.get(meterId)?.accountId;
      this.byAccount.delete(input.accountId);
    }
  }

  // --- alarms and derived points ---------------------------------------------------------------------------

  private setAlarm(meterId: string, type: string, text: string | undefined, change: ModelChange): void {
    const info = this.meters.get(meterId);
    if (!info) return;
    const open = info.alarms?.[type];
    if (text === undefined && open === undefined) return;
    if (text !== undefined) info.alarms = extend(info.alarms ?? {}, { [type]: text });
    else if (info.alarms) {
      delete info.alarms[type];
      if (Object.keys(info.alarms).length === 0) delete info.alarms;
    }
    if (info.accountId) {
      this.refreshAccountAlarm(info.accountId, change);
      if (RELAY_ALARMS.has(type) && info.utility) this.refreshSupply(info.accountId, info.utility, change);
    }
  }

  private index(meterId: string, accountId: string): void {
    let set = this.byAccount.get(accountId);
    if (!set) {
      set = new Set();
      this.byAccount.set(accountId, set);
    }
    set.add(meterId);
  }

  private metersOf(accountId: string, utility?: Utility): Array<[string, MeterInfo]> {
    const out: Array<[string, MeterInfo]> = [];
    for (const meterId of this.byAccount.get(accountId) ?? []) {
      const info = this.meters.get(meterId);
      if (info && (utility === undefined || info.utility === utility)) out.push([meterId, info]);
    }
    return out;
  }

  private refreshAccountAlarm(accountId: string, change: ModelChange): void {
    const point = this.points.get(pointName({ kind: 'alarm', accountId }));
    if (!point) return;
    const active = this.metersOf(accountId).some(([, info]) => info.alarms !== undefined);
    this.set(point, { value: active ? 1 : 0 }, change);
  }

  private refreshSupply(accountId: string, utility: Utility, change: ModelChange): void {
    const meters = this.metersOf(accountId, utility);
    const commanded = meters.filter(([, info]) => info.relay !== undefined);
    const name = pointName({ kind: 'supply', accountId, utility });
    if (commanded.length === 0 && !this.points.has(name)) return;
    const point = this.ensure({ kind: 'supply', accountId, utility }, change);
    const faulty = meters.some(([, info]) => Object.keys(info.alarms ?? {}).some((t) => RELAY_ALARMS.has(t)));
    this.set(
      point,
      {
        // Supplied unless a relay of this account and utility is disconnected (limited power is supplied).
        value: commanded.some(([, info]) => info.relay === 'disconnect') ? 0 : 1,
        reliability: faulty ? Reliability.UNRELIABLE_OTHER : Reliability.NO_FAULT_DETECTED,
        description: `${accountId} ${utility} supply: active when supplied (${commanded.length} relay(s))`,
      },
      change,
    );
  }

  // --- operator overrides ----------------------------------------------------------------------------------

  /**
   * The cutoff's answer to an override a write led to. A write is acknowledged before the cutoff relay has
   * decided, so a refusal (no cutoff node drives the meter, the policy forbids it) shows on the override point
   * as a fault (Reliability unreliable-other, Status_Flags fault, the reason in its Description) until an
   * override of that point is applied or the point is back on auto. A refused "clear" on auto forced nothing.
   */
  private applyOverrideAnswer(
    input: Extract<ModelInput, { kind: 'override-answer' }>,
    change: ModelChange,
  ): void {
    const info = this.meters.get(input.meterId);
    if (!info?.accountId || !info.utility) return;
    const point = this.points.get(
      pointName({ kind: 'override', accountId: info.accountId, utility: info.utility }),
    );
    if (input.outcome === 'refused' && point?.value === OVERRIDE_AUTO) return;
    if (input.outcome === 'refused') info.overrideRefused = input.text;
    else delete info.overrideRefused;
    this.refreshOverride(info.accountId, info.utility, change);
  }

  private refreshOverride(accountId: string, utility: Utility, change: ModelChange): void {
    const point = this.points.get(pointName({ kind: 'override', accountId, utility }));
    if (!point) return;
    const refused = this.metersOf(accountId, utility).find(([, info]) => info.overrideRefused !== undefined);
    const description = this.overrideDescription(point);
    this.set(
      point,
      refused
        ? {
            reliability: Reliability.UNRELIABLE_OTHER,
            description: `${description}; the last write was refused for ${refused[0]}: ${refused[1].overrideRefused}`,
          }
        : { reliability: Reliability.NO_FAULT_DETECTED, description },
      change,
    );
  }

  /**
   * WriteProperty. Only an override point's present value is writable: a number (1 auto, 2 force on, 3 force
   * off) or NULL into a priority slot. Every other write is refused with write-access-denied.
   */
  write(
    type: number,
    instance: number,
    property: number,
    index: number | undefined,
    value: WriteValue,
    priority: number,
    by: string,
  ): { commands: OverrideCommand[]; change: ModelChange } | PropertyError {
    const object = this.object(type, instance);
    if (!object) return UNKNOWN_OBJECT;
    if (!object.propertyIds('all').includes(property)) return UNKNOWN_PROPERTY;
    if (!(object instanceof Point) || object.kind !== 'override' || property !== P.PRESENT_VALUE)
      return WRITE_ACCESS_DENIED;
    if (index !== undefined) return NOT_AN_ARRAY;
    if (value.t === 'other') return INVALID_DATA_TYPE;
    if (value.t === 'unsigned' && (value.v < 1 || value.v > OVERRIDE_STATE_TEXTS.length))
      return VALUE_OUT_OF_RANGE;
    if (!Number.isInteger(priority) || priority < 1 || priority > 16) return VALUE_OUT_OF_RANGE;
    const now = this.now();
    const slots = this.overrides.write(object, priority, value.t === 'null' ? null : value.v, now);
    const change: ModelChange = { changed: [], added: [], removed: [] };
    const before = object.value;
    this.set(object, { priority: slots }, change);
    // A write into the slot in control renews the override (a new expiry) even when the value is the same.
    const renewed = value.t !== 'null' && object.currentPriority() === priority;
    const commands = before !== object.value || renewed ? this.overrideCommands(object, by) : [];
    this.forgetRefusals(object, commands, change);
    this.finish(change);
    return { commands, change };
  }

  /** Relinquishes slots whose time is up, as the cutoff's own override expires; returns what that changes. */
  expireOverrides(): { commands: OverrideCommand[]; change: ModelChange } {
    const now = this.now();
    const change: ModelChange = { changed: [], added: [], removed: [] };
    const commands: OverrideCommand[] = [];
    for (const { point, slots } of this.overrides.expire(now, (name) => this.points.get(name))) {
      const before = point.value;
      this.set(point, { priority: slots }, change);
      if (point.value !== before) {
        const expired = this.overrideCommands(point, 'expiry');
        this.forgetRefusals(point, expired, change);
        commands.push(...expired);
      }
    }
    this.finish(change);
    return { commands, change };
  }

  /** The earliest moment an override slot expires, if any. */
  nextOverrideExpiry(): number | undefined {
    return this.overrides.next();
  }

  /** A new override asked for, or the point back on auto: earlier refusals no longer stand. */
  private forgetRefusals(point: Point, commands: OverrideCommand[], change: ModelChange): void {
    if (commands.length === 0) return;
    for (const { meterId } of commands) delete this.meters.get(meterId)?.overrideRefused;
    this.refreshOverride(point.accountId as string, point.utility as Utility, change);
  }

  private overrideCommands(point: Point, by: string): OverrideCommand[] {
    const meters = this.metersOf(point.accountId as string, point.utility as Utility).map(
      ([meterId]) => meterId,
    );
    return this.overrides.commands(point, meters, by, this.now());
  }

  // --- objects -----------------------------------------------------------------------------------------------

  private nameForKey(kind: PointKind, key: string): string {
    const [accountId, utility] = key.split('|') as [string, Utility | undefined];
    return pointName({ kind, accountId, ...(utility ? { utility } : {}) });
  }

  private describeOverride(point: Point): void {
    point.description = this.overrideDescription(point);
  }

  private overrideDescription(point: Point): string {
    return (
      `${point.accountId} ${point.utility} operator override: write 2 (force on) or 3 (force off), ` +
      `NULL relinquishes, a write lasts ${this.options.overrideMinutes} min`
    );
  }

  /** The point for `identity`, created (with a stable instance) when it does not exist yet. */
  private ensure(identity: PointIdentity, change: ModelChange): Point {
    const name = pointName(identity);
    const existing = this.points.get(name);
    if (existing) return existing;
    if (this.points.size + 1 >= this.options.maxObjects)
      throw new ModelInputError(
        'payload',
        `the device already has ${this.options.maxObjects} objects (its limit): retire some first`,
      );
    const point = this.create(identity, name);
    change.added.push(point);
    return point;
  }

  private create(identity: PointIdentity, name: string): Point {
    const type = KIND_TYPE[identity.kind];
    const instance = this.registry.allocate(name, type);
    const point = new Point({
      kind: identity.kind,
      instance,
      name,
      key: pointKey(identity),
      ...(identity.accountId !== undefined ? { accountId: identity.accountId } : {}),
      ...(identity.utility !== undefined ? { utility: identity.utility } : {}),
      ...(identity.meterId !== undefined ? { meterId: identity.meterId } : {}),
      description: name,
    });
    if (point.kind === 'override') this.describeOverride(point);
    this.events.attach(point);
    this.points.set(name, point);
    (this.byType[type] ??= [])[instance] = point;
    this.list = undefined;
    return point;
  }

  private remove(point: Point, change: ModelChange): void {
    this.points.delete(point.name);
    const ofType = this.byType[point.type];
    if (ofType) ofType[point.instance] = undefined;
    this.overrides.forget(point.name);
    this.registry.retire(point.name);
    this.cov.dropObject(point);
    this.list = undefined;
    change.removed.push(point);
  }

  private set(
    point: Point,
    fields: Partial<
      Pick<Point, 'value' | 'description' | 'units' | 'reliability' | 'covIncrement' | 'priority'>
    >,
    change: ModelChange,
  ): void {
    let changed = false;
    if (fields.value !== undefined && fields.value !== point.value) {
      point.value = fields.value;
      changed = true;
    }
    if (fields.description !== undefined && fields.description !== point.description) {
      point.description = fields.description;
      changed = true;
    }
    if (fields.units !== undefined && fields.units !== point.units) {
      point.units = fields.units;
      changed = true;
    }
    if (fields.reliability !== undefined && fields.reliability !== point.reliability) {
      point.reliability = fields.reliability;
      changed = true;
    }
    if (fields.covIncrement !== undefined && fields.covIncrement !== point.covIncrement) {
      point.covIncrement = fields.covIncrement;
      changed = true;
    }
    if (fields.priority !== undefined) {
      point.priority = fields.priority;
      const slot = point.currentPriority();
      point.value =
        slot === undefined ? (point.relinquishDefault as number) : (fields.priority[slot - 1] as number);
      changed = true;
    }
    if (changed) {
      point.version += 1;
      if (!change.changed.includes(point)) change.changed.push(point);
    }
  }

  private finish(change: ModelChange): void {
    if (change.added.length > 0 || change.removed.length > 0) {
      this.registry.bumpRevision();
      this.device.touch();
    }
    this.evaluateEvents(change);
  }

  /** The event transitions the changed and added points make, once all of a message is applied. */
  private evaluateEvents(change: ModelChange): void {
    const now = this.now();
    for (const list of [change.changed, change.added])
      for (const point of list) {
        if (!point.event || this.points.get(point.name) !== point) continue;
        const notice = this.events.evaluate(point, now);
        if (!notice) continue;
        (change.events ??= []).push(notice);
        if (!change.changed.includes(point)) change.changed.push(point);
      }
  }

  private dayOf(t: number): string {
    const parts = this.zone.wallParts(t);
    return `${parts.year}-${String(parts.month).padStart(2, '0')}-${String(parts.day).padStart(2, '0')}`;
  }

  // --- persistence -------------------------------------------------------------------------------------------

  valuesSnapshot(): ValuesSnapshot {
    const points: Record<string, SavedPoint> = {};
    for (const point of this.points.values()) {
      const saved: SavedPoint = {
        d: point.description,
        u: point.units,
        v: point.value,
        r: point.reliability,
        c: point.covIncrement,
      };
      if (point.priority) {
        saved.p = point.priority;
        saved.x = this.overrides.saved(point.name);
      }
      points[point.name] = saved;
    }
    return {
      version: 1,
      points,
      meters: Object.fromEntries(this.meters),
      currencies: Object.fromEntries(this.currencies),
      today: Object.fromEntries(
        [...this.today].map(([key, t]) => [
          key,
          { day: t.day, micro: t.micro.toString(), last: idRecord(t.last) },
        ]),
      ),
    };
  }

  /** Event states, acknowledgements and stamps, and the recipients a BEMS added (the events state file). */
  eventsSnapshot(): EventsSnapshot {
    return eventsSnapshot(this.points.values(), this.events.recipients.saved());
  }

  private restore(
    registry: RegistrySnapshot | undefined,
    values: ValuesSnapshot | undefined,
    events: EventsSnapshot | undefined,
  ): void {
    for (const [name, , , retired] of registry?.entries ?? []) {
      if (retired === 1) continue;
      const identity = parsePointName(name);
      if (!identity) continue;
      if (identity.kind === 'override' && !this.options.overrides) {
        // Overrides were switched off: their objects go (their numbers stay reserved for them).
        this.registry.retire(name);
        this.registry.bumpRevision();
        continue;
      }
      const point = this.create(identity, name);
      const saved = values?.points[name];
      if (saved) {
        point.description = saved.d;
        point.units = saved.u;
        point.value = saved.v;
        point.reliability = saved.r;
        point.covIncrement = saved.c;
        if (saved.p && point.priority) {
          point.priority = saved.p.slice(0, 16);
          this.overrides.restore(name, saved.x ?? []);
          const slot = point.currentPriority();
          point.value = slot === undefined ? OVERRIDE_AUTO : (point.priority[slot - 1] as number);
        }
      }
    }
    for (const [meterId, info] of Object.entries(values?.meters ?? {})) {
      this.meters.set(meterId, info);
      if (info.accountId) this.index(meterId, info.accountId);
    }
    for (const [accountId, currency] of Object.entries(values?.currencies ?? {}))
      this.currencies.set(accountId, currency);
    for (const [key, t] of Object.entries(values?.today ?? {}))
      this.today.set(key, { day: t.day, micro: BigInt(t.micro), last: new Map(Object.entries(t.last)) });
    if (this.options.overrides) {
      // Overrides switched on: every account and utility with a known meter gets its override point.
      const change: ModelChange = { changed: [], added: [], removed: [] };
      for (const info of this.meters.values())
        if (info.accountId && info.utility)
          this.ensure({ kind: 'override', accountId: info.accountId, utility: info.utility }, change);
      this.finish(change);
    }
    // The event records as they were; a point whose values now call for another state makes a transition,
    // notified as the device comes up (it happened while the device was down). Without a record (a new file, or
    // a point never in alarm) a point starts normal and acknowledged, so one in alarm now is notified too.
    for (const point of this.points.values()) restoreEvent(point, events?.points[point.name]);
    const now = this.now();
    for (const point of this.points.values()) {
      const notice = point.event ? this.events.evaluate(point, now) : undefined;
      if (notice) this.startupEvents.push(notice);
    }
  }
}
