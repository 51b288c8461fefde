/**
 * The shapes load-control rules hand to whatever carries them out: a BEMS write (a BACnet property at a
 * priority, or released with null) and a tenant power limit (carried out by prepay-cutoff's limit, never a
 * cut). They are the shared command types of the load-control package, spelled out here so demand limiting and
 * the price rules stand on their own; the types are structural, so the same objects fit the command module's.
 */

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

/** A tenant power limit request, carried out by prepay-cutoff's limit (never a cut); null lifts it. */
export interface PowerLimitRequest {
  account: string;
  meter?: string;
  limitW: number | null;
  reason: string;
}
