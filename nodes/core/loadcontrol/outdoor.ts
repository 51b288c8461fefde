/**
 * Outdoor temperature for the baselines: readings at any rate become one value per five-minute slot of the local
 * day (the last reading of a slot wins, so a reading sent twice counts once), and a day's mean is the mean of its
 * hourly means, so a sensor that reports more often in the afternoon does not tilt the day towards it. A day with
 * too few hours measured has no mean (and no temperature baseline).
 */
import { parseDecimal } from '../decimal';

export const SLOT_MS = 300_000;
const SLOTS_PER_HOUR = 12;

/** Temperature units accepted, as functions to °C. */
const TO_CELSIUS: Record<string, (v: number) => number> = {
  '°c': (v) => v,
  c: (v) => v,
  degc: (v) => v,
  celsius: (v) => v,
  '°f': (v) => ((v - 32) * 5) / 9,
  f: (v) => ((v - 32) * 5) / 9,
  degf: (v) => ((v - 32) * 5) / 9,
  fahrenheit: (v) => ((v - 32) * 5) / 9,
};

/** A reading's value in °C, or why it is refused. */
export function celsius(
  value: unknown,
  unit: unknown,
): { ok: true; value: number } | { ok: false; reason: string } {
  const convert = TO_CELSIUS[typeof unit === 'string' ? unit.trim().toLowerCase() : '°c'];
  if (!convert) return { ok: false, reason: `unit "${String(unit)}" is not a temperature (°C or °F)` };
  let number: number;
  try {
    if (typeof value !== 'number' && typeof value !== 'string') throw new TypeError('not a number');
    parseDecimal(value);
    number = Number(value);
  } catch {
    return { ok: false, reason: `temperature ${String(value)} is not a number` };
  }
  const c = convert(number);
  // Outdoor air on Earth stays within about -90 to +57 °C; anything beyond is a sensor fault or a wrong unit.
  if (!(c >= -90 && c <= 60))
    return { ok: false, reason: `${c.toFixed(1)} °C is not an outdoor temperature` };
  return { ok: true, value: c };
}

/** Mean of hourly means over a day's slots (slot index → °C); null with fewer than `minHours` hours measured. */
export function dailyMeanTemperature(slots: Record<string, number>, minHours: number): number | null {
  const hours = new Map<number, { sum: number; n: number }>();
  for (const [slot, value] of Object.entries(slots)) {
    const hour = Math.floor(Number(slot) / SLOTS_PER_HOUR);
    const h = hours.get(hour) ?? { sum: 0, n: 0 };
    h.sum += value;
    h.n += 1;
    hours.set(hour, h);
  }
  if (hours.size < minHours || hours.size === 0) return null;
  let total = 0;
  for (const h of hours.values()) total += h.sum / h.n;
  return total / hours.size;
}
