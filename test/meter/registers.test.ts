/**
 * Register decoding (nodes/core/meter/registers.ts): every data type in every word and byte order,
 * against byte layouts written out by hand from the makers' documents, and round trips.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyScale,
  decodeValue,
  encodeValue,
  registerCount,
  shortestByText,
  shortestFloat32,
  type DataType,
  type Encoding,
} from '../../dist/nodes/core/meter/registers';

const big: Omit<Encoding, 'type'> = { wordOrder: 'big', byteOrder: 'big' };

describe('register decoding', () => {
  it('reads an Eastron float32 (high word first): 0x4499 0x1EB8 is 1224.96', () => {
    // 1224.96 as IEEE 754 single is 0x44991EB8.
    assert.equal(decodeValue([0x4499, 0x1eb8], 0, { type: 'float32', ...big }), 1224.96);
  });

  it('reads a Carlo Gavazzi INT32 with the low word first: [0x5678, 0x1234] is 0x12345678', () => {
    assert.equal(
      decodeValue([0x5678, 0x1234], 0, { type: 'int32', wordOrder: 'little', byteOrder: 'big' }),
      0x12345678,
    );
  });

  it('reads a negative INT32 low word first (export power): [0xFFFE, 0xFFFF] is -2', () => {
    assert.equal(
      decodeValue([0xfffe, 0xffff], 0, { type: 'int32', wordOrder: 'little', byteOrder: 'big' }),
      -2,
    );
  });

  it('reads a Schneider INT64 Wh register: 0x0000 0x0000 0x0001 0x86A0 is 100000', () => {
    assert.equal(decodeValue([0, 0, 1, 0x86a0], 0, { type: 'int64', ...big }), 100000);
  });

  it('reads a byte-swapped register (gateways that swap bytes)', () => {
    assert.equal(decodeValue([0x3412], 0, { type: 'uint16', wordOrder: 'big', byteOrder: 'little' }), 0x1234);
  });

  it('reads int16 and uint16 from the same word differently', () => {
    assert.equal(decodeValue([0xffff], 0, { type: 'int16', ...big }), -1);
    assert.equal(decodeValue([0xffff], 0, { type: 'uint16', ...big }), 65535);
  });

  it('reads float64 at an offset inside a block', () => {
    const words = [9, 9, ...encodeValue(123456.789, { type: 'float64', ...big })];
    assert.equal(decodeValue(words, 2, { type: 'float64', ...big }), 123456.789);
  });

  it('gives float32 values their shortest decimal, not the binary artefact', () => {
    assert.equal(shortestFloat32(Math.fround(1234.57)), 1234.57);
    assert.equal(shortestFloat32(Math.fround(0.1)), 0.1);
    assert.notEqual(Math.fround(1234.57), 1234.57);
  });

  it('finds the shortest decimal with arithmetic exactly as toPrecision does, ties and powers of ten included', () => {
    const bits = new Uint32Array(1);
    const single = new Float32Array(bits.buffer);
    const values: number[] = [];
    // Every 16,411th float32 (about 260,000, every exponent), decimal ties, and the neighbours of powers of ten.
    for (let pattern = 0; pattern < 2 ** 32; pattern += 16411) {
      bits[0] = pattern;
      values.push(single[0]!);
    }
    for (let exponent = -12; exponent <= 14; exponent += 1) {
      for (let digit = 1; digit < 100; digit += 1) values.push((digit + 0.5) * 10 ** exponent);
      single[0] = 10 ** exponent;
      const at = bits[0]!;
      for (let step = -20; step <= 20; step += 1) {
        bits[0] = at + step;
        values.push(single[0]!);
      }
    }
    let differ = 0;
    for (const value of values) {
      const f = Math.fround(value);
      if (!Number.isFinite(f) || f === 0) continue;
      if (!Object.is(shortestFloat32(f), shortestByText(f))) differ += 1;
    }
    assert.equal(differ, 0);
  });

  it('scales without binary artefacts: 12345 x 0.1 = 1234.5, 3 x 0.1 = 0.3', () => {
    assert.equal(applyScale(12345, 0.1), 1234.5);
    assert.equal(applyScale(3, 0.1), 0.3);
    assert.equal(applyScale(123456789, 0.001), 123456.789);
    assert.equal(applyScale(7, 1), 7);
  });

  it('round-trips every integer type in every order', () => {
    const ranges: Array<[DataType, number, number]> = [
      ['int16', -32768, 32767],
      ['uint16', 0, 65535],
      ['int32', -2147483648, 2147483647],
      ['uint32', 0, 4294967295],
      ['int64', -(2 ** 53) + 1, 2 ** 53 - 1],
      ['uint64', 0, 2 ** 53 - 1],
    ];
    for (const [type, min, max] of ranges) {
      for (const wordOrder of ['big', 'little'] as const) {
        for (const byteOrder of ['big', 'little'] as const) {
          const enc: Encoding = { type, wordOrder, byteOrder };
          fc.assert(
            fc.property(
              fc.integer({
                min: Math.max(min, Number.MIN_SAFE_INTEGER),
                max: Math.min(max, Number.MAX_SAFE_INTEGER),
              }),
              (value) => {
                const words = encodeValue(value, enc);
                assert.equal(words.length, registerCount(type));
                assert.equal(decodeValue(words, 0, enc), value);
              },
            ),
            { numRuns: 200 },
          );
        }
      }
    }
  });

  it('round-trips float32 through its shortest decimal', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), (value) => {
        const enc: Encoding = { type: 'float32', wordOrder: 'little', byteOrder: 'big' };
        const decoded = decodeValue(encodeValue(value, enc), 0, enc);
        assert.equal(Math.fround(decoded), Math.fround(value));
      }),
    );
  });
});
