/**
 * What people and clients type, read exactly (nodes/core/money.ts parseMajorAmount, nodes/core/instant.ts
 * parseInstant): amounts in the major unit become integer minor units or are refused with a message, never
 * rounded ("0.005" RM is not one sen, "1e300" is not an amount); dates that do not exist (2024-02-30) are
 * refused instead of rolled over. The flows that embed these functions (the tenant API's function nodes, the
 * reference site's operator panel) carry exactly this code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseInstant } from '../../dist/nodes/core/instant';
import {
  formatMinor,
  knownCurrencies,
  minorUnitDigits,
  parseMajorAmount,
  parseMajorAmountIn,
} from '../../dist/nodes/core/money';

const root = join(__dirname, '..', '..', '..');
type FlowNode = { type: string; name?: string; func?: string; format?: string };
const flowOf = (path: string): FlowNode[] => JSON.parse(readFileSync(join(root, path), 'utf8')) as FlowNode[];

describe('typed amounts: parseMajorAmount', function () {
  it('reads major units exactly into minor units by the currency', function () {
    assert.equal(parseMajorAmount('12.50', 'MYR'), 1250n);
    assert.equal(parseMajorAmount('12.5', 'GBP'), 1250n);
    assert.equal(parseMajorAmount(' 7 ', 'GBP'), 700n);
    assert.equal(parseMajorAmount('0.01', 'USD'), 1n);
    assert.equal(parseMajorAmount('1500', 'JPY'), 1500n);
    assert.equal(parseMajorAmount('1.234', 'KWD'), 1234n);
    assert.equal(parseMajorAmount('999999999.99', 'MYR'), 99999999999n);
    assert.equal(parseMajorAmount(12.5, 'GBP'), 1250n, 'a number, read through its decimal spelling');
  });

  it('refuses what it would have to round or guess, saying what is wrong', function () {
    const refused: Array<[unknown, string, RegExp]> = [
      ['0.005', 'MYR', /^RangeError: 0\.005 has more than 2 decimals: amounts are not rounded$/],
      ['1e300', 'MYR', /"1e300" is not an amount: write digits and at most 2 decimals, such as 12\.50/],
      ['12.500', 'GBP', /more than 2 decimals/],
      ['5.1', 'JPY', /has decimals, and this currency has no minor unit/],
      ['1.2345', 'KWD', /more than 3 decimals/],
      ['1000000000', 'MYR', /too large: at most 9 digits before the decimal point/],
      ['-5', 'MYR', /is not an amount/],
      ['+5', 'MYR', /is not an amount/],
      ['1,000', 'MYR', /is not an amount/],
      ['.5', 'MYR', /is not an amount/],
      ['5.', 'MYR', /is not an amount/],
      ['0x10', 'MYR', /is not an amount/],
      ['Infinity', 'MYR', /is not an amount/],
      ['0', 'MYR', /must be more than 0/],
      ['0.00', 'MYR', /must be more than 0/],
      ['', 'MYR', /enter an amount, such as 12\.50/],
      [undefined, 'MYR', /enter an amount/],
      [1e300, 'MYR', /is not an amount/],
      [0.1 + 0.2, 'MYR', /more than 2 decimals/],
    ];
    for (const [typed, currency, message] of refused)
      assert.throws(() => parseMajorAmount(typed, currency), message, `${String(typed)} ${currency}`);
    assert.throws(() => parseMajorAmount('1', 'XYZ'), /unknown ISO 4217 currency "XYZ"/);
  });

  it('property: every amount written with the currency’s digits reads back to the same minor units', function () {
    fc.assert(
      fc.property(
        fc.constantFrom(...knownCurrencies()),
        fc.bigInt({ min: 1n, max: 99_999_999_999n }),
        (currency, minor) => {
          const digits = minorUnitDigits(currency);
          if (minor >= 10n ** BigInt(9 + digits)) return;
          assert.equal(parseMajorAmount(formatMinor(minor, currency), currency), minor);
        },
      ),
    );
  });
});

describe('typed dates: parseInstant', function () {
  it('reads epoch milliseconds and ISO 8601 dates, times and zones', function () {
    assert.equal(parseInstant('1709251200000'), 1709251200000);
    assert.equal(parseInstant('2024-02-29'), Date.UTC(2024, 1, 29));
    assert.equal(parseInstant('2024-10-01T10:00:00Z'), Date.UTC(2024, 9, 1, 10));
    assert.equal(parseInstant('2024-10-01T10:00:00.123+08:00'), Date.UTC(2024, 9, 1, 2, 0, 0, 123));
  });

  it('refuses dates that do not exist instead of rolling them over', function () {
    assert.equal(new Date(Date.parse('2024-02-30')).toISOString().slice(0, 10), '2024-03-01', 'what V8 does');
    const refused: Array<[string, RegExp]> = [
      ['2024-02-30', /^RangeError: 2024-02-30 is not a date: 2024-02 has 29 days$/],
      ['2023-02-29', /2023-02 has 28 days/],
      ['2024-04-31', /2024-04 has 30 days/],
      ['2024-13-01', /there is no month 13/],
      ['2024-00-10', /there is no month 0/],
      ['2024-10-01T24:00', /not a time of day/],
      ['2024-10-01T10:61', /not a time of day/],
      ['yesterday', /"yesterday" is not a date: write YYYY-MM-DD/],
      ['01/10/2024', /is not a date/],
      ['', /is not a date/],
    ];
    for (const [text, message] of refused) assert.throws(() => parseInstant(text), message, text);
  });
});

describe('typed input in the generated flows', function () {
  const reference = flowOf('flows/reference.json');
  const example = flowOf('examples/tenant-api.json');
  const panel = reference.find((n) => n.type === 'ui-template' && /operator/i.test(String(n.format)));
  const provider = example.find((n) => n.type === 'function' && /DEMO payment provider/.test(n.name ?? ''));
  const request = example.find((n) => n.type === 'function' && n.name === 'tenant request (token check)');

  it('embeds the core functions themselves, not copies', function () {
    const source = `const parseMajorAmountIn = ${parseMajorAmountIn.toString()};`;
    assert.ok(
      panel?.format?.includes(`parseMajorAmountIn: ${parseMajorAmountIn.toString()},`),
      'the operator panel’s desk top-up',
    );
    assert.ok(provider?.func?.includes(source), 'the demo provider');
    assert.ok(
      request?.func?.includes(`const parseInstant = ${parseInstant.toString()};`),
      'the tenant request',
    );
  });
});
