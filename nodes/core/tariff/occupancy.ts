/**
 * The part of a month an account owes its fixed monthly items and its minimum for, from its move-in and move-out
 * days and the tariff's partial-month policies (rules.ts, PARTIAL_MONTH_POLICIES). Exact ratios of days.
 */
import { daysInMonth } from './calendar';
import { PartialMonthPolicy } from './rules';
import { Big, big } from './state';
import { Ratio } from './types';

const NOTHING: Ratio = { num: 0n, den: 1n };

/**
 * The share of local month `month` ("YYYY-MM") owed: the days from the move-in (or the 1st) to the move-out (or
 * the month's end), both included, over the days of the month, as the policies say (`none` owes nothing of a
 * month occupied in part, `whole-month` all of it). Move-in and move-out are local dates, or undefined.
 */
export function owedShare(
  policies: { moveIn: PartialMonthPolicy; moveOut: PartialMonthPolicy },
  month: string,
  moveIn: string | undefined,
  moveOut: string | undefined,
): Ratio {
  const days = daysInMonth(Number(month.slice(0, 4)), Number(month.slice(5, 7)));
  let first = 1;
  let last = days;
  if (moveIn !== undefined && moveIn.slice(0, 7) === month) {
    const day = Number(moveIn.slice(8, 10));
    if (day > 1 && policies.moveIn === 'none') return NOTHING;
    if (policies.moveIn === 'pro-rata') first = day;
  }
  if (moveOut !== undefined && moveOut.slice(0, 7) === month) {
    const day = Number(moveOut.slice(8, 10));
    if (day < days && policies.moveOut === 'none') return NOTHING;
    if (policies.moveOut === 'pro-rata') last = day;
  }
  if (last < first) return NOTHING;
  return { num: BigInt(last - first + 1), den: BigInt(days) };
}

/** The share of a month kept in the state: as recorded, or all of it or none for a month kept before shares. */
export function monthShare(entry: { full: boolean; share?: { num: Big; den: Big } }): Ratio {
  if (entry.share) return { num: big(entry.share.num), den: big(entry.share.den) };
  return entry.full ? { num: 1n, den: 1n } : NOTHING;
}
