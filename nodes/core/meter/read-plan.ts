/**
 * What one meter's device serves, learned from its answers. A profile lists every value a kind of meter
 * can have; a real device (a variant, older firmware) may refuse some of them with exception 2 (illegal data
 * address), and some devices refuse any read through registers they do not define. Neither may stop billing.
 *
 * A refused block is narrowed at once, in the same poll (runs without gaps, then halves, down to single
 * values), so the values the device serves are read and the refused ones are identified. A refused optional
 * value is dropped from the plan and tried again, alone, once a day of building time. The billed counter is
 * never dropped: it is read every poll, alone if need be, and a refusal of it is reported for an alarm. Spans
 * the device refused are remembered, so the next plan merges the served values into as few requests as the
 * device allows and does not ask for a refused span again.
 *
 * Pure: the reads go through a function the caller gives, which answers the words, or the exception code
 * the device answered, and throws when there was no answer (timeout, link down): a poll without answers is
 * communication loss, and that is the caller's to judge.
 */
import { hasGaps, planBlocks, splitBlock, type ReadBlock, type Span } from './block-plan';
import type { MeterProfile, ValueDef } from './profile';
import { applyScale, decodeValue } from './registers';

/** The device's answer to one request: the words read, or the Modbus exception code it answered with. */
export type BlockAnswer = number[] | { exception: number };
export type BlockReader = (span: Span) => Promise<BlockAnswer>;

/** Exceptions that narrow a block: 2, illegal data address; 3, illegal data value (some devices answer it
 * to a read longer or wider than they take). Other codes (device failure, busy...) are faults of the moment. */
const NARROWING = new Set([2, 3]);

export interface ReadPlanOptions {
  maxGap: number;
  /** How long (ms of building time) a refused value stays out of the plan before it is tried again. */
  retryMs: number;
}

/** A value the device refused on its own. */
export interface Refusal {
  value: ValueDef;
  code: number;
  span: Span;
}

/** A request the device refused with an exception that does not narrow: its values are missing this poll. */
export interface BlockFault {
  span: Span;
  code: number;
  values: string[];
}

export interface PlanReadResult {
  /** The values read, scaled, by name. */
  values: Record<string, number>;
  /** The billed counter, when the device answered it. */
  counter: number | undefined;
  /** The device refused the counter: the exception and the request. */
  counterRefused?: { code: number; span: Span };
  requests: number;
  /** Optional values dropped from the plan in this poll: refused on their own. */
  dropped: Refusal[];
  /** Dropped values tried again and served now: back in the plan. */
  restored: ValueDef[];
  /** Requests refused with another exception (the values are missing this poll, the plan stays). */
  faults: BlockFault[];
}

interface DroppedValue {
  code: number;
  retryAt: number;
}

export function spanOf(block: Span): Span {
  return { function: block.function, address: block.address, length: block.length };
}

export class MeterReadPlan {
  /** The values in the plan: the profile's own list until one is dropped (a site has thousands of meters). */
  private active: readonly ValueDef[];
  private readonly dropped = new Map<string, DroppedValue>();
  private readonly avoid: Span[] = [];
  /** The device refuses reads through registers it does not define: plan without gaps. */
  private gapless = false;
  private plan: ReadBlock[] | undefined;

  /** `shared`: the profile's plan, used as is until this device refuses something in it. */
  constructor(
    private readonly profile: MeterProfile,
    private readonly options: ReadPlanOptions,
    shared?: ReadBlock[],
  ) {
    this.active = profile.values;
    this.plan = shared;
  }

  /** The requests of the next poll. */
  blocks(): ReadBlock[] {
    this.plan ??= planBlocks(this.active, {
      maxGap: this.gapless ? 0 : this.options.maxGap,
      avoid: this.avoid,
    });
    return this.plan;
  }

  /** Names of the values out of the plan, with the exception each was refused with. */
  droppedValues(): Array<{ name: string; code: number; retryAt: number }> {
    return [...this.dropped].map(([name, dropped]) => ({
      name,
      code: dropped.code,
      retryAt: dropped.retryAt,
    }));
  }

  get readsWithoutGaps(): boolean {
    return this.gapless;
  }

  async read(reader: BlockReader, now: number): Promise<PlanReadResult> {
    const result: PlanReadResult = {
      values: {},
      counter: undefined,
      requests: 0,
      dropped: [],
      restored: [],
      faults: [],
    };
    await this.retryDropped(reader, now, result);
    for (const block of this.blocks()) await this.readBlock(block, reader, now, result);
    const counter = this.profile.counter;
    if (counter && result.values[counter.name] === undefined && !result.counterRefused) {
      // The counter's block failed for another reason (device busy, device failure): the counter alone may
      // still be served, and billing depends on it.
      result.requests += 1;
      const answer = await reader(spanOf(counter));
      if (Array.isArray(answer)) decodeInto(counter, answer, result.values);
      else result.counterRefused = { code: answer.exception, span: spanOf(counter) };
    }
    if (counter) result.counter = result.values[counter.name];
    return result;
  }

  private async retryDropped(reader: BlockReader, now: number, result: PlanReadResult): Promise<void> {
    for (const [name, dropped] of this.dropped) {
      if (dropped.retryAt > now) continue;
      const value = this.profile.values.find((candidate) => candidate.name === name)!;
      result.requests += 1;
      const answer = await reader(spanOf(value));
      if (!Array.isArray(answer)) {
        dropped.retryAt = now + this.options.retryMs;
        continue;
      }
      decodeInto(value, answer, result.values);
      this.dropped.delete(name);
      this.active = this.profile.values.filter((candidate) => !this.dropped.has(candidate.name));
      // Spans refused because of it may be served now; any that is not is learned again.
      for (let i = this.avoid.length - 1; i >= 0; i -= 1) {
        const span = this.avoid[i]!;
        if (
          span.function === value.function &&
          span.address <= value.address &&
          span.address + span.length >= value.address + value.length
        )
          this.avoid.splice(i, 1);
      }
      this.plan = undefined;
      result.restored.push(value);
    }
  }

  private async readBlock(
    block: ReadBlock,
    reader: BlockReader,
    now: number,
    result: PlanReadResult,
  ): Promise<void> {
    result.requests += 1;
    const answer = await reader(spanOf(block));
    if (Array.isArray(answer)) {
      for (const item of block.items) decodeInto(item.value, answer, result.values, item.offset);
      return;
    }
    const code = answer.exception;
    if (!NARROWING.has(code)) {
      result.faults.push({ span: spanOf(block), code, values: block.items.map((item) => item.value.name) });
      return;
    }
    if (block.items.length === 1) {
      const value = block.items[0]!.value;
      if (value === this.profile.counter) {
        result.counterRefused = { code, span: spanOf(block) };
        return;
      }
      this.dropped.set(value.name, { code, retryAt: now + this.options.retryMs });
      this.active = this.active.filter((candidate) => candidate !== value);
      // No block may read through it either (a device that serves gaps still refuses its registers).
      this.avoid.push(spanOf(block));
      this.plan = undefined;
      result.dropped.push({ value, code, span: spanOf(block) });
      return;
    }
    this.avoid.push(spanOf(block));
    this.plan = undefined;
    for (const part of splitBlock(block)) await this.readBlock(part, reader, now, result);
    // Every value of a block with gaps was served without them: the gaps were what the device refused.
    if (
      code === 2 &&
      hasGaps(block) &&
      block.items.every((item) => result.values[item.value.name] !== undefined)
    )
      this.gapless = true;
  }
}

function decodeInto(value: ValueDef, words: number[], into: Record<string, number>, offset = 0): void {
  into[value.name] = applyScale(decodeValue(words, offset, value), value.scale);
}
