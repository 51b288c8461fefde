/**
 * The shapes load-control rules hand to whatever carries them out: a BEMS write (a BACnet property at a
 * priority, or released with null) and a tenant power limit (carried out by prepay-cutoff's limit, never a
 * cut). Defined once, in commands.ts, beside the helpers the BACnet commander uses; named here too for the
 * demand and price rules that import them from this module.
 */
export type { BacnetTarget, DesiredCommand, PowerLimitRequest } from './commands';
