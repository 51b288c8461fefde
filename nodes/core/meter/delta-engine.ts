/**
 * Cumulative meter registers -> consumption deltas, exactly once.
 *
 * Each meter keeps a baseline (the last good register value and its time). A new value gives the delta
 * since the baseline, computed in exact decimal (register values are read through their shortest decimal
 * spelling, so 1234.57 - 1234.12 is 0.45, not 0.4500000000000455). The reading id is the meter id and the
 * end time, so the same reading replayed prices and posts nothing downstream.
 *
 * What the engine refuses to bill: a value below the baseline that is not a plausible rollover, and a
 * delta faster than the profile's maximum plausible rate. Those are held as `suspect` (reported, not
 * charged) and the baseline stays where it was, so a single spike costs nothing and the next good value
 * bills the real consumption. A meter that keeps going backwards needs an operator: `replace` (old final,
 * new start) or `rebaseline`.
 *
 * Communication loss freezes the baseline; the first good value after it bills the whole gap once, split
 * into time slices over the gap so time-of-use prices are applied to the hours the energy was probably
 * used in (evenly, as nothing better is known), each slice marked `estimated`.
 */
import { formatScaled, parseDecimal } from '../decimal';
import { decimalPlaces } from './registers';
import type { Consumption, Reading, ReadingQuality, Utility } from '../messages';
import { extend } from '../shapes';

export interface MeterInfo {
  meterId: string;
  utility: Utility;
  unit: string;
  accountId?: string;
  /** The counter wraps to zero at this value. */
  rolloverAt?: number;
  /** Fastest plausible consumption, in `unit` per hour. */
  maxRatePerHour?: number;
}

export interface MeterBaseline {
  value: number;
  ts: number;
}

export type MeterStatus = 'ok' | 'suspect' | 'comm-loss';

export interface MeterState {
  baseline?: MeterBaseline;
  status: MeterStatus;
  /** When the current comm-loss or suspect run began. */
  since?: number;
  /** Consecutive suspect values. */
  suspectCount?: number;
  /** The consumptions of the last delta, re-sent after a restart (downstream drops what it has seen). */
  lastOut?: Consumption[];
}

export type MeterEventType =
  | 'first-reading'
  | 'rollover'
  | 'suspect'
  | 'comm-loss'
  | 'comm-restored'
  | 'replaced'
  | 'rebaselined'
  | 'stale';

export interface MeterEvent {
  meterId: string;
  accountId?: string;
  utility: Utility;
  type: MeterEventType;
  /** Alarms are raised on comm-loss and suspect values and cleared by comm-restored. */
  alarm: boolean;
  ts: number;
  text: string;
  [detail: string]: unknown;
}

export interface DeltaOutcome {
  /** The reading as seen, with its quality. */
  reading: Reading;
  consumptions: Consumption[];
  events: MeterEvent[];
}

export interface DeltaEngineOptions {
  /** Gap slices in ms; boundaries fall on multiples of this since the epoch (30 min: every half hour UTC). */
  sliceMs?: number;
  /** A delta spanning more than this is split into slices even without a declared comm loss. */
  splitAboveMs?: number;
  /** Never more slices than this for one gap; longer gaps use proportionally longer slices. */
  maxSlices?: number;
  /**
   * Bill at most once per interval of this many ms (boundaries on multiples since the epoch): values read
   * in between are reported as readings but not billed, so a meter polled every 15 s for live display
   * posts one charge a quarter hour, not sixty. 0 (default): every value is billed.
   */
  billEveryMs?: number;
}

const HOUR_MS = 3_600_000;
const SAFE_SCALED = 2 ** 50;

export class DeltaEngine {
  private readonly meters = new Map<string, MeterState>();
  private readonly sliceMs: number;
  private readonly splitAboveMs: number;
  private readonly maxSlices: number;
  private readonly billEveryMs: number;

  constructor(options: DeltaEngineOptions = {}) {
    this.sliceMs = options.sliceMs ?? 30 * 60_000;
    this.billEveryMs = options.billEveryMs ?? 0;
    if (!(this.billEveryMs >= 0)) throw new RangeError('billEveryMs must not be negative');
    // An ordinary billing interval is one delta, not a gap to be sliced.
    this.splitAboveMs = options.splitAboveMs ?? 2 * Math.max(this.sliceMs, this.billEveryMs);
    this.maxSlices = options.maxSlices ?? 2_000;
  }

  state(meterId: string): MeterState | undefined {
    return this.meters.get(meterId);
  }

  /** A good register value from the meter at `ts`. */
  reading(meter: MeterInfo, value: number, ts: number): DeltaOutcome {
    if (!Number.isFinite(value))
      throw new RangeError(`value of meter ${meter.meterId} is not a finite number`);
    if (!Number.isFinite(ts)) throw new RangeError(`ts of meter ${meter.meterId} is not a time`);
    const state = this.stateOf(meter.meterId);
    const reading = makeReading(meter, value, ts, 'good');
    const events: MeterEvent[] = [];
    const baseline = state.baseline;
    if (!baseline) {
      state.baseline = { value, ts };
      state.status = 'ok';
      delete state.since;
      events.push(
        event(meter, 'first-reading', false, ts, `first reading ${value} ${meter.unit}: baseline set`),
      );
      return { reading, consumptions: [], events };
    }
    if (ts <= baseline.ts) {
      // A replayed or out-of-order value: it was billed (or superseded) already.
      reading.quality = 'suspect';
      events.push(
        event(
          meter,
          'stale',
          false,
          ts,
          `reading at ${iso(ts)} is not newer than the baseline at ${iso(baseline.ts)}`,
        ),
      );
      return { reading, consumptions: [], events };
    }
    // Inside the billing interval of the last billed value: reported, billed with the next interval. A meter
    // in comm loss or suspect is billed at once, so a gap or a held value is settled on the first good value.
    if (
      this.billEveryMs > 0 &&
      state.status === 'ok' &&
      Math.floor(ts / this.billEveryMs) === Math.floor(baseline.ts / this.billEveryMs)
    )
      return { reading, consumptions: [], events };

    const quick = this.ordinaryDelta(meter, state, reading, baseline, value, ts);
    if (quick) return { reading, consumptions: quick, events };

    const scale = Math.max(
      scaleOf(value),
      scaleOf(baseline.value),
      meter.rolloverAt ? scaleOf(meter.rolloverAt) : 0,
    );
    const now = toUnits(value, scale);
    const before = toUnits(baseline.value, scale);
    let delta = now - before;
    let rolled = false;
    if (delta < 0n && meter.rolloverAt !== undefined) {
      const wrapped = toUnits(meter.rolloverAt, scale) - before + now;
      if (wrapped >= 0n && this.plausibleRollover(meter, baseline, wrapped, scale, ts)) {
        delta = wrapped;
        rolled = true;
      }
    }
    const hours = (ts - baseline.ts) / HOUR_MS;
    const problem =
      delta < 0n
        ? `value ${value} is below the last good value ${baseline.value} ${meter.unit} (not a rollover)`
        : this.tooFast(meter, delta, scale, hours);
    if (problem) {
      reading.quality = 'suspect';
      const firstOfRun = state.status !== 'suspect';
      state.suspectCount = (state.suspectCount ?? 0) + 1;
      if (firstOfRun) {
        // A suspect value during comm loss keeps the comm-loss start; otherwise the run starts now.
        if (state.status !== 'comm-loss') state.since = ts;
        state.status = 'suspect';
      }
      events.push(
        // The alarm is raised once per run of suspect values; later ones are reported without a new alarm.
        event(meter, 'suspect', firstOfRun, ts, `${problem}: held, not charged`, {
          value,
          baseline: baseline.value,
          delta: Number(formatScaled(delta, scale)),
          count: state.suspectCount,
        }),
      );
      return { reading, consumptions: [], events };
    }

    const wasCommLoss = state.status === 'comm-loss';
    if (wasCommLoss) {
      events.push(
        event(
          meter,
          'comm-restored',
          false,
          ts,
          `communication restored after ${duration(ts - (state.since ?? baseline.ts))}`,
          {
            gapFrom: baseline.ts,
            gapTo: ts,
          },
        ),
      );
    }
    if (rolled) {
      events.push(
        event(meter, 'rollover', false, ts, `counter rolled over at ${meter.rolloverAt} ${meter.unit}`),
      );
    }
    const split = wasCommLoss || ts - baseline.ts > this.splitAboveMs;
    const consumptions = split
      ? this.slices(reading, baseline.ts, ts, delta, scale, wasCommLoss)
      : [consumption(reading, baseline.ts, ts, delta, scale, false)];
    state.baseline = { value, ts };
    state.status = 'ok';
    delete state.since;
    delete state.suspectCount;
    state.lastOut = consumptions;
    return { reading, consumptions, events };
  }

  /**
   * The common case, in plain integer arithmetic: a meter in good standing, a forward step at a plausible
   * rate, no split. Values are scaled to integers of their last decimal place, exact while they stay below
   * 2^50 (a 10^12 kWh register at 0.001 kWh). Anything else (or a value out of that range) takes the bigint
   * path, which gives the same result.
   */
  private ordinaryDelta(
    meter: MeterInfo,
    state: MeterState,
    reading: Reading,
    baseline: MeterBaseline,
    value: number,
    ts: number,
  ): Consumption[] | undefined {
    if (state.status !== 'ok' || ts - baseline.ts > this.splitAboveMs) return undefined;
    const scale = Math.max(decimalPlaces(value), decimalPlaces(baseline.value));
    if (scale > 9) return undefined;
    const factor = 10 ** scale;
    const now = Math.round(value * factor);
    const before = Math.round(baseline.value * factor);
    if (Math.abs(now) > SAFE_SCALED || Math.abs(before) > SAFE_SCALED) return undefined;
    const units = now - before;
    if (units < 0) return undefined;
    if (meter.maxRatePerHour !== undefined) {
      const hours = (ts - baseline.ts) / HOUR_MS;
      if (units / factor > meter.maxRatePerHour * hours + 2 / factor) return undefined;
    }
    // Dividing two exact integers is correctly rounded: the same double as the decimal text would give.
    const out: Consumption = extend(reading, {
      delta: units / factor,
      from: baseline.ts,
      to: ts,
      readingId: `${reading.meterId}:${ts}`,
    });
    state.baseline = { value, ts };
    state.lastOut = [out];
    return state.lastOut;
  }

  /** The meter did not answer (or no reading arrived in time): alarm once, freeze the baseline. */
  commLoss(meter: MeterInfo, ts: number, reason: string): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const reading = makeReading(meter, state.baseline?.value ?? 0, ts, 'comm-loss');
    const events: MeterEvent[] = [];
    if (state.status !== 'comm-loss') {
      state.status = 'comm-loss';
      state.since = ts;
      delete state.suspectCount;
      events.push(event(meter, 'comm-loss', true, ts, `communication lost: ${reason}`));
    }
    return { reading, consumptions: [], events };
  }

  /**
   * A meter was exchanged: bill the old meter up to its final value, then start from the new meter's
   * first value. Both values come from the technician's job sheet.
   */
  replace(meter: MeterInfo, oldFinal: number, newStart: number, ts: number): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const reading = makeReading(meter, newStart, ts, 'good');
    const events: MeterEvent[] = [];
    let consumptions: Consumption[] = [];
    const baseline = state.baseline;
    if (baseline && ts <= baseline.ts)
      throw new RangeError(`replacement time ${iso(ts)} is not after the last reading ${iso(baseline.ts)}`);
    if (baseline) {
      const scale = Math.max(scaleOf(oldFinal), scaleOf(baseline.value));
      const delta = toUnits(oldFinal, scale) - toUnits(baseline.value, scale);
      if (delta < 0n) {
        throw new RangeError(
          `old meter's final value ${oldFinal} is below its last good value ${baseline.value} ${meter.unit}`,
        );
      }
      const finalReading = makeReading(meter, oldFinal, ts, 'good');
      consumptions =
        ts - baseline.ts > this.splitAboveMs || state.status === 'comm-loss'
          ? this.slices(finalReading, baseline.ts, ts, delta, scale, state.status === 'comm-loss')
          : [consumption(finalReading, baseline.ts, ts, delta, scale, false)];
    }
    state.baseline = { value: newStart, ts };
    state.status = 'ok';
    delete state.since;
    delete state.suspectCount;
    state.lastOut = consumptions;
    events.push(
      event(
        meter,
        'replaced',
        false,
        ts,
        `meter replaced: old final ${oldFinal}, new start ${newStart} ${meter.unit}`,
        {
          oldFinal,
          newStart,
        },
      ),
    );
    return { reading, consumptions, events };
  }

  /** Accepts `value` as the new baseline without billing anything (after an investigated fault). */
  rebaseline(meter: MeterInfo, value: number, ts: number, reason: string): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const previous = state.baseline?.value;
    if (state.baseline && ts <= state.baseline.ts)
      throw new RangeError(`rebaseline time ${iso(ts)} is not after the last reading`);
    state.baseline = { value, ts };
    state.status = 'ok';
    delete state.since;
    delete state.suspectCount;
    state.lastOut = [];
    return {
      reading: makeReading(meter, value, ts, 'good'),
      consumptions: [],
      events: [
        event(
          meter,
          'rebaselined',
          false,
          ts,
          `baseline set to ${value} ${meter.unit} without billing: ${reason}`,
          {
            previous,
          },
        ),
      ],
    };
  }

  /** Everything needed to continue after a restart. */
  snapshot(): Record<string, MeterState> {
    return Object.fromEntries(this.meters);
  }

  restore(saved: Record<string, MeterState>): void {
    this.meters.clear();
    for (const [meterId, state] of Object.entries(saved)) this.meters.set(meterId, structuredClone(state));
  }

  /** Forgets meters no longer configured. */
  retain(meterIds: ReadonlySet<string>): void {
    for (const meterId of [...this.meters.keys()]) if (!meterIds.has(meterId)) this.meters.delete(meterId);
  }

  private stateOf(meterId: string): MeterState {
    let state = this.meters.get(meterId);
    if (!state) {
      state = { status: 'ok' };
      this.meters.set(meterId, state);
    }
    return state;
  }

  private plausibleRollover(
    meter: MeterInfo,
    baseline: MeterBaseline,
    wrapped: bigint,
    scale: number,
    ts: number,
  ): boolean {
    if (meter.maxRatePerHour !== undefined)
      return this.tooFast(meter, wrapped, scale, (ts - baseline.ts) / HOUR_MS) === undefined;
    // Without a rate limit, a wrap is believable only from the upper half of the register's range.
    return baseline.value >= (meter.rolloverAt ?? 0) / 2;
  }

  private tooFast(meter: MeterInfo, delta: bigint, scale: number, hours: number): string | undefined {
    if (meter.maxRatePerHour === undefined) return undefined;
    // Allow two counts of the register's resolution on top: a counter that ticks once in a short interval
    // is not a spike.
    const allowed = meter.maxRatePerHour * hours + 2 * 10 ** -scale;
    const amount = Number(formatScaled(delta, scale));
    if (amount <= allowed) return undefined;
    const rate = hours > 0 ? amount / hours : Infinity;
    return `consumption ${amount} ${meter.unit} in ${duration(hours * HOUR_MS)} is ${round3(rate)} ${meter.unit}/h, above the plausible ${meter.maxRatePerHour} ${meter.unit}/h`;
  }

  /** Splits `delta` over [from, to] in slices on slice boundaries, in proportion to time, exactly. */
  private slices(
    reading: Reading,
    from: number,
    to: number,
    delta: bigint,
    scale: number,
    estimated: boolean,
  ): Consumption[] {
    // Split at no coarser than hundredths, so a 1 kWh register's gap does not land in whole-kWh lumps.
    const splitScale = Math.max(scale, 2);
    delta *= 10n ** BigInt(splitScale - scale);
    scale = splitScale;
    const span = to - from;
    let sliceMs = this.sliceMs;
    while (Math.ceil(span / sliceMs) + 1 > this.maxSlices) sliceMs *= 2;
    const bounds: number[] = [from];
    let edge = (Math.floor(from / sliceMs) + 1) * sliceMs;
    while (edge < to) {
      bounds.push(edge);
      edge += sliceMs;
    }
    bounds.push(to);
    const out: Consumption[] = [];
    const total = BigInt(span);
    let allocated = 0n;
    for (let i = 1; i < bounds.length; i += 1) {
      const end = bounds[i]!;
      // Cumulative allocation: every slice's share is floor(delta * elapsed / span) minus what went before,
      // so the shares add up to the delta exactly.
      const cumulative = i === bounds.length - 1 ? delta : (delta * BigInt(end - from)) / total;
      const share = cumulative - allocated;
      allocated = cumulative;
      const start = bounds[i - 1]!;
      const piece = consumption(extend(reading, { ts: end }), start, end, share, scale, estimated);
      if (i < bounds.length - 1) {
        // The value is what the register probably showed at the slice's end.
        piece.value = Number(formatScaled(toUnits(reading.value, scale) - delta + cumulative, scale));
      }
      out.push(piece);
    }
    return out.filter((piece, index) => piece.delta !== 0 || index === out.length - 1);
  }
}

function makeReading(meter: MeterInfo, value: number, ts: number, quality: ReadingQuality): Reading {
  const reading: Reading = {
    meterId: meter.meterId,
    utility: meter.utility,
    value,
    unit: meter.unit,
    ts,
    quality,
  };
  if (meter.accountId !== undefined) reading.accountId = meter.accountId;
  return reading;
}

function consumption(
  reading: Reading,
  from: number,
  to: number,
  delta: bigint,
  scale: number,
  estimated: boolean,
): Consumption {
  const out: Consumption = extend(reading, {
    ts: to,
    delta: Number(formatScaled(delta, scale)),
    from,
    to,
    readingId: `${reading.meterId}:${to}`,
  });
  if (estimated) out.estimated = true;
  return out;
}

function event(
  meter: MeterInfo,
  type: MeterEventType,
  alarm: boolean,
  ts: number,
  text: string,
  detail: Record<string, unknown> = {},
): MeterEvent {
  const out: MeterEvent = extend(detail, {
    meterId: meter.meterId,
    utility: meter.utility,
    type,
    alarm,
    ts,
    text,
  });
  if (meter.accountId !== undefined) out.accountId = meter.accountId;
  return out;
}

function scaleOf(value: number): number {
  return parseDecimal(value).scale;
}

function toUnits(value: number, scale: number): bigint {
  const parsed = parseDecimal(value);
  return parsed.units * 10n ** BigInt(scale - parsed.scale);
}

function iso(ts: number): string {
  return new Date(ts).toISOString();
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export function duration(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 2 * HOUR_MS) return `${Math.round(ms / 60_000)} min`;
  if (ms < 48 * HOUR_MS) return `${Math.round((ms / HOUR_MS) * 10) / 10} h`;
  return `${Math.round((ms / (24 * HOUR_MS)) * 10) / 10} days`;
}
