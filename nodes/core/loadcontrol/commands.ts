/**
 * What load-control rules decide, before anything is sent: BACnet commands for the BEMS's own objects and power
 * limits for tenant relays. Rules return these; the BACnet commander and the cutoff node carry them out.
 */

/** BACnet's present-value property, the one commanded unless a target names another. */
export const PRESENT_VALUE = 85;

/** One BEMS object property this package may command. */
export interface BacnetTarget {
  device: number;
  objectType: number;
  instance: number;
  /** Default present-value (85). */
  property?: number;
}

/** What a rule wants written: a value at a priority, for a reason, or released (null). */
export interface DesiredCommand {
  key: string;
  target: BacnetTarget;
  value: number | boolean | null;
  priority: number;
  reason: string;
}

/** A tenant power limit request, carried out by prepay-cutoff's limit (never a cut). */
export interface PowerLimitRequest {
  account: string;
  meter?: string;
  limitW: number | null;
  reason: string;
}

/** BACnet object types by the names the tables use (ASHRAE 135 clause 21, BACnetObjectType). */
export const OBJECT_TYPES: Readonly<Record<string, number>> = {
  'analog-input': 0,
  'analog-output': 1,
  'analog-value': 2,
  'binary-input': 3,
  'binary-output': 4,
  'binary-value': 5,
  'multi-state-input': 13,
  'multi-state-output': 14,
  'multi-state-value': 19,
  'integer-value': 45,
  'positive-integer-value': 48,
  'large-analog-value': 46,
};

/** The value kind a target's present-value takes on the wire. */
export type ValueKind = 'real' | 'enumerated' | 'unsigned' | 'signed';

export function valueKind(objectType: number): ValueKind {
  if (objectType === 3 || objectType === 4 || objectType === 5) return 'enumerated';
  if (objectType === 13 || objectType === 14 || objectType === 19 || objectType === 48) return 'unsigned';
  if (objectType === 45) return 'signed';
  return 'real';
}

/** The object type's table name, or its number when it has none here. */
export function objectTypeName(objectType: number): string {
  for (const [name, n] of Object.entries(OBJECT_TYPES)) if (n === objectType) return name;
  return String(objectType);
}

/** "device/analog-output:3" (with ".property" when not present-value): how logs and answers name a target. */
export function targetLabel(target: BacnetTarget): string {
  const property =
    target.property === undefined || target.property === PRESENT_VALUE ? '' : `.${target.property}`;
  return `${target.device}/${objectTypeName(target.objectType)}:${target.instance}${property}`;
}

/** The key of one priority slot of one target: two rules writing the same slot would fight, so it is unique. */
export function slotKey(target: BacnetTarget, priority: number): string {
  return `${targetLabel(target)}@${priority}`;
}

/**
 * Whether a value read back is the value commanded: a REAL is compared as float32 (what the wire holds), an
 * enumerated binary value as 0/1 (true is active).
 */
export function sameValue(commanded: number | boolean, readBack: number | boolean | null): boolean {
  if (readBack === null) return false;
  const a = typeof commanded === 'boolean' ? (commanded ? 1 : 0) : commanded;
  const b = typeof readBack === 'boolean' ? (readBack ? 1 : 0) : readBack;
  return Math.fround(a) === Math.fround(b);
}
