/**
 * The published JSON Schema of tariff documents (draft-07), built from the same rule tables the runtime
 * check uses (rules.ts, units.ts, the currency table, the day types): scripts/build-tariff-schema.mjs writes
 * it to schemas/tariff.schema.json, and a test checks the committed file equals what this builds.
 */
import { ROUNDING_MODES } from '../decimal';
import { extend } from '../shapes';
import { UTILITIES } from '../messages';
import { knownCurrencies, minorUnitDigits } from '../money';
import {
  FIGURE_FIELDS,
  figureFormat,
  FigureFormat,
  figurePattern,
  MAX_BLOCKS,
  MONEY_FIELDS,
  moneyFormat,
  DEFAULT_PARTIAL_MONTH,
  PARTIAL_MONTH_POLICIES,
  RUNTIME_ONLY_RULES,
} from './rules';
import { DAY_COUNTS, DAY_TYPES } from './types';
import { unitPattern } from './units';

type Schema = Record<string, unknown>;

/** A figure of this format, as a string or a JSON number. */
function figure(format: FigureFormat, description?: string): Schema {
  const bound = 10 ** format.intDigits;
  const number: Schema = format.atMost100
    ? { type: 'number', maximum: 100 }
    : { type: 'number', exclusiveMaximum: bound };
  if (format.signed) number.exclusiveMinimum = -bound;
  else if (format.positive) number.exclusiveMinimum = 0;
  else number.minimum = 0;
  const oneOf = [{ type: 'string', pattern: figurePattern(format) }, number];
  return description ? { description, oneOf } : { oneOf };
}

/** Money before its currency is known: any plain decimal, signed where the field may be negative. */
function looseMoney(signed: boolean): Schema {
  return {
    oneOf: [
      { type: 'string', pattern: signed ? '^-?\\d+(\\.\\d+)?$' : '^\\d+(\\.\\d+)?$' },
      signed ? { type: 'number' } : { type: 'number', minimum: 0 },
    ],
  };
}

/** Puts `leaf` at a rules.ts path ("energy.blocks[].rate") inside a schema of nested properties. */
function place(root: Schema, path: string, leaf: Schema): void {
  const steps = path.split('.');
  let node = root;
  steps.forEach((step, index) => {
    const last = index === steps.length - 1;
    if (step === '*') {
      node.additionalProperties = leaf;
      return;
    }
    const array = step.endsWith('[]');
    const key = array ? step.slice(0, -2) : step;
    const properties = (node.properties ??= {}) as Record<string, Schema>;
    let child = (properties[key] ??= {});
    if (array) child = (child.items ??= {}) as Schema;
    if (last) Object.assign(child, leaf);
    node = child;
  });
}

/** The money fields' bounds for one currency class (minor-unit digits) and price unit. */
function moneyOverlay(currencies: string[], priceUnit: 'major' | 'minor'): Schema {
  const then: Schema = {};
  for (const rule of MONEY_FIELDS)
    place(then, rule.path, figure(moneyFormat(rule, currencies[0] as string, priceUnit)));
  const condition: Schema =
    priceUnit === 'minor'
      ? { properties: { priceUnit: { const: 'minor' } }, required: ['priceUnit'] }
      : {
          properties: { currency: { enum: currencies }, priceUnit: { const: 'major' } },
          required: ['currency'],
        };
  return { if: condition, then };
}

function blocks(): Schema {
  const lists: Schema[] = [];
  for (let n = 1; n <= MAX_BLOCKS; n++) {
    lists.push({
      minItems: n,
      maxItems: n,
      items: [
        ...Array.from({ length: n - 1 }, () => ({ $ref: '#/definitions/block' })),
        { $ref: '#/definitions/lastBlock' },
      ],
    });
  }
  return {
    type: 'array',
    description: `1 to ${MAX_BLOCKS} blocks; "upTo" (cumulative) on every block but the last, which is open-ended.`,
    minItems: 1,
    maxItems: MAX_BLOCKS,
    oneOf: lists,
  };
}

export function buildTariffSchema(): Schema {
  const upTo = FIGURE_FIELDS.find((rule) => rule.path === 'energy.blocks[].upTo');
  const fig = (path: string, description?: string): Schema => {
    const rule = FIGURE_FIELDS.find((r) => r.path === path);
    if (!rule) throw new Error(`no figure rule for ${path}`);
    return figure(figureFormat(rule), description);
  };
  const unit = { type: 'string', pattern: unitPattern() };
  const byDigits = new Map<number, string[]>();
  for (const code of knownCurrencies()) {
    const digits = minorUnitDigits(code);
    byDigits.set(digits, [...(byDigits.get(digits) ?? []), code]);
  }
  const schema: Schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://github.com/node-red-contrib-prepay/node-red-contrib-prepay/schemas/tariff.schema.json',
    title: 'Prepayment tariff',
    description:
      'A tariff document for the prepay-tariff node. Generated from the rules the node checks ' +
      '(scripts/build-tariff-schema.mjs): do not edit by hand. Money figures are plain decimals in the ' +
      'currency\'s major unit, or minor unit when priceUnit is "minor", with at most 4 decimals more than ' +
      'the minor unit; per-unit rates below 1,000,000 minor units, fixed amounts below 1,000,000,000. ' +
      'Checked by the node only: ' +
      RUNTIME_ONLY_RULES.join('; ') +
      '.',
    type: 'object',
    required: ['currency', 'energy'],
    additionalProperties: false,
    definitions: {
      name: { type: 'string', pattern: '^[A-Za-z0-9_-][A-Za-z0-9 _.-]{0,39}$' },
      time: { type: 'string', pattern: '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$' },
      monthDay: { type: 'string', pattern: '^(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' },
      dayType: { enum: [...DAY_TYPES] },
      unit,
      rate: looseMoney(false),
      block: {
        type: 'object',
        required: ['upTo', 'rate'],
        additionalProperties: false,
        properties: { upTo: upTo && figure(figureFormat(upTo)), rate: { $ref: '#/definitions/rate' } },
      },
      lastBlock: {
        type: 'object',
        required: ['rate'],
        additionalProperties: false,
        properties: { upTo: { type: 'null' }, rate: { $ref: '#/definitions/rate' } },
      },
    },
    properties: {
      $schema: { type: 'string' },
      name: { type: 'string' },
      description: { type: 'string' },
      currency: { enum: knownCurrencies(), description: 'ISO 4217 code.' },
      priceUnit: { enum: ['major', 'minor'], default: 'major' },
      utility: { enum: [...UTILITIES] },
      unit: extend(unit, {
        description: 'Billing unit (the unit the rates are per): kWh, m3, therm, imp gal...',
      }),
      timezone: {
        type: 'string',
        description: 'IANA time zone, e.g. Europe/London. Without one the tariff runs on UTC.',
        default: 'UTC',
      },
      rounding: { enum: [...ROUNDING_MODES], default: 'half-even' },
      holidays: {
        type: 'array',
        items: { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' },
      },
      seasons: {
        type: 'array',
        maxItems: 30,
        items: {
          type: 'object',
          required: ['name', 'from', 'to'],
          additionalProperties: false,
          properties: {
            name: { $ref: '#/definitions/name' },
            from: { $ref: '#/definitions/monthDay' },
            to: { $ref: '#/definitions/monthDay' },
          },
        },
      },
      conversion: {
        type: 'object',
        required: ['from'],
        additionalProperties: false,
        properties: {
          from: { $ref: '#/definitions/unit' },
          factor: fig('conversion.factor', 'Billing units per unit read.'),
          volumeCorrection: fig('conversion.volumeCorrection'),
          calorificValue: fig('conversion.calorificValue', 'MJ per m3.'),
        },
        anyOf: [{ required: ['factor'] }, { required: ['volumeCorrection', 'calorificValue'] }],
      },
      energy: {
        type: 'object',
        required: ['type'],
        properties: { type: { enum: ['flat', 'block', 'tou', 'dynamic'] } },
        oneOf: [
          {
            type: 'object',
            required: ['type', 'rate'],
            additionalProperties: false,
            properties: { type: { const: 'flat' }, rate: { $ref: '#/definitions/rate' } },
          },
          {
            type: 'object',
            required: ['type', 'reset', 'blocks'],
            additionalProperties: false,
            properties: {
              type: { const: 'block' },
              reset: { enum: ['day', 'month', 'billing-cycle'] },
              billingDay: { type: 'integer', minimum: 1, maximum: 28 },
              blocks: blocks(),
            },
          },
          {
            type: 'object',
            required: ['type', 'rates', 'schedule', 'default'],
            additionalProperties: false,
            properties: {
              type: { const: 'tou' },
              rates: {
                type: 'object',
                minProperties: 1,
                propertyNames: { $ref: '#/definitions/name' },
                additionalProperties: { $ref: '#/definitions/rate' },
              },
              default: { type: 'string' },
              schedule: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['days', 'from', 'to', 'period'],
                  additionalProperties: false,
                  properties: {
                    days: { type: 'array', minItems: 1, items: { $ref: '#/definitions/dayType' } },
                    from: { $ref: '#/definitions/time' },
                    to: { $ref: '#/definitions/time' },
                    period: { type: 'string' },
                    seasons: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          },
          {
            type: 'object',
            required: ['type', 'fallbackRate', 'maxAgeMinutes'],
            additionalProperties: false,
            properties: {
              type: { const: 'dynamic' },
              fallbackRate: looseMoney(true),
              maxAgeMinutes: { type: 'number', exclusiveMinimum: 0 },
            },
          },
        ],
      },
      surcharges: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'rate'],
          additionalProperties: false,
          properties: {
            name: { $ref: '#/definitions/name' },
            rate: { $ref: '#/definitions/rate' },
            share: fig('surcharges[].share', 'Percent of the quantity charged.'),
          },
        },
      },
      standingCharge: {
        type: 'object',
        required: ['perDay'],
        additionalProperties: false,
        properties: { perDay: looseMoney(false) },
      },
      fixedMonthly: {
        type: 'array',
        items: {
          type: 'object',
          description:
            'A fixed "amount" a month, or a "rate" per unit of a quantity each account declares ("per").',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { $ref: '#/definitions/name' },
            amount: looseMoney(false),
            per: { $ref: '#/definitions/name' },
            rate: looseMoney(false),
          },
          oneOf: [
            { required: ['amount'], not: { anyOf: [{ required: ['per'] }, { required: ['rate'] }] } },
            { required: ['per', 'rate'], not: { required: ['amount'] } },
          ],
        },
      },
      minimumMonthly: looseMoney(false),
      partialMonth: {
        type: 'object',
        description:
          'How fixed monthly items and the minimum of a month occupied in part are billed, at move-in and move-out.',
        additionalProperties: false,
        properties: {
          moveIn: { enum: [...PARTIAL_MONTH_POLICIES], default: DEFAULT_PARTIAL_MONTH },
          moveOut: { enum: [...PARTIAL_MONTH_POLICIES], default: DEFAULT_PARTIAL_MONTH },
        },
      },
      demand: {
        type: 'object',
        required: ['rate', 'intervalMinutes'],
        additionalProperties: false,
        properties: {
          rate: looseMoney(false),
          intervalMinutes: { enum: [15, 30] },
          periods: { type: 'array', items: { type: 'string' } },
        },
      },
      capacity: {
        type: 'object',
        required: ['ratePerYear'],
        additionalProperties: false,
        oneOf: [
          { required: ['contracted'], not: { required: ['per'] } },
          { required: ['per'], not: { required: ['contracted'] } },
        ],
        properties: {
          contracted: fig('capacity.contracted'),
          per: { $ref: '#/definitions/name' },
          unit: { type: 'string' },
          ratePerYear: looseMoney(false),
          dayCount: { enum: [...DAY_COUNTS], default: 'actual/365' },
        },
      },
      taxes: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'percent'],
          additionalProperties: false,
          properties: {
            name: { $ref: '#/definitions/name' },
            percent: fig('taxes[].percent'),
            appliesTo: { type: 'array', items: { type: 'string', minLength: 1 } },
          },
        },
      },
      carbon: {
        type: 'object',
        required: ['kgPerUnit'],
        additionalProperties: false,
        properties: {
          kgPerUnit: fig('carbon.kgPerUnit'),
          maxAgeMinutes: { type: 'number', exclusiveMinimum: 0 },
        },
      },
    },
    allOf: [
      moneyOverlay(knownCurrencies(), 'minor'),
      ...[...byDigits.entries()]
        .sort(([a], [b]) => a - b)
        .map(([, currencies]) => moneyOverlay(currencies, 'major')),
    ],
  };
  return schema;
}
