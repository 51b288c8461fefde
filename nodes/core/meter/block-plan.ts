/**
 * Merges the values a profile needs into as few Modbus requests as the protocol allows. Every request has
 * a fixed cost (turnaround, framing, on RTU the 3.5-character silences), so reading a few unused registers
 * between two values is cheaper than a second request; `maxGap` says how many. A device that refuses a
 * read spanning registers it does not define (exception 2) gets a plan with `maxGap` 0.
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

export interface PlanOptions {
  /** Unused registers that may be read through to join two values into one request. */
  maxGap?: number;
  maxRegisters?: number;
}

export function planBlocks(values: readonly ValueDef[], options: PlanOptions = {}): ReadBlock[] {
  const maxGap = options.maxGap ?? 64;
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
        if (gap <= maxGap && Math.max(end, currentEnd) - current.address <= limit) {
          current.length = Math.max(end, currentEnd) - current.address;
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
