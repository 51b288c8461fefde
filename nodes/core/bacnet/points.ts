/**
 * The points a prepay site exposes, one BACnet object each: what type each kind of point is, which properties
 * it carries (the ones ASHRAE 135 requires for its type, and the optional ones we fill), and how each property
 * reads. A point's fields are changed only by the model, which bumps `version` so encoders can cache.
 */
import { EventState, ObjectType, PropertyId as P, Reliability } from './constants';
import { eventPropertyIds, readEventProperty, type EventRecord } from './events';
import { arrayRead, NOT_AN_ARRAY, UNKNOWN_PROPERTY, type PropertyValue, type ReadResult } from './properties';

export type PointKind =
  | 'balance'
  | 'available'
  | 'credit-state'
  | 'days-left'
  | 'alarm'
  | 'consumption-today'
  | 'supply'
  | 'override'
  | 'register';

export const POINT_KINDS: readonly PointKind[] = [
  'balance',
  'available',
  'credit-state',
  'days-left',
  'alarm',
  'consumption-today',
  'supply',
  'override',
  'register',
];

export const KIND_TYPE: Readonly<Record<PointKind, number>> = {
  balance: ObjectType.ANALOG_VALUE,
  available: ObjectType.ANALOG_VALUE,
  'credit-state': ObjectType.MULTI_STATE_VALUE,
  'days-left': ObjectType.ANALOG_VALUE,
  alarm: ObjectType.BINARY_VALUE,
  'consumption-today': ObjectType.ANALOG_VALUE,
  supply: ObjectType.BINARY_VALUE,
  override: ObjectType.MULTI_STATE_VALUE,
  register: ObjectType.ANALOG_INPUT,
};

/** Credit-state present values 1..5 (a multi-state value counts from 1). */
export const CREDIT_STATE_TEXTS: readonly string[] = ['ok', 'low', 'emergency', 'exhausted', 'closed'];
/** Override present values: 1 auto (relinquish default: the policy decides), 2 force on, 3 force off. */
export const OVERRIDE_STATE_TEXTS: readonly string[] = ['auto', 'force on', 'force off'];
export const OVERRIDE_AUTO = 1;
export const OVERRIDE_FORCE_ON = 2;
export const OVERRIDE_FORCE_OFF = 3;

/** What every object the device serves can do: the device object and the points. */
export interface BacnetObject {
  readonly type: number;
  readonly instance: number;
  readonly name: string;
  /** Changes whenever any property may read differently (except volatile ones). */
  readonly version: number;
  propertyIds(which: 'all' | 'required' | 'optional'): readonly number[];
  read(property: number, index?: number): ReadResult;
  /** True for properties that change without the version changing (the device clock). */
  isVolatile(property: number): boolean;
  readonly supportsCov: boolean;
  /** A slot for the protocol layer's cached encodings of this object (never read by the model). */
  encodings: unknown;
  /** A slot for the protocol layer: where this object's polled answers are kept, 0 for nowhere yet (never read by
   * the model). */
  answerSlot: number;
}

const COMMON_REQUIRED: number[] = [
  P.OBJECT_IDENTIFIER,
  P.OBJECT_NAME,
  P.OBJECT_TYPE,
  P.PRESENT_VALUE,
  P.STATUS_FLAGS,
];
const STATE_REQUIRED: number[] = [P.EVENT_STATE, P.OUT_OF_SERVICE];

function propertySets(kind: PointKind, commandable: boolean): { required: number[]; optional: number[] } {
  const sets = baseSets(KIND_TYPE[kind], commandable);
  return { required: sets.required, optional: [...sets.optional, ...eventPropertyIds(kind)] };
}

function baseSets(type: number, commandable: boolean): { required: number[]; optional: number[] } {
  switch (type) {
    case ObjectType.ANALOG_VALUE:
    case ObjectType.ANALOG_INPUT:
      return {
        required: [...COMMON_REQUIRED, ...STATE_REQUIRED, P.UNITS, P.PROPERTY_LIST],
        optional: [P.DESCRIPTION, P.RELIABILITY, P.COV_INCREMENT],
      };
    case ObjectType.BINARY_VALUE:
      return {
        required: [...COMMON_REQUIRED, ...STATE_REQUIRED, P.PROPERTY_LIST],
        optional: [P.DESCRIPTION, P.RELIABILITY, P.INACTIVE_TEXT, P.ACTIVE_TEXT],
      };
    default: {
      // Multi-state value. A commandable one must carry its priority array and relinquish default.
      const required: number[] = [...COMMON_REQUIRED, ...STATE_REQUIRED, P.NUMBER_OF_STATES, P.PROPERTY_LIST];
      // Current_Command_Priority is required of commandable objects from protocol revision 17.
      if (commandable) required.push(P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT, P.CURRENT_COMMAND_PRIORITY);
      const optional: number[] = [P.DESCRIPTION, P.RELIABILITY, P.STATE_TEXT];
      return { required, optional };
    }
  }
}

interface PropertyCatalogue {
  all: number[];
  required: number[];
  optional: number[];
  listed: PropertyValue[];
  has: Set<number>;
}

const catalogues = new Map<string, PropertyCatalogue>();

function catalogueFor(kind: PointKind, commandable: boolean): PropertyCatalogue {
  const key = `${kind}:${commandable}`;
  let catalogue = catalogues.get(key);
  if (!catalogue) {
    const { required, optional } = propertySets(kind, commandable);
    const all = [...required, ...optional];
    // Property_List names every property except these four (ASHRAE 135 clause 12.1.1.4.1).
    const unlisted = new Set<number>([P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.PROPERTY_LIST]);
    catalogue = {
      all,
      required,
      optional,
      listed: all.filter((p) => !unlisted.has(p)).map((v) => ({ t: 'enum', v })),
      has: new Set(all),
    };
    catalogues.set(key, catalogue);
  }
  return catalogue;
}

export interface PointInit {
  kind: PointKind;
  instance: number;
  name: string;
  /** The account, "account|utility" or meter the point belongs to. */
  key: string;
  accountId?: string;
  utility?: string;
  meterId?: string;
  description: string;
  units?: number;
  value?: number;
  reliability?: number;
  covIncrement?: number;
}

export class Point implements BacnetObject {
  // Declared first, so that a read's look at an object (its version, where its answers are kept, its type and
  // instance) stays within the first octets of the object, beside its map: a BEMS's poll of 20 of 18,000 points
  // is bound by such memory reads (a kept answer needs only the first two).
  version = 1;
  answerSlot = 0;
  readonly type: number;
  readonly instance: number;
  readonly kind: PointKind;
  readonly name: string;
  readonly key: string;
  readonly accountId?: string;
  readonly utility?: string;
  readonly meterId?: string;
  readonly supportsCov = true;
  encodings: unknown = undefined;
  description: string;
  units: number;
  value: number;
  reliability: number;
  covIncrement: number;
  /** Commandable points only: slots 1..16 (index 0..15), null when relinquished. */
  priority?: Array<number | null>;
  relinquishDefault?: number;
  /** Event-capable points: their event state, acknowledgements and time stamps (events.ts). Always present (as
   * undefined on the others) so that every point has one shape. */
  event: EventRecord | undefined = undefined;
  private readonly catalogue: PropertyCatalogue;

  constructor(init: PointInit) {
    this.kind = init.kind;
    this.type = KIND_TYPE[init.kind];
    this.instance = init.instance;
    this.name = init.name;
    this.key = init.key;
    if (init.accountId !== undefined) this.accountId = init.accountId;
    if (init.utility !== undefined) this.utility = init.utility;
    if (init.meterId !== undefined) this.meterId = init.meterId;
    this.description = init.description;
    this.units = init.units ?? 95;
    this.reliability = init.reliability ?? Reliability.NO_FAULT_DETECTED;
    this.covIncrement = init.covIncrement ?? 0;
    const commandable = init.kind === 'override';
    if (commandable) {
      this.priority = new Array<number | null>(16).fill(null);
      this.relinquishDefault = OVERRIDE_AUTO;
    }
    this.value = init.value ?? this.defaultValue();
    this.catalogue = catalogueFor(this.kind, commandable);
  }

  private defaultValue(): number {
    if (this.type === ObjectType.MULTI_STATE_VALUE) return 1;
    return 0;
  }

  get stateTexts(): readonly string[] | undefined {
    if (this.kind === 'credit-state') return CREDIT_STATE_TEXTS;
    if (this.kind === 'override') return OVERRIDE_STATE_TEXTS;
    return undefined;
  }

  get activeText(): string | undefined {
    if (this.kind === 'supply') return 'supplied';
    if (this.kind === 'alarm') return 'alarm';
    return undefined;
  }

  get inactiveText(): string | undefined {
    if (this.kind === 'supply') return 'disconnected';
    if (this.kind === 'alarm') return 'normal';
    return undefined;
  }

  /** Event-capable points: their reported state; others: FAULT exactly when Reliability reports a fault. */
  get eventState(): number {
    if (this.event) return this.event.state;
    return this.reliability === Reliability.NO_FAULT_DETECTED ? EventState.NORMAL : EventState.FAULT;
  }

  /** Status_Flags as the set bits: 0 in-alarm, 1 fault, 2 overridden, 3 out-of-service. */
  statusFlagBits(): number[] {
    const bits: number[] = [];
    if (this.eventState !== EventState.NORMAL) bits.push(0);
    if (this.reliability !== Reliability.NO_FAULT_DETECTED) bits.push(1);
    return bits;
  }

  /** The slot (1..16) in control of a commandable point, or undefined when all are relinquished. */
  currentPriority(): number | undefined {
    const slot = this.priority?.findIndex((v) => v !== null) ?? -1;
    return slot >= 0 ? slot + 1 : undefined;
  }

  propertyIds(which: 'all' | 'required' | 'optional'): readonly number[] {
    return this.catalogue[which];
  }

  isVolatile(): boolean {
    return false;
  }

  presentValue(): PropertyValue {
    switch (this.type) {
      case ObjectType.ANALOG_INPUT:
      case ObjectType.ANALOG_VALUE:
        return { t: 'real', v: this.value };
      case ObjectType.BINARY_VALUE:
        return { t: 'enum', v: this.value };
      default:
        return { t: 'unsigned', v: this.value };
    }
  }

  read(property: number, index?: number): ReadResult {
    if (!this.catalogue.has.has(property)) return UNKNOWN_PROPERTY;
    const event = readEventProperty(this, property, index);
    if (event) return event;
    switch (property) {
      case P.PROPERTY_LIST:
        return arrayRead(this.catalogue.listed, index);
      case P.STATE_TEXT:
        return arrayRead(
          (this.stateTexts ?? []).map((v) => ({ t: 'string', v })),
          index,
        );
      case P.PRIORITY_ARRAY:
        return arrayRead(
          (this.priority ?? []).map((v) => (v === null ? { t: 'null' } : { t: 'unsigned', v })),
          index,
        );
    }
    if (index !== undefined) return NOT_AN_ARRAY;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { t: 'oid', type: this.type, instance: this.instance };
      case P.OBJECT_NAME:
        return { t: 'string', v: this.name };
      case P.OBJECT_TYPE:
        return { t: 'enum', v: this.type };
      case P.PRESENT_VALUE:
        return this.presentValue();
      case P.STATUS_FLAGS:
        return { t: 'bits', length: 4, set: this.statusFlagBits() };
      case P.EVENT_STATE:
        return { t: 'enum', v: this.eventState };
      case P.OUT_OF_SERVICE:
        return { t: 'bool', v: false };
      case P.UNITS:
        return { t: 'enum', v: this.units };
      case P.DESCRIPTION:
        return { t: 'string', v: this.description };
      case P.RELIABILITY:
        return { t: 'enum', v: this.reliability };
      case P.COV_INCREMENT:
        return { t: 'real', v: this.covIncrement };
      case P.NUMBER_OF_STATES:
        return { t: 'unsigned', v: this.stateTexts?.length ?? 0 };
      case P.ACTIVE_TEXT:
        return { t: 'string', v: this.activeText ?? '' };
      case P.INACTIVE_TEXT:
        return { t: 'string', v: this.inactiveText ?? '' };
      case P.RELINQUISH_DEFAULT:
        return { t: 'unsigned', v: this.relinquishDefault ?? OVERRIDE_AUTO };
      case P.CURRENT_COMMAND_PRIORITY: {
        const slot = this.currentPriority();
        return slot === undefined ? { t: 'null' } : { t: 'unsigned', v: slot };
      }
    }
    return UNKNOWN_PROPERTY;
  }
}
