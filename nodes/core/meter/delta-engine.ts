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
 * used in (evenly, as nothing better is known), each slice marked `estimated`. A device that answers but
 * refuses its counter (a Modbus exception) is no communication loss; it freezes the baseline the same way,
 * with an alarm of its own.
 *
 * Time stamps are checked against the node's clock before anything else. A reading stamped ahead of it (by
 * more than `futureToleranceMs`) is refused and alarmed, with the likely cause (a stamp in microseconds...):
 * adopting it would move the baseline into the future and make every later reading look stale. A reading
 * not after the baseline, or before 2000, is stale; a run of them is alarmed. A gap longer than `maxGapMs` is
 * held for an operator instead of being spread over a year of slices. A baseline already ahead of the clock
 * (a state saved by an older version) is alarmed, and `rebaseline` or `replace` at the present replaces it.
 */
import { formatScaled, parseDecimal } from '../decimal';
import { decimalPlaces } from './registers';
import type { Consumption, MissingReading, Reading, ReadingQuality, Utility } from '../messages';
import { extend } from '../shapes';
import { EARLIEST_READING_MS, isoTime, timeStampHint } from './reading-time';
import type { DayTally } from './day-tally';

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

/** `device-fault`: the device answers but refuses the counter (a Modbus exception): it cannot be billed. */
export type MeterStatus = 'ok' | 'suspect' | 'comm-loss' | 'device-fault';

/** A run of readings refused for their time, or held for their gap (see the event types). */
export interface TimeRun {
  kind: 'future' | 'stale' | 'gap';
  count: number;
  since: number;
  /** Whether the run's alarm was raised (and must be cleared when it ends). */
  alarm: boolean;
}

export interface MeterState {
  baseline?: MeterBaseline;
  status: MeterStatus;
  /** When the current comm-loss or suspect run began. */
  since?: number;
  /** Consecutive suspect values. */
  suspectCount?: number;
  /** The consumptions of the last delta, re-sent after a restart (downstream drops what it has seen). */
  lastOut?: Consumption[];
  /** Readings refused in a row for their time stamp, or held for their gap. */
  timeRun?: TimeRun;
  /** The baseline was moved by an operator: the next consumption says so (its start joins no earlier one). */
  moved?: { event: 'rebaselined' | 'replaced'; at: number; text?: string };
  /** What the meter measured and billed per local day, for the ledger's reconciliation (see day-tally). */
  days?: Record<string, DayTally>;
  /**
   * Consumption sent in the last few seconds of wall time, with when (kept by the meter reader): all of it is
   * sent again after a restart, not only the last, since a charge priced from any of it may not be saved yet.
   */
  resend?: Array<[number, Consumption[]]>;
}

/**
 * Alarms other than comm-loss and suspect are raised by an event with `alarm: true` and cleared by an event
 * of the same type with `alarm: false`.
 */
export type MeterEventType =
  | 'first-reading'
  | 'rollover'
  | 'suspect'
  | 'comm-loss'
  | 'comm-restored'
  | 'replaced'
  | 'rebaselined'
  | 'stale'
  /** The device refused the billed counter (a Modbus exception): raised, and cleared when it is read. */
  | 'counter-unavailable'
  /** The device refused an optional value on its own: dropped from the plan, tried again daily (no alarm). */
  | 'value-unavailable'
  /** A dropped value the device serves again. */
  | 'value-available'
  /** The device refused a request with another exception (device failure, busy...): raised and cleared. */
  | 'device-exception'
  /** Readings stamped ahead of the clock: refused; raised on the first, cleared when time is plausible. */
  | 'future-reading'
  /** A run of stale readings: raised when it persists, cleared by the next accepted reading. */
  | 'stale-readings'
  /** The baseline lies ahead of the clock: nothing bills until a rebaseline or replace (or the clock gets there). */
  | 'future-baseline'
  /** A gap longer than the bound: its delta is held for an operator, not spread into slices. */
  | 'gap-held'
  /** What the meter measured and billed over a local day (see day-tally), for the ledger's reconciliation. */
  | 'day-summary';

export interface MeterEvent {
  meterId: string;
  accountId?: string;
  /** Absent only on an alarm at start for a meter whose utility is not known yet (readings from messages). */
  utility?: Utility;
  type: MeterEventType;
  /** Alarms are raised on comm-loss and suspect values and cleared by comm-restored. */
  alarm: boolean;
  ts: number;
  text: string;
  [detail: string]: unknown;
}

export interface DeltaOutcome {
  /** The reading as seen, with its quality; without a value when none was read. */
  reading: Reading | MissingReading;
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
  /** The node's clock (epoch ms). Readings are judged against it. */
  now?: () => number;
  /** A reading stamped more than this ahead of the clock is refused (default 5 minutes). */
  futureToleranceMs?: number;
  /** A gap longer than this is held for an operator instead of being billed in slices (default 400 days). */
  maxGapMs?: number;
  /** Stale readings in a row that raise an alarm (default 3). */
  staleRunAlarm?: number;
}

/** Who an event is about: a meter, with its utility and account when known. */
export interface EventSubject {
  meterId: string;
  utility?: Utility;
  accountId?: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SAFE_SCALED = 2 ** 50;

export class DeltaEngine {
  private readonly meters = new Map<string, MeterState>();
  private readonly sliceMs: number;
  private readonly splitAboveMs: number;
  private readonly maxSlices: number;
  private readonly billEveryMs: number;
  private readonly now: () => number;
  private readonly futureToleranceMs: number;
  private readonly maxGapMs: number;
  private readonly staleRunAlarm: number;
  /** Meters whose future-baseline alarm is raised (in this process: raised again at every start). */
  private readonly aheadAlarmed = new Set<string>();

  constructor(options: DeltaEngineOptions = {}) {
    this.sliceMs = options.sliceMs ?? 30 * 60_000;
    this.billEveryMs = options.billEveryMs ?? 0;
    if (!(this.billEveryMs >= 0)) throw new RangeError('billEveryMs must not be negative');
    // An ordinary billing interval is one delta, not a gap to be sliced.
    this.splitAboveMs = options.splitAboveMs ?? 2 * Math.max(this.sliceMs, this.billEveryMs);
    this.maxSlices = options.maxSlices ?? 2_000;
    this.now = options.now ?? Date.now;
    this.futureToleranceMs = options.futureToleranceMs ?? 5 * 60_000;
    if (!(this.futureToleranceMs >= 0)) throw new RangeError('futureToleranceMs must not be negative');
    this.maxGapMs = options.maxGapMs ?? 400 * DAY_MS;
    this.staleRunAlarm = Math.max(1, options.staleRunAlarm ?? 3);
  }

  state(meterId: string): MeterState | undefined {
    return this.meters.get(meterId);
  }

  /** Every meter's state, without copying (for counting). */
  states(): IterableIterator<[string, MeterState]> {
    return this.meters.entries();
  }

  /** Whether a meter's baseline lies ahead of the clock (beyond the tolerance). */
  baselineAhead(state: MeterState | undefined, now = this.now()): boolean {
    return state?.baseline !== undefined && state.baseline.ts > now + this.futureToleranceMs;
  }

  /**
   * Alarms for baselines ahead of the clock (a state saved before time stamps were checked): one per meter,
   * raised at start. `subjectOf` names the meter's utility and account where known.
   */
  aheadAlarms(subjectOf: (meterId: string) => EventSubject): MeterEvent[] {
    const events: MeterEvent[] = [];
    const now = this.now();
    for (const [meterId, state] of this.meters) {
      if (!this.baselineAhead(state) || this.aheadAlarmed.has(meterId)) continue;
      this.aheadAlarmed.add(meterId);
      events.push(this.aheadAlarm(subjectOf(meterId), state.baseline!, now, now));
    }
    return events;
  }

  /** A good register value from the meter at `ts`. */
  reading(meter: MeterInfo, value: number, ts: number): DeltaOutcome {
    if (!Number.isFinite(value))
      throw new RangeError(`value of meter ${meter.meterId} is not a finite number`);
    if (!Number.isFinite(ts)) throw new RangeError(`ts of meter ${meter.meterId} is not a time`);
    const state = this.stateOf(meter.meterId);
    const reading = makeReading(meter, value, ts, 'good');
    const events: MeterEvent[] = [];
    const now = this.now();
    if (ts > now + this.futureToleranceMs) return this.refuseFuture(meter, state, reading, now);
    const baseline = state.baseline;
    if (ts < EARLIEST_READING_MS || (baseline && ts <= baseline.ts))
      return this.stale(meter, state, reading, now);
    const wasOut = state.status === 'comm-loss' || state.status === 'device-fault';
    if (baseline && ts - baseline.ts > this.maxGapMs) return this.holdGap(meter, state, reading, baseline);
    // The time is plausible: a run of refused readings ends here, and so does a device fault.
    this.endTimeRun(meter, state, ts, events);
    this.endDeviceFault(meter, state, ts, events, 'the counter is read again');
    if (this.aheadAlarmed.size > 0 && this.aheadAlarmed.delete(meter.meterId))
      events.push(event(meter, 'future-baseline', false, ts, 'cleared: the clock has reached the baseline'));
    if (!baseline) {
      state.baseline = { value, ts };
      state.status = 'ok';
      delete state.since;
      events.push(
        event(meter, 'first-reading', false, ts, `first reading ${value} ${meter.unit}: baseline set`),
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
    const after = toUnits(value, scale);
    const before = toUnits(baseline.value, scale);
    let delta = after - before;
    let rolled = false;
    const hours = (ts - baseline.ts) / HOUR_MS;
    /** A wrap the register allows, but at a rate above the plausible one: held, and it may yet be one. */
    let fastWrap: string | undefined;
    if (delta < 0n && meter.rolloverAt !== undefined) {
      const wrapped = toUnits(meter.rolloverAt, scale) - before + after;
      if (wrapped >= 0n && this.plausibleRollover(meter, baseline, wrapped, scale, ts)) {
        delta = wrapped;
        rolled = true;
      } else if (wrapped >= 0n && meter.maxRatePerHour !== undefined)
        fastWrap = this.tooFast(meter, wrapped, scale, hours);
    }
    // The text says what happens: a wrap held for its rate is billed as a rollover by a later value that
    // makes the rate plausible; only a drop no wrap explains is "not a rollover".
    const problem =
      delta < 0n
        ? fastWrap
          ? `value ${value} is below the last good value ${baseline.value} ${meter.unit}; as a rollover at ${meter.rolloverAt} ${meter.unit}, ${fastWrap}, so it is held until a later value makes the rate plausible (then billed as a rollover)`
          : `value ${value} is below the last good value ${baseline.value} ${meter.unit} (not a rollover)`
        : this.tooFast(meter, delta, scale, hours);
    if (problem) {
      reading.quality = 'suspect';
      const firstOfRun = state.status !== 'suspect';
      state.suspectCount = (state.suspectCount ?? 0) + 1;
      if (firstOfRun) {
        // A suspect value during comm loss keeps the comm-loss start; otherwise the run starts now.
        if (!wasOut) state.since = ts;
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
    const split = wasOut || ts - baseline.ts > this.splitAboveMs;
    const consumptions = split
      ? this.slices(reading, baseline.ts, ts, delta, scale, wasOut, baseline.value)
      : [consumption(reading, baseline.ts, ts, delta, scale, false, baseline.value)];
    if (rolled) for (const piece of consumptions) piece.rollover = true;
    if (state.moved) this.markMoved(state, consumptions);
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
      start: baseline.value,
    });
    if (state.moved) this.markMoved(state, [out]);
    state.baseline = { value, ts };
    state.lastOut = [out];
    return state.lastOut;
  }

  /**
   * The meter did not answer (or no reading arrived in time): alarm once, freeze the baseline. The reading
   * has no value: nothing was read.
   */
  commLoss(meter: MeterInfo, ts: number, reason: string): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const reading = missingReading(meter, ts, 'comm-loss');
    const events: MeterEvent[] = [];
    if (state.status !== 'comm-loss') {
      this.endDeviceFault(meter, state, ts, events, 'the device stopped answering');
      if (state.status !== 'device-fault') state.since = ts;
      state.status = 'comm-loss';
      delete state.suspectCount;
      events.push(event(meter, 'comm-loss', true, ts, `communication lost: ${reason}`));
    }
    return { reading, consumptions: [], events };
  }

  /**
   * The device answered but refused the billed counter (a Modbus exception): the meter cannot bill. Not
   * communication loss; alarmed once, the baseline frozen until the counter is read again. The reading has no
   * value and quality `suspect`.
   */
  counterUnavailable(
    meter: MeterInfo,
    ts: number,
    reason: string,
    detail: Record<string, unknown> = {},
  ): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const reading = missingReading(meter, ts, 'suspect');
    const events: MeterEvent[] = [];
    if (state.status !== 'device-fault') {
      if (state.status === 'comm-loss') {
        events.push(
          event(
            meter,
            'comm-restored',
            false,
            ts,
            `the device answers again after ${duration(ts - (state.since ?? ts))}, but refuses its counter`,
          ),
        );
      } else state.since = ts;
      state.status = 'device-fault';
      delete state.suspectCount;
      events.push(event(meter, 'counter-unavailable', true, ts, `cannot bill: ${reason}`, detail));
    }
    return { reading, consumptions: [], events };
  }

  /**
   * A meter was exchanged: bill the old meter up to its final value, then start from the new meter's
   * first value. Both values come from the technician's job sheet.
   */
  replace(meter: MeterInfo, oldFinal: number, newStart: number, ts: number): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    const now = this.now();
    this.checkOperatorTime('replacement', ts, now);
    const reading = makeReading(meter, newStart, ts, 'good');
    const events: MeterEvent[] = [];
    let consumptions: Consumption[] = [];
    const baseline = state.baseline;
    const ahead = this.baselineAhead(state);
    if (baseline && !ahead && ts <= baseline.ts)
      throw new RangeError(
        `replacement time ${isoTime(ts)} is not after the last reading ${isoTime(baseline.ts)}`,
      );
    let text = `meter replaced: old final ${oldFinal}, new start ${newStart} ${meter.unit}`;
    const detail: Record<string, unknown> = { oldFinal, newStart };
    if (baseline) {
      const scale = Math.max(scaleOf(oldFinal), scaleOf(baseline.value));
      const delta = toUnits(oldFinal, scale) - toUnits(baseline.value, scale);
      // A baseline ahead of the clock is not trusted (its value may be as wrong as its time): no refusal.
      if (delta < 0n && !ahead) {
        throw new RangeError(
          `old meter's final value ${oldFinal} is below its last good value ${baseline.value} ${meter.unit}`,
        );
      }
      if (ahead || ts - baseline.ts > this.maxGapMs) {
        // No plausible period to bill the old meter's last delta over: reported, for the operator to settle.
        const unbilled = Number(formatScaled(delta < 0n ? 0n : delta, scale));
        detail.unbilled = unbilled;
        detail.previous = { value: baseline.value, ts: baseline.ts };
        text += ahead
          ? `; its last baseline (${baseline.value} at ${isoTime(baseline.ts)}) lay ahead of the clock and is replaced: ${unbilled} ${meter.unit} not billed`
          : `; its last good value is ${duration(ts - baseline.ts)} old, beyond the ${duration(this.maxGapMs)} bound: ${unbilled} ${meter.unit} not billed`;
      } else {
        const finalReading = makeReading(meter, oldFinal, ts, 'good');
        const out = state.status === 'comm-loss' || state.status === 'device-fault';
        consumptions =
          ts - baseline.ts > this.splitAboveMs || out
            ? this.slices(finalReading, baseline.ts, ts, delta, scale, out, baseline.value)
            : [consumption(finalReading, baseline.ts, ts, delta, scale, false, baseline.value)];
        if (state.moved) this.markMoved(state, consumptions);
      }
    }
    this.endOperatorSettled(meter, state, ts, events);
    state.baseline = { value: newStart, ts };
    state.status = 'ok';
    delete state.since;
    delete state.suspectCount;
    state.lastOut = consumptions;
    // The new meter's first consumption starts at its own register, not where the old one ended.
    state.moved = { event: 'replaced', at: ts, text: `old final ${oldFinal}, new start ${newStart}` };
    events.push(event(meter, 'replaced', false, ts, text, detail));
    return { reading, consumptions, events };
  }

  /** Accepts `value` as the new baseline without billing anything (after an investigated fault). */
  rebaseline(meter: MeterInfo, value: number, ts: number, reason: string): DeltaOutcome {
    const state = this.stateOf(meter.meterId);
    this.checkOperatorTime('rebaseline', ts, this.now());
    const previous = state.baseline?.value;
    const ahead = this.baselineAhead(state);
    if (state.baseline && !ahead && ts <= state.baseline.ts)
      throw new RangeError(`rebaseline time ${isoTime(ts)} is not after the last reading`);
    const events: MeterEvent[] = [];
    this.endOperatorSettled(meter, state, ts, events);
    let text = `baseline set to ${value} ${meter.unit} without billing: ${reason}`;
    if (ahead) text += `; it replaces a baseline dated ${isoTime(state.baseline!.ts)}, ahead of the clock`;
    const detail: Record<string, unknown> = { previous };
    if (ahead) detail.previousTs = state.baseline!.ts;
    state.baseline = { value, ts };
    state.status = 'ok';
    delete state.since;
    delete state.suspectCount;
    state.lastOut = [];
    state.moved = { event: 'rebaselined', at: ts, text: reason };
    events.push(event(meter, 'rebaselined', false, ts, text, detail));
    return { reading: makeReading(meter, value, ts, 'good'), consumptions: [], events };
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

  /** The first consumption after an operator moved the baseline carries the note; it is then spent. */
  private markMoved(state: MeterState, consumptions: Consumption[]): void {
    const first = consumptions[0];
    if (!first || !state.moved) return;
    first.after = state.moved;
    delete state.moved;
  }

  /** An operator's command may not be dated ahead of the clock either. */
  private checkOperatorTime(what: string, ts: number, now: number): void {
    if (ts > now + this.futureToleranceMs)
      throw new RangeError(
        `${what} time ${isoTime(ts)} is ahead of this node's clock (${isoTime(now)}): ${timeStampHint(ts, now)}`,
      );
  }

  /** A reading stamped ahead of the clock: refused, baseline untouched; alarmed on the first of a run. */
  private refuseFuture(meter: MeterInfo, state: MeterState, reading: Reading, now: number): DeltaOutcome {
    reading.quality = 'suspect';
    const events: MeterEvent[] = [];
    const run = this.enterRun(meter, state, 'future', now, events);
    if (!run.alarm) {
      run.alarm = true;
      events.push(
        event(
          meter,
          'future-reading',
          true,
          now,
          `reading stamped ${isoTime(reading.ts)} is ${ahead(reading.ts - now)} ahead of this node's clock (${isoTime(now)}): ${timeStampHint(reading.ts, now)}; refused, not billed (tolerance ${duration(this.futureToleranceMs)})`,
          { value: reading.value, readingTs: reading.ts },
        ),
      );
    }
    return { reading, consumptions: [], events };
  }

  /** A reading not after the baseline (a replay, out of order) or before 2000: not billed. */
  private stale(meter: MeterInfo, state: MeterState, reading: Reading, now: number): DeltaOutcome {
    reading.quality = 'suspect';
    const ts = reading.ts;
    const baseline = state.baseline;
    const events: MeterEvent[] = [];
    const run = this.enterRun(meter, state, 'stale', ts, events);
    const hint = timeStampHint(ts, now);
    const aheadOfClock = this.baselineAhead(state);
    let text =
      baseline && ts <= baseline.ts
        ? `reading at ${isoTime(ts)} is not newer than the baseline at ${isoTime(baseline.ts)}`
        : `reading at ${isoTime(ts)} is before 2000`;
    if (aheadOfClock)
      text += `, which lies ahead of this node's clock: not billed until a rebaseline or replace`;
    if (hint) text += `: ${hint}`;
    events.push(event(meter, 'stale', false, ts, text));
    if (aheadOfClock) {
      // The alarm that says why nothing bills: once, not per reading.
      if (!this.aheadAlarmed.has(meter.meterId)) {
        this.aheadAlarmed.add(meter.meterId);
        events.push(this.aheadAlarm(meter, baseline!, ts, now));
      }
    } else if (!run.alarm && run.count >= this.staleRunAlarm) {
      run.alarm = true;
      events.push(
        event(
          meter,
          'stale-readings',
          true,
          ts,
          `${run.count} readings in a row not billed as stale (the last: ${text}); the sender may be replaying old readings or its clock may be wrong`,
          { count: run.count },
        ),
      );
    }
    return { reading, consumptions: [], events };
  }

  /** A gap beyond the bound: the delta is held for an operator, the baseline stays. */
  private holdGap(
    meter: MeterInfo,
    state: MeterState,
    reading: Reading,
    baseline: MeterBaseline,
  ): DeltaOutcome {
    reading.quality = 'suspect';
    const ts = reading.ts;
    const events: MeterEvent[] = [];
    const run = this.enterRun(meter, state, 'gap', ts, events);
    this.endDeviceFault(meter, state, ts, events, 'the counter is read again');
    if (state.status === 'comm-loss')
      events.push(
        event(
          meter,
          'comm-restored',
          false,
          ts,
          `communication restored after ${duration(ts - (state.since ?? ts))}`,
        ),
      );
    if (state.status !== 'suspect') {
      state.since = ts;
      state.status = 'suspect';
    }
    if (!run.alarm) {
      run.alarm = true;
      events.push(
        event(
          meter,
          'gap-held',
          true,
          ts,
          `${reading.value} ${meter.unit} at ${isoTime(ts)} is ${duration(ts - baseline.ts)} after the last good value (${baseline.value} at ${isoTime(baseline.ts)}), beyond the ${duration(this.maxGapMs)} bound: held, not billed; a rebaseline or replace settles it`,
          { value: reading.value, baseline: baseline.value, baselineTs: baseline.ts },
        ),
      );
    }
    return { reading, consumptions: [], events };
  }

  private aheadAlarm(subject: EventSubject, baseline: MeterBaseline, ts: number, now: number): MeterEvent {
    return event(
      subject,
      'future-baseline',
      true,
      ts,
      `the baseline (${baseline.value} at ${isoTime(baseline.ts)}) lies ${ahead(baseline.ts - now)} ahead of this node's clock: no reading bills until a rebaseline or replace (or until the clock reaches it)`,
      { baseline: baseline.value, baselineTs: baseline.ts },
    );
  }

  /** Counts a refused reading into the current run, ending a run of another kind first. */
  private enterRun(
    meter: EventSubject,
    state: MeterState,
    kind: TimeRun['kind'],
    ts: number,
    events: MeterEvent[],
  ): TimeRun {
    if (state.timeRun && state.timeRun.kind !== kind) this.endTimeRun(meter, state, ts, events);
    state.timeRun ??= { kind, count: 0, since: ts, alarm: false };
    state.timeRun.count += 1;
    return state.timeRun;
  }

  /** A reading was accepted (or an operator settled the meter): the run ends, its alarm is cleared. */
  private endTimeRun(meter: EventSubject, state: MeterState, ts: number, events: MeterEvent[]): void {
    const run = state.timeRun;
    if (!run) return;
    delete state.timeRun;
    if (!run.alarm) return;
    const type = RUN_ALARMS[run.kind];
    const what = run.kind === 'gap' ? 'held' : 'refused';
    events.push(
      event(meter, type, false, ts, `cleared: ${run.count} readings ${what} since ${isoTime(run.since)}`),
    );
  }

  private endDeviceFault(
    meter: EventSubject,
    state: MeterState,
    ts: number,
    events: MeterEvent[],
    why: string,
  ): void {
    if (state.status !== 'device-fault') return;
    events.push(
      event(
        meter,
        'counter-unavailable',
        false,
        ts,
        `cleared: ${why} after ${duration(ts - (state.since ?? ts))}`,
      ),
    );
  }

  /** An operator's replace or rebaseline settles every alarm the engine holds for the meter. */
  private endOperatorSettled(meter: MeterInfo, state: MeterState, ts: number, events: MeterEvent[]): void {
    this.endTimeRun(meter, state, ts, events);
    this.endDeviceFault(meter, state, ts, events, 'settled by the operator');
    if (this.aheadAlarmed.delete(meter.meterId) || this.baselineAhead(state))
      events.push(
        event(meter, 'future-baseline', false, ts, `cleared: the baseline ahead of the clock is replaced`),
      );
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

  /**
   * Splits `delta` over [from, to] in slices on slice boundaries, in proportion to time, exactly. Each slice
   * starts at the register where the one before ended (`start` for the first).
   */
  private slices(
    reading: Reading,
    from: number,
    to: number,
    delta: bigint,
    scale: number,
    estimated: boolean,
    start: number,
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
    let register = start;
    for (let i = 1; i < bounds.length; i += 1) {
      const end = bounds[i]!;
      // Cumulative allocation: every slice's share is floor(delta * elapsed / span) minus what went before,
      // so the shares add up to the delta exactly.
      const cumulative = i === bounds.length - 1 ? delta : (delta * BigInt(end - from)) / total;
      const share = cumulative - allocated;
      allocated = cumulative;
      const start = bounds[i - 1]!;
      const piece = consumption(extend(reading, { ts: end }), start, end, share, scale, estimated, register);
      if (i < bounds.length - 1) {
        // The value is what the register probably showed at the slice's end.
        piece.value = Number(formatScaled(toUnits(reading.value, scale) - delta + cumulative, scale));
      }
      register = piece.value;
      out.push(piece);
    }
    // Slices of no consumption are left out; the next one starts where the last kept one ended.
    const kept = out.filter((piece, index) => piece.delta !== 0 || index === out.length - 1);
    for (let i = 1; i < kept.length; i += 1) kept[i]!.start = kept[i - 1]!.value;
    return kept;
  }
}

const RUN_ALARMS: Record<TimeRun['kind'], MeterEventType> = {
  future: 'future-reading',
  stale: 'stale-readings',
  gap: 'gap-held',
};

/** A reading without a value: nothing was read, and none is made up. */
function missingReading(meter: MeterInfo, ts: number, quality: MissingReading['quality']): MissingReading {
  const reading: MissingReading = {
    meterId: meter.meterId,
    utility: meter.utility,
    unit: meter.unit,
    ts,
    quality,
  };
  if (meter.accountId !== undefined) reading.accountId = meter.accountId;
  return reading;
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
  start: number,
): Consumption {
  const out: Consumption = extend(reading, {
    ts: to,
    delta: Number(formatScaled(delta, scale)),
    from,
    to,
    readingId: `${reading.meterId}:${to}`,
    start,
  });
  if (estimated) out.estimated = true;
  return out;
}

/** A meter event in the contract's shape (also for the events the meter reader raises itself). */
export function event(
  meter: EventSubject,
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
  if (out.utility === undefined) delete out.utility;
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

/** "3 days" ahead; far beyond any duration, in years. */
function ahead(ms: number): string {
  return ms >= 1000 * DAY_MS ? `${Math.round(ms / (365.25 * DAY_MS))} years` : duration(ms);
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
