/**
 * Partial devices for the tests: for each built-in metering profile, a pymodbus unit that serves the maker's
 * documented billing counter (and for some profiles one or two more values) and nothing else, as meter
 * variants and older firmware do. Every other register answers exception 2 (illegal data address).
 *
 * The counter words are written by hand from the makers' maps, twice: a first value and a later one, with
 * the exact consumption between them.
 */
import type { RegisterImage, RegisterTable } from './modbus-peers';

export interface PartialMeter {
  profile: string;
  unitId: number;
  utility: 'electricity' | 'water' | 'cooling';
  /** Where the counter lives (protocol address) and its words before and after some consumption. */
  counter: { table: RegisterTable; address: number; before: number[]; after: number[] };
  /** The counter as decoded and scaled, before and after, and the exact delta the meter must bill. */
  values: { before: number; after: number; delta: number };
  /** Other values the device does serve, by profile value name: protocol address and words. */
  extras: Record<string, { address: number; words: number[] }>;
}

export const PARTIAL_METERS: PartialMeter[] = [
  {
    // Eastron SDM630 Modbus V2: Total import kWh 30073 (address 72), float32 high word first; frequency 30071.
    profile: 'eastron-sdm630',
    unitId: 11,
    utility: 'electricity',
    counter: { table: 'ir', address: 72, before: [0x449a, 0x5000], after: [0x449a, 0x6800] },
    values: { before: 1234.5, after: 1235.25, delta: 0.75 },
    extras: { frequency: { address: 70, words: [0x4248, 0x0000] } },
  },
  {
    // Eastron SDM120 Modbus: Total import kWh 30073 (address 72), float32; nothing else served.
    profile: 'eastron-sdm120',
    unitId: 12,
    utility: 'electricity',
    counter: { table: 'ir', address: 72, before: [0x4640, 0xe400], after: [0x4640, 0xe600] },
    values: { before: 12345, after: 12345.5, delta: 0.5 },
    extras: {},
  },
  {
    // Eastron SDM72D-M V2: import kWh 30073 and total kWh 30343 (address 342).
    profile: 'eastron-sdm72',
    unitId: 13,
    utility: 'electricity',
    counter: { table: 'ir', address: 72, before: [0x4480, 0x0000], after: [0x4480, 0x2000] },
    values: { before: 1024, after: 1025, delta: 1 },
    extras: { totalEnergy: { address: 342, words: [0x4480, 0x4000] } },
  },
  {
    // Carlo Gavazzi EM340: kWh (+) TOT 0034h, INT32 least significant word first, x0.1; V L1-N 0000h.
    profile: 'carlo-gavazzi-em340',
    unitId: 14,
    utility: 'electricity',
    counter: { table: 'ir', address: 52, before: [0xd687, 0x0012], after: [0xd694, 0x0012] },
    values: { before: 123456.7, after: 123458, delta: 1.3 },
    extras: { voltageL1: { address: 0, words: [0x08fc, 0x0000] } },
  },
  {
    // Schneider iEM3000: Total active energy import, register 3204 (address 3203), INT64 Wh.
    profile: 'schneider-iem3000',
    unitId: 15,
    utility: 'electricity',
    counter: {
      table: 'hr',
      address: 3203,
      before: [0, 0, 0x05e3, 0x0a78],
      after: [0, 0, 0x05e3, 0x0f5a],
    },
    values: { before: 98765.432, after: 98766.682, delta: 1.25 },
    extras: {},
  },
  {
    // Hiking DDS238-2: import energy 000Ah, uint32 high word first, x0.01 kWh; voltage 000Ch x0.1.
    profile: 'hiking-dds238-2',
    unitId: 16,
    utility: 'electricity',
    counter: { table: 'hr', address: 10, before: [0x0001, 0xe240], after: [0x0001, 0xe26c] },
    values: { before: 1234.56, after: 1235, delta: 0.44 },
    extras: { voltage: { address: 12, words: [2301] } },
  },
  {
    // ONICON System-10 MOD: energy total 40026-40028 (holding 25-27), kBtu, MBtu, GBtu, kBtu first.
    profile: 'onicon-system-10',
    unitId: 17,
    utility: 'cooling',
    counter: { table: 'hr', address: 25, before: [500, 15, 111], after: [600, 15, 111] },
    // 111,015,500 and 111,015,600 kBtu x 0.29307107 kWh/kBtu
    values: { before: 32535431.371585, after: 32535460.678692, delta: 29.307107 },
    extras: {},
  },
  {
    // iSMA SFAR-1M-4DI: counter 1 at 40053 (address 52), uint32 low word first, 1 L per pulse.
    profile: 'pulse-counter',
    unitId: 18,
    utility: 'water',
    counter: { table: 'hr', address: 52, before: [0x86a0, 0x0001], after: [0x8a88, 0x0001] },
    values: { before: 100, after: 101, delta: 1 },
    extras: { counter2: { address: 54, words: [0x0010, 0x0000] } },
  },
];

/** One sparse unit per partial meter: the counter (its first value) and the extras, nothing else. */
export function partialImage(meters: readonly PartialMeter[] = PARTIAL_METERS): RegisterImage {
  const units: RegisterImage['units'] = {};
  for (const meter of meters) {
    const table: Record<string, number[]> = { [meter.counter.address]: meter.counter.before };
    for (const extra of Object.values(meter.extras)) table[extra.address] = extra.words;
    units[String(meter.unitId)] = { sparse: true, [meter.counter.table]: table };
  }
  return { units };
}
