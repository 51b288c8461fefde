/**
 * Reads one meter through a Modbus link: the profile's values merged into blocks, each block one request,
 * each value decoded and scaled. A device that refuses a merged block with "illegal data address" (some
 * meters reject reads across registers they do not define) is remembered and read value by value-group
 * with no gaps from then on.
 */
import { planBlocks, type ReadBlock } from '../core/meter/block-plan';
import type { MeterProfile } from '../core/meter/profile';
import { applyScale, decodeValue } from '../core/meter/registers';
import type { ModbusLink } from '../modbus/modbus-link';
import { ModbusExceptionError } from '../modbus/transport';

export interface PollResult {
  /** Every value of the profile, scaled, by name. */
  values: Record<string, number>;
  /** The profile's counter value (what is billed). */
  counter: number | undefined;
  requests: number;
}

export interface PollerOptions {
  maxGap: number;
}

export class MeterPoller {
  private readonly plans = new Map<string, ReadBlock[]>();
  /** Profile ids (per unit) that refused gap reads. */
  private readonly strict = new Set<string>();

  constructor(private readonly options: PollerOptions) {}

  plan(profile: MeterProfile, unitId: number): ReadBlock[] {
    const strictKey = `${profile.id}@${unitId}`;
    const key = this.strict.has(strictKey) ? `${strictKey}:strict` : profile.id;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = planBlocks(profile.values, { maxGap: this.strict.has(strictKey) ? 0 : this.options.maxGap });
      this.plans.set(key, plan);
    }
    return plan;
  }

  async poll(link: ModbusLink, unitId: number, profile: MeterProfile): Promise<PollResult> {
    const values: Record<string, number> = {};
    let requests = 0;
    for (const block of this.plan(profile, unitId)) {
      let words: number[];
      try {
        requests += 1;
        words = await link.read(unitId, block.function, block.address, block.length);
      } catch (error) {
        if (error instanceof ModbusExceptionError && error.code === 2 && block.items.length > 1) {
          const strictKey = `${profile.id}@${unitId}`;
          if (!this.strict.has(strictKey)) {
            // Read through no gaps from now on; this cycle's values come from the next poll.
            this.strict.add(strictKey);
          }
        }
        throw error;
      }
      for (const item of block.items) {
        const raw = decodeValue(words, item.offset, item.value);
        values[item.value.name] = applyScale(raw, item.value.scale);
      }
    }
    return { values, counter: profile.counter ? values[profile.counter.name] : undefined, requests };
  }
}
