/**
 * The simulated site's outdoor air temperature: a deterministic daily curve for a tropical city such as Kuala
 * Lumpur (about 24 °C before dawn, 32 °C mid-afternoon), with a slow swing over the days (wetter, cooler spells
 * and hotter ones, ±1 °C), so a savings baseline has a temperature to regress on and a reading repeats exactly.
 */
import { TimeZone } from '../core/tariff/zone';

export interface ClimateOptions {
  /** Daily mean, °C (default 28, Kuala Lumpur). */
  mean?: number;
  /** Half the daily range, °C (default 4). */
  swing?: number;
  /** Local hour of the coolest moment (default 6; the warmest is twelve hours later, damped to mid-afternoon). */
  coolestHour?: number;
}

/** The outdoor temperature at instant `t` in the site's time zone, °C to one decimal. */
export function outdoorTemperature(t: number, timeZone: string, options: ClimateOptions = {}): number {
  const zone = TimeZone.get(timeZone);
  const p = zone.wallParts(t);
  const hour = p.minuteOfDay / 60;
  const mean = options.mean ?? 28;
  const swing = options.swing ?? 4;
  const coolest = options.coolestHour ?? 6;
  const phase = (((hour - coolest + 24) % 24) / 24) * 2 * Math.PI;
  // A cosine with its second harmonic: a quick morning rise, the peak around 15:00, a slow evening fall.
  const daily = -Math.cos(phase) - 0.25 * Math.sin(2 * phase);
  const day = Math.floor((t + zone.offsetAt(t)) / 86_400_000);
  const spell = Math.sin((day * 2 * Math.PI) / 9) * 0.7 + Math.sin((day * 2 * Math.PI) / 23) * 0.3;
  return Math.round((mean + swing * daily + spell) * 10) / 10;
}
