/**
 * A moment given as text by a person or a client (a statement's from and to): epoch milliseconds, or an ISO 8601
 * date with an optional time and zone. Date.parse alone will not do: V8 reads 2024-02-30 as 1 March, so an
 * impossible date would quietly select another period; here it is refused, saying what is wrong.
 *
 * Self-contained on purpose (no imports): the generated flows embed its source in function nodes, which cannot
 * import the package (scripts/tenant-api/core-source.mjs).
 */
export function parseInstant(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const iso =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i.exec(
      text,
    );
  if (!iso)
    throw new RangeError(
      `"${text.slice(0, 40)}" is not a date: write YYYY-MM-DD (ISO 8601, a time and zone may follow) or epoch milliseconds`,
    );
  const [year, month, day, hour, minute, second] = iso.slice(1, 7).map((part) => Number(part ?? 0));
  if (!(month !== undefined && month >= 1 && month <= 12))
    throw new RangeError(`${text} is not a date: there is no month ${month}`);
  const days = new Date(Date.UTC(year ?? 0, month, 0)).getUTCDate(); // day 0 of the next month: this month's last
  if (!(day !== undefined && day >= 1 && day <= days))
    throw new RangeError(`${text} is not a date: ${iso[1]}-${iso[2]} has ${days} days`);
  if ((hour ?? 0) > 23 || (minute ?? 0) > 59 || (second ?? 0) > 59)
    throw new RangeError(`${text} is not a time of day`);
  const parsed = Date.parse(text.replace(' ', 'T'));
  if (!Number.isFinite(parsed)) throw new RangeError(`${text} is not a date`);
  return parsed;
}
