/**
 * Modbus register words <-> numbers. A Modbus register is a 16-bit word sent high byte first; values wider
 * than one register are spread over consecutive registers, and makers disagree on the order. `wordOrder`
 * says where the most significant word sits (big: at the lowest address, as Eastron and Schneider do;
 * little: last, as Carlo Gavazzi does) and `byteOrder` whether the two bytes inside each register are
 * swapped (little) as a few gateways do.
 *
 * `base1000x2` and `base1000x3` are the totals of BTU meters such as the Onicon System-10: two or three
 * registers where every register but the most significant counts 0-999 and the next one counts thousands
 * of it; the most significant register is a plain uint16 and rolls over at 65,536.
 */

export const DATA_TYPES = [
  'int16',
  'uint16',
  'int32',
  'uint32',
  'float32',
  'float64',
  'int64',
  'uint64',
  'base1000x2',
  'base1000x3',
  'bool',
] as const;
export type DataType = (typeof DATA_TYPES)[number];
export type Endianness = 'big' | 'little';

export interface Encoding {
  type: DataType;
  wordOrder: Endianness;
  byteOrder: Endianness;
}

/** Registers (16-bit words) a value of this type occupies; a bool occupies one coil or input. */
export function registerCount(type: DataType): number {
  switch (type) {
    case 'int16':
    case 'uint16':
    case 'bool':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
    case 'base1000x2':
      return 2;
    case 'base1000x3':
      return 3;
    default:
      return 4;
  }
}

/** Puts `words` (as read from the wire) into one big-endian byte buffer, most significant byte first. */
function toBigEndianBytes(words: ArrayLike<number>, offset: number, count: number, enc: Encoding): Buffer {
  const bytes = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i += 1) {
    const word = words[offset + (enc.wordOrder === 'big' ? i : count - 1 - i)] ?? 0;
    const high = (word >> 8) & 0xff;
    const low = word & 0xff;
    bytes[i * 2] = enc.byteOrder === 'big' ? high : low;
    bytes[i * 2 + 1] = enc.byteOrder === 'big' ? low : high;
  }
  return bytes;
}

function fromBigEndianBytes(bytes: Buffer, enc: Encoding): number[] {
  const count = bytes.length / 2;
  const words = new Array<number>(count);
  for (let i = 0; i < count; i += 1) {
    const high = bytes[i * 2]!;
    const low = bytes[i * 2 + 1]!;
    const word = enc.byteOrder === 'big' ? (high << 8) | low : (low << 8) | high;
    words[enc.wordOrder === 'big' ? i : count - 1 - i] = word;
  }
  return words;
}

const SCRATCH = new ArrayBuffer(4);
const SCRATCH_U32 = new Uint32Array(SCRATCH);
const SCRATCH_I32 = new Int32Array(SCRATCH);
const SCRATCH_F32 = new Float32Array(SCRATCH);

function wordAt(words: ArrayLike<number>, index: number, enc: Encoding): number {
  const word = (words[index] ?? 0) & 0xffff;
  return enc.byteOrder === 'big' ? word : ((word & 0xff) << 8) | (word >> 8);
}

/**
 * Decodes one value. 64-bit integers beyond 2^53 lose precision as numbers; an energy register in Wh
 * reaches 2^53 only after about 10^12 kWh, so this is documented rather than carried as bigint.
 */
export function decodeValue(words: ArrayLike<number>, offset: number, enc: Encoding): number {
  if (enc.type === 'bool') return (words[offset] ?? 0) !== 0 ? 1 : 0;
  if (enc.type === 'base1000x2' || enc.type === 'base1000x3') return decodeBase1000(words, offset, enc);
  // The common 16- and 32-bit cases without a Buffer: thousands of values per poll cycle.
  if (enc.type === 'uint16' || enc.type === 'int16') {
    const word = wordAt(words, offset, enc);
    return enc.type === 'int16' && word > 0x7fff ? word - 0x10000 : word;
  }
  if (enc.type === 'uint32' || enc.type === 'int32' || enc.type === 'float32') {
    const first = wordAt(words, offset, enc);
    const second = wordAt(words, offset + 1, enc);
    const high = enc.wordOrder === 'big' ? first : second;
    const low = enc.wordOrder === 'big' ? second : first;
    SCRATCH_U32[0] = ((high << 16) | low) >>> 0;
    if (enc.type === 'uint32') return SCRATCH_U32[0];
    if (enc.type === 'int32') return SCRATCH_I32[0]!;
    return shortestFloat32(SCRATCH_F32[0]!);
  }
  const bytes = toBigEndianBytes(words, offset, registerCount(enc.type), enc);
  switch (enc.type) {
    case 'float64':
      return bytes.readDoubleBE(0);
    case 'int64':
      return Number(bytes.readBigInt64BE(0));
    case 'uint64':
      return Number(bytes.readBigUInt64BE(0));
  }
}

/** Encodes a value into registers (used by the simulator and for register writes). */
export function encodeValue(value: number, enc: Encoding): number[] {
  if (enc.type === 'bool') return [value ? 1 : 0];
  if (enc.type === 'base1000x2' || enc.type === 'base1000x3') return encodeBase1000(value, enc);
  const bytes = Buffer.alloc(registerCount(enc.type) * 2);
  switch (enc.type) {
    case 'int16':
      bytes.writeInt16BE(clampInt(value, -0x8000, 0x7fff), 0);
      break;
    case 'uint16':
      bytes.writeUInt16BE(clampInt(value, 0, 0xffff), 0);
      break;
    case 'int32':
      bytes.writeInt32BE(clampInt(value, -0x80000000, 0x7fffffff), 0);
      break;
    case 'uint32':
      bytes.writeUInt32BE(clampInt(value, 0, 0xffffffff), 0);
      break;
    case 'float32':
      bytes.writeFloatBE(value, 0);
      break;
    case 'float64':
      bytes.writeDoubleBE(value, 0);
      break;
    case 'int64':
      bytes.writeBigInt64BE(BigInt(Math.round(value)), 0);
      break;
    case 'uint64':
      bytes.writeBigUInt64BE(BigInt(Math.max(0, Math.round(value))), 0);
      break;
  }
  return fromBigEndianBytes(bytes, enc);
}

/** Registers from least to most significant, honouring the word order (little: least significant first). */
function decodeBase1000(words: ArrayLike<number>, offset: number, enc: Encoding): number {
  const count = registerCount(enc.type);
  let total = 0;
  for (let i = count - 1; i >= 0; i -= 1) {
    const index = enc.wordOrder === 'little' ? offset + i : offset + count - 1 - i;
    let word = words[index] ?? 0;
    if (enc.byteOrder === 'little') word = ((word & 0xff) << 8) | ((word >> 8) & 0xff);
    total = total * 1000 + word;
  }
  return total;
}

function encodeBase1000(value: number, enc: Encoding): number[] {
  const count = registerCount(enc.type);
  let rest = Math.max(0, Math.floor(value));
  const digits: number[] = [];
  for (let i = 0; i < count; i += 1) {
    digits.push(i === count - 1 ? rest % 65536 : rest % 1000);
    rest = Math.floor(rest / 1000);
  }
  const ordered = enc.wordOrder === 'little' ? digits : digits.reverse();
  return enc.byteOrder === 'little'
    ? ordered.map((word) => ((word & 0xff) << 8) | ((word >> 8) & 0xff))
    : ordered;
}

function clampInt(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(value)));
}

/**
 * The shortest decimal that reads back as the same float32. A float32 register holding 1234.57 kWh decodes
 * to 1234.5699462890625 as a double; carrying that artefact into deltas would invent consumption digits
 * the meter never had.
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const single = Math.fround(value);
  const magnitude = Math.abs(single);
  // The decimal exponent of the leading digit, looked up in a table (with Math.log10 the whole conversion
  // took twice as long): it can be one off next to a power of ten, and exact comparisons settle it.
  let exponent = decadeOf(magnitude);
  if (exponent < MIN_EXPONENT - 1 || exponent > MAX_EXPONENT + 1) return shortestByText(single);
  const scaled = exponent >= 0 ? magnitude / POWERS[exponent]! : magnitude * POWERS[-exponent]!;
  if (scaled < 1) exponent -= 1;
  else if (scaled >= 10) exponent += 1;
  if (exponent < MIN_EXPONENT || exponent > MAX_EXPONENT) return shortestByText(single);
  // Most meter values (volts, amps, kWh, power factors) are here: the same search with arithmetic.
  const seven = fits(single, exponent, 7);
  let low = seven ? 1 : 8;
  let high = seven ? 7 : 9;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (fits(single, exponent, mid)) high = mid;
    else low = mid + 1;
  }
  return rounded(single, exponent, low);
}

/**
 * Scaling a float32 (a 24-bit mantissa) by 10^k, |k| <= 12, leaves it so far from any other half-integer
 * (at least 2^-24 of it) that the one rounding of the product or quotient cannot move it across one (at
 * most 2^-53): Math.round then takes the n that toPrecision takes (both the larger on a tie), and n / 10^k or
 * n * 10^-k is the correctly rounded double of that decimal, as Number() of toPrecision's text is. Exponents
 * MIN_EXPONENT..MAX_EXPONENT keep k = p - 1 - exponent within 12 for every p in 1..9.
 */
const MAX_SCALE = 12;
const MIN_EXPONENT = 8 - MAX_SCALE;
const MAX_EXPONENT = MAX_SCALE;
const POWERS = Array.from({ length: MAX_SCALE + 2 }, (_, k) => 10 ** k);

/**
 * 10^e for e from MIN_EXPONENT - 1 to MAX_EXPONENT + 2 (the negative ones as doubles, so a comparison with
 * one can be one decade off).
 */
const DECADES = Array.from(
  { length: MAX_EXPONENT - MIN_EXPONENT + 4 },
  (_, i) => 10 ** (i + MIN_EXPONENT - 1),
);

/**
 * floor(log10(magnitude)), give or take one, for magnitudes between DECADES' ends; below them
 * MIN_EXPONENT - 2, above them MAX_EXPONENT + 2 (out of range either way).
 */
function decadeOf(magnitude: number): number {
  let low = 0;
  let high = DECADES.length - 1;
  if (magnitude < DECADES[low]!) return MIN_EXPONENT - 2;
  if (magnitude >= DECADES[high]!) return MAX_EXPONENT + 2;
  // DECADES[low] <= magnitude < DECADES[high]
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (DECADES[mid]! <= magnitude) low = mid;
    else high = mid;
  }
  return low + MIN_EXPONENT - 1;
}

/** Whether `single` rounded to `digits` significant digits reads back as the same float32. */
function fits(single: number, exponent: number, digits: number): boolean {
  return Math.fround(rounded(single, exponent, digits)) === single;
}

/** `single` rounded to `digits` significant digits, as Number(single.toPrecision(digits)) (see POWERS). */
function rounded(single: number, exponent: number, digits: number): number {
  const k = digits - 1 - exponent;
  const magnitude = Math.abs(single);
  const n = k >= 0 ? Math.round(magnitude * POWERS[k]!) : Math.round(magnitude / POWERS[-k]!);
  const result = k >= 0 ? n / POWERS[k]! : n * POWERS[-k]!;
  return single < 0 ? -result : result;
}

/** The fewest significant digits (1..9) whose toPrecision reads back as the same float32. */
export function shortestByText(single: number): number {
  // If p significant digits read back as the same float32, so do p + 1: search the fewest in 1..9, starting
  // at 7 (where most meter values land), so two or three conversions do instead of four.
  const seven = Math.fround(Number(single.toPrecision(7))) === single;
  let low = seven ? 1 : 8;
  let high = seven ? 7 : 9;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (Math.fround(Number(single.toPrecision(mid))) === single) high = mid;
    else low = mid + 1;
  }
  return Number(single.toPrecision(low));
}

/** Applies a decimal scale (0.1, 0.001...) without binary artefacts: 12345 * 0.1 gives 1234.5, not 1234.5000000000002. */
export function applyScale(raw: number, scale: number): number {
  if (scale === 1) return raw;
  const scaled = raw * scale;
  if (!Number.isFinite(scaled)) return scaled;
  // The exact product has at most as many decimals as raw and scale together; round to those.
  const decimals = Math.min(15, decimalPlaces(raw) + decimalPlaces(scale));
  return Number(scaled.toFixed(decimals));
}

export function decimalPlaces(value: number): number {
  if (Number.isInteger(value)) return 0;
  const text = String(value);
  const exp = text.indexOf('e-');
  if (exp >= 0) {
    const mantissa = text.slice(0, exp);
    const dot = mantissa.indexOf('.');
    return Number(text.slice(exp + 2)) + (dot >= 0 ? mantissa.length - dot - 1 : 0);
  }
  const dot = text.indexOf('.');
  return dot >= 0 ? text.length - dot - 1 : 0;
}
