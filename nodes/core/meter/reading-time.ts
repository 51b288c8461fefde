/**
 * Is a reading's time stamp plausible, and if not, what probably went wrong. Readings from upstream (MQTT
 * and the like) carry the sender's time stamp in epoch milliseconds; common mistakes are stamps in seconds,
 * microseconds or nanoseconds, and device clocks that were never set or jumped. The engine never guesses a
 * unit: it refuses the reading and says what the stamp would be in the unit it looks like.
 */

/** Before this no meter of this system measured anything: a stamp earlier is a clock that is not set. */
export const EARLIEST_READING_MS = Date.UTC(2000, 0, 1);

/** The largest time a JavaScript Date can hold (year 275760). */
const LATEST_DATE_MS = 8.64e15;

/** How near now a rescaled stamp must fall to be named as the likely unit. */
const NEAR_MS = 400 * 86_400_000;

/** An ISO 8601 time, or a plain description for a number no Date can hold. */
export function isoTime(ts: number): string {
  return Number.isFinite(ts) && Math.abs(ts) <= LATEST_DATE_MS
    ? new Date(ts).toISOString()
    : `${ts} (no date at all)`;
}

/** What a stamp far from now probably is, in words for an alarm ("looks like microseconds: ..."). */
export function timeStampHint(ts: number, now: number): string {
  const near = (candidate: number): boolean => Math.abs(candidate - now) <= NEAR_MS;
  if (ts > now) {
    if (near(ts / 1000))
      return `looks like microseconds, not milliseconds (ts / 1,000 is ${isoTime(Math.round(ts / 1000))})`;
    if (near(ts / 1e6))
      return `looks like nanoseconds, not milliseconds (ts / 1,000,000 is ${isoTime(Math.round(ts / 1e6))})`;
    if (ts > LATEST_DATE_MS) return 'no time at all (beyond any date a clock can show)';
    return "the sender's clock is ahead (or this node's clock is behind)";
  }
  if (near(ts * 1000)) return `looks like seconds, not milliseconds (ts x 1,000 is ${isoTime(ts * 1000)})`;
  if (ts < EARLIEST_READING_MS) return "the sender's clock is not set (before 2000)";
  return '';
}
