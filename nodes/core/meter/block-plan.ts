/**
 * Merges the values a profile needs into as few Modbus requests as the protocol allows. Every request has
 * a fixed cost (turnaround, framing, on RTU the 3.5-character silences), so reading a few unused registers
 * between two values is cheaper than a second request; `maxGap` says how many.
 *
 * A device may refuse a block (exception 2, illegal data address): it lacks one of the values (a meter variant,
 * older firmware) or it refuses to read through registers it does not define. `splitBlock` narrows such a
 * block (first into runs without gaps, then into halves, down to single values), and `avoid` keeps every span
 * the device refused out of later plans: a block that contains a refused span would be refused again.
 */
import type { ReadFunction, ValueDef } from './profile';

/** Protocol limits per request: 125 registers (function 3/4), 2,000 coils or inputs (function 1/2). */
export const MAX_REGISTERS_PER_READ = 125;
export const MAX_BITS_PER_READ = 2000;

export interface BlockItem {
  value: ValueDef;
  /** Index of the value's first register (or bit) inside the block. */
  offset: number;
}

export interface ReadBlock {
  function: ReadFunction;
  address: number;
  length: number;
  items: BlockItem[];
}

/** The registers (or bits) one request covers. */
export interface Span {
  function: ReadFunction;
  address: number;
  length: number;
}

export interface PlanOptions {
  /** Unused registers that may be read through to join two values into one request. */
  maxGap?: number;
  maxRegisters?: number;
  /** Spans the device refused: no block of the plan contains one of them. */
  avoid?: readonly Span[];
}

/** Whether the registers [address, end) of function `fn` take in all of a refused span. */
function containsAny(avoid: readonly Span[], fn: ReadFunction, address: number, end: number): boolean {
  for (const span of avoid)
    if (span.function === fn && span.address >= address && span.address + span.length <= end) return true;
  return false;
}

/**
 * Values into blocks, greedily in address order: a value joins the block before it while the gap, the length
 * limit and the refused spans allow. Each condition holds for any part of a block that meets it, so the greedy
 * plan is also the one with the fewest blocks.
 */
export function planBlocks(values: readonly ValueDef[], options: PlanOptions = {}): ReadBlock[] {
  const maxGap = options.maxGap ?? 64;
  const avoid = options.avoid ?? [];
  const blocks: ReadBlock[] = [];
  const byFunction = new Map<ReadFunction, ValueDef[]>();
  for (const value of values) {
    const list = byFunction.get(value.function) ?? [];
    list.push(value);
    byFunction.set(value.function, list);
  }
  for (const fn of [...byFunction.keys()].sort()) {
    const limit =
      fn <= 2
        ? MAX_BITS_PER_READ
        : Math.min(options.maxRegisters ?? MAX_REGISTERS_PER_READ, MAX_REGISTERS_PER_READ);
    const sorted = [...byFunction.get(fn)!].sort((a, b) => a.address - b.address || b.length - a.length);
    let current: ReadBlock | undefined;
    for (const value of sorted) {
      const end = value.address + value.length;
      if (current) {
        const currentEnd = current.address + current.length;
        const gap = value.address - currentEnd;
        const joinedEnd = Math.max(end, currentEnd);
        if (
          gap <= maxGap &&
          joinedEnd - current.address <= limit &&
          (avoid.length === 0 || !containsAny(avoid, fn, current.address, joinedEnd))
        ) {
          current.length = joinedEnd - current.address;
          current.items.push({ value, offset: value.address - current.address });
          continue;
        }
      }
      current = { function: fn, address: value.address, length: value.length, items: [{ value, offset: 0 }] };
      blocks.push(current);
    }
  }
  return blocks;
}

/** The requests a naive poller makes: one per value. The benchmark's baseline. */
export function planPerValue(values: readonly ValueDef[]): ReadBlock[] {
  return values.map((value) => ({
    function: value.function,
    address: value.address,
    length: value.length,
    items: [{ value, offset: 0 }],
  }));
}

/** A block of these items: from the first item's first register to the furthest end among them. */
function blockOf(fn: ReadFunction, items: readonly BlockItem[], from: number): ReadBlock {
  const address = items[0]!.value.address;
  let end = address;
  for (const item of items) end = Math.max(end, item.value.address + item.value.length);
  return {
    function: fn,
    address,
    length: end - address,
    items: items.map((item) => ({ value: item.value, offset: from + item.offset - address })),
  };
}

/** Whether a block reads through registers that none of its values occupies. */
export function hasGaps(block: ReadBlock): boolean {
  let end = block.address;
  for (const item of block.items) {
    if (block.address + item.offset > end) return true;
    end = Math.max(end, block.address + item.offset + item.value.length);
  }
  return false;
}

/**
 * The next step of narrowing a block the device refused: a block with gaps becomes its runs without gaps
 * (a device that refuses to read through undefined registers serves each run); a block without gaps becomes
 * two halves. A single value cannot be split: empty.
 */
export function splitBlock(block: ReadBlock): ReadBlock[] {
  const items = [...block.items].sort((a, b) => a.offset - b.offset);
  if (items.length < 2) return [];
  if (hasGaps(block)) {
    const runs: BlockItem[][] = [];
    let end = -1;
    for (const item of items) {
      const run = runs[runs.length - 1];
      if (run && item.offset <= end) run.push(item);
      else runs.push([item]);
      end = Math.max(end, item.offset + item.value.length);
    }
    return runs.map((run) => blockOf(block.function, run, block.address));
  }
  const half = Math.ceil(items.length / 2);
  return [items.slice(0, half), items.slice(half)].map((part) =>
    blockOf(block.function, part, block.address),
  );
}
