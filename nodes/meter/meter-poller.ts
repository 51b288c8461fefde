/**
 * Reads one meter through a Modbus link: the profile's values merged into blocks, each block one request,
 * each value decoded and scaled. Every meter starts with its profile's shared plan. The first Modbus
 * exception a meter answers gives it a plan of its own (nodes/core/meter/read-plan.ts) that learns what the
 * device serves: refused blocks are narrowed in the same poll, refused optional values dropped (and tried
 * again daily), the counter read on its own if need be.
 *
 * A poll fails (throws) only when the device did not answer: a timeout, a link down, a unit backed off, or a
 * gateway saying the device behind it did not respond. A Modbus exception is an answer and comes back in
 * the result.
 */
import { planBlocks, type ReadBlock, type Span } from '../core/meter/block-plan';
import type { MeterProfile } from '../core/meter/profile';
import { MeterReadPlan, type BlockAnswer, type PlanReadResult } from '../core/meter/read-plan';
import { applyScale, decodeValue } from '../core/meter/registers';
import type { ModbusLink } from '../modbus/modbus-link';
import { ModbusExceptionError } from '../modbus/transport';

export type PollResult = PlanReadResult;

export interface PollerOptions {
  maxGap: number;
  /** How long a value the device refused stays out of the plan before it is tried again (default a day). */
  retryMs?: number;
}

const DAY_MS = 86_400_000;

export class MeterPoller {
  /** The profiles' plans, shared by every meter that has answered no exception. */
  private readonly plans = new Map<string, ReadBlock[]>();
  /** Meters (unit and profile) with a plan of their own. */
  private readonly learned = new Map<string, MeterReadPlan>();

  constructor(private readonly options: PollerOptions) {}

  /** The requests the next poll of this meter makes. */
  plan(profile: MeterProfile, unitId: number): ReadBlock[] {
    return this.learnedPlan(profile, unitId)?.blocks() ?? this.shared(profile);
  }

  /** What a meter's own plan has learned: the values it dropped (undefined: the shared plan serves it). */
  learnedPlan(profile: MeterProfile, unitId: number): MeterReadPlan | undefined {
    // Most sites have no meter with a plan of its own: no key is built per poll then.
    return this.learned.size === 0 ? undefined : this.learned.get(keyOf(profile, unitId));
  }

  async poll(link: ModbusLink, unitId: number, profile: MeterProfile, now = Date.now()): Promise<PollResult> {
    const own = this.learnedPlan(profile, unitId);
    if (own) return own.read(readerFor(link, unitId), now);
    const values: Record<string, number> = {};
    let requests = 0;
    for (const block of this.shared(profile)) {
      let words: number[];
      try {
        requests += 1;
        words = await link.read(unitId, block.function, block.address, block.length);
      } catch (error) {
        if (!(error instanceof ModbusExceptionError)) throw error;
        // The device answers, but not to everything the profile lists: from now on it has a plan of its own,
        // which reads this poll again from the start (a few requests, once).
        const plan = new MeterReadPlan(
          profile,
          { maxGap: this.options.maxGap, retryMs: this.retryMs },
          this.shared(profile),
        );
        this.learned.set(keyOf(profile, unitId), plan);
        const result = await plan.read(readerFor(link, unitId), now);
        result.requests += requests;
        return result;
      }
      for (const item of block.items)
        values[item.value.name] = applyScale(decodeValue(words, item.offset, item.value), item.value.scale);
    }
    return {
      values,
      counter: profile.counter ? values[profile.counter.name] : undefined,
      requests,
      dropped: [],
      restored: [],
      faults: [],
    };
  }

  private get retryMs(): number {
    return this.options.retryMs ?? DAY_MS;
  }

  private shared(profile: MeterProfile): ReadBlock[] {
    let plan = this.plans.get(profile.id);
    if (!plan) {
      plan = planBlocks(profile.values, { maxGap: this.options.maxGap });
      this.plans.set(profile.id, plan);
    }
    return plan;
  }
}

function keyOf(profile: MeterProfile, unitId: number): string {
  return `${unitId}:${profile.id}`;
}

/** Link reads as the plan wants them: an exception is an answer; anything else (no answer) is thrown. */
function readerFor(link: ModbusLink, unitId: number): (span: Span) => Promise<BlockAnswer> {
  return async (span) => {
    try {
      return await link.read(unitId, span.function, span.address, span.length);
    } catch (error) {
      if (error instanceof ModbusExceptionError) return { exception: error.code };
      throw error;
    }
  };
}
