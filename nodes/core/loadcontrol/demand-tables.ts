/**
 * The tables prepay-loadcontrol is configured with for demand limiting and price rules, as CSV an operator can
 * keep in a spreadsheet: the ordered shed table (one step a row, shed top to bottom) and the price rules. Every
 * problem names the line and column. Pure.
 */
import { parseCsv } from '../meter/meter-table';
import { extend } from '../shapes';
import { slotKey } from './commands';
import type { ShedStep } from './demand';
import { allowedPriority, parseObject, parseValue } from './hvac-map';
import type { PhaseChange, PriceRule } from './price-rules';
import { checkPriceRule } from './price-rules';

export class DemandTableError extends Error {
  constructor(
    readonly table: string,
    readonly line: number,
    readonly column: string,
    message: string,
  ) {
    super(`${table} line ${line}, ${column}: ${message}`);
    this.name = 'DemandTableError';
  }
}

export const SHED_COLUMNS = [
  'step',
  'kind',
  'target',
  'value',
  'reliefKw',
  'minHoldMinutes',
  'maxHoldMinutes',
  'restMinutes',
  'restoreKw',
  'priority',
] as const;

export const PRICE_RULE_COLUMNS = [
  'rule',
  'signal',
  'threshold',
  'object',
  'normal',
  'beforeMinutes',
  'before',
  'during',
  'min',
  'max',
  'maxMinutes',
  'priority',
] as const;

export interface Table {
  rows: Array<{ line: number; at: (column: string) => string }>;
}

export function readTable(
  name: string,
  text: string,
  required: readonly string[],
  columns: readonly string[],
): Table {
  const rows = parseCsv(text).filter(
    (row) => row.fields.some((f) => f.trim() !== '') && !row.fields[0]!.trim().startsWith('#'),
  );
  if (rows.length === 0) return { rows: [] };
  const header = rows[0]!.fields.map((field) => field.trim().toLowerCase());
  for (const column of required)
    if (!header.includes(column.toLowerCase()))
      throw new DemandTableError(
        name,
        rows[0]!.line,
        column,
        `missing from the header row (columns: ${columns.join(', ')})`,
      );
  return {
    rows: rows.slice(1).map(({ line, fields }) => ({
      line,
      at: (column: string) => {
        const index = header.indexOf(column.toLowerCase());
        return index < 0 ? '' : (fields[index] ?? '').trim();
      },
    })),
  };
}

function decimal(text: string): number | undefined {
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

/**
 * The shed table. `kind` is `power-limit` (target: an account, or `account/meter`; value: the limit in W, above
 * 0: demand limiting never cuts) or `bacnet` (target: `[device/]type:instance[.property]`; value: what to
 * write, released on restore). Steps are shed in the table's order and restored last shed, first back.
 */
export function parseShedTable(text: string, defaultDevice: number, defaultPriority: number): ShedStep[] {
  const name = 'shed table';
  const table = readTable(name, text, ['step', 'kind', 'target', 'value', 'reliefKw'], SHED_COLUMNS);
  const steps: ShedStep[] = [];
  const ids = new Set<string>();
  const slots = new Set<string>();
  for (const { line, at } of table.rows) {
    const fail = (column: string, message: string): never => {
      throw new DemandTableError(name, line, column, message);
    };
    const id = at('step');
    if (id === '') fail('step', 'is required');
    if (ids.has(id)) fail('step', `"${id}" is listed twice`);
    ids.add(id);
    const reliefKw = decimal(at('reliefKw'));
    if (reliefKw === undefined || !(reliefKw > 0))
      fail('reliefKw', 'must be the expected relief in kW, above 0');
    const minutes = (column: string, fallback?: number): number | undefined => {
      const raw = at(column);
      if (raw === '') return fallback;
      const n = decimal(raw);
      if (n === undefined || n < 0) return fail(column, `"${raw}" is not a number of minutes`);
      return n;
    };
    const step: ShedStep = {
      id,
      action: { kind: 'limit', account: '', limitW: 0 },
      reliefKw: reliefKw!,
      minHoldMs: minutes('minHoldMinutes', 15)! * 60_000,
    };
    const maxHold = minutes('maxHoldMinutes');
    if (maxHold !== undefined) step.maxHoldMs = maxHold * 60_000;
    const rest = minutes('restMinutes');
    if (rest !== undefined) step.restMs = rest * 60_000;
    const restoreText = at('restoreKw');
    if (restoreText !== '') {
      const restoreKw = decimal(restoreText);
      if (restoreKw === undefined || restoreKw < 0) fail('restoreKw', 'must be kW, 0 or more');
      step.restoreKw = restoreKw!;
    }
    const kind = at('kind').toLowerCase();
    const target = at('target');
    if (kind === 'power-limit') {
      const [account, meter, extra] = target.split('/').map((part) => part.trim());
      if (!account || extra !== undefined) fail('target', 'must be an account, or account/meter');
      const limitW = decimal(at('value'));
      if (limitW === undefined || !(limitW > 0))
        fail('value', 'a power limit is in W and above 0 (demand limiting never cuts a supply)');
      step.action = meter
        ? { kind: 'limit', account: account!, meter, limitW: limitW! }
        : { kind: 'limit', account: account!, limitW: limitW! };
    } else if (kind === 'bacnet') {
      const object = parseObject(target, defaultDevice);
      if (typeof object === 'string') return fail('target', object);
      const value = parseValue(at('value'), object);
      if (typeof value === 'string') return fail('value', value);
      const priorityText = at('priority');
      const priority = priorityText === '' ? defaultPriority : Number(priorityText);
      if (!/^\d*$/.test(priorityText) || !allowedPriority(priority))
        fail('priority', `"${priorityText}" is not 3-16 (1-2 are life safety, 6 is minimum on/off time)`);
      const slot = slotKey(object, priority);
      if (slots.has(slot)) fail('target', `${slot} is commanded by two steps: one slot, one step`);
      slots.add(slot);
      step.action = { kind: 'command', key: `demand:${id}`, target: object, value, priority };
    } else fail('kind', `"${at('kind')}" is not power-limit or bacnet`);
    steps.push(step);
  }
  return steps;
}

/**
 * The price rules table. `signal` is `price` (threshold in the tariff's quote unit, as price signals are sent)
 * or `carbon` (kg CO2e per unit); `before` and `during` are an offset from `normal` with its sign ("-2": 2 below)
 * or a value written as it is ("60", "inactive"). `toThreshold` turns a threshold into the signal's exact units.
 */
export function parsePriceRuleTable(
  text: string,
  defaultDevice: number,
  defaultPriority: number,
  toThreshold: (signal: 'price' | 'carbon', text: string) => bigint,
): PriceRule[] {
  const name = 'price rules';
  const table = readTable(
    name,
    text,
    ['rule', 'signal', 'threshold', 'object', 'normal', 'maxMinutes'],
    PRICE_RULE_COLUMNS,
  );
  const rules: PriceRule[] = [];
  const names = new Set<string>();
  for (const { line, at } of table.rows) {
    const fail = (column: string, message: string): never => {
      throw new DemandTableError(name, line, column, message);
    };
    const ruleName = at('rule');
    if (ruleName === '') fail('rule', 'is required');
    if (names.has(ruleName)) fail('rule', `"${ruleName}" is listed twice`);
    names.add(ruleName);
    const target = parseObject(at('object'), defaultDevice);
    if (typeof target === 'string') return fail('object', target);
    const normal = parseValue(at('normal'), target);
    if (typeof normal === 'string') return fail('normal', normal);
    const signal = at('signal').toLowerCase();
    if (signal !== 'price' && signal !== 'carbon') return fail('signal', 'must be price or carbon');
    let threshold: bigint;
    try {
      threshold = toThreshold(signal, at('threshold'));
    } catch (error) {
      return fail('threshold', (error as Error).message);
    }
    const priorityText = at('priority');
    const priority = priorityText === '' ? defaultPriority : Number(priorityText);
    if (!/^\d*$/.test(priorityText) || !allowedPriority(priority))
      fail('priority', `"${priorityText}" is not 3-16 (1-2 are life safety, 6 is minimum on/off time)`);
    const maxMinutes = decimal(at('maxMinutes'));
    if (maxMinutes === undefined || !(maxMinutes > 0)) return fail('maxMinutes', 'must be minutes above 0');
    const phase = (column: string): PhaseChange | undefined => {
      const raw = at(column);
      if (raw === '') return undefined;
      if (/^[+-]\d+(\.\d+)?$/.test(raw)) return { offset: Number(raw) };
      const value = parseValue(raw, target);
      if (typeof value === 'string') return fail(column, `${value}, or an offset with its sign ("-2")`);
      return { value };
    };
    const rule: PriceRule = { name: ruleName, target, priority, normal, maxDurationMinutes: maxMinutes };
    if (signal === 'price') rule.priceAtLeast = threshold;
    else rule.carbonAtLeast = threshold;
    const before = phase('before');
    if (before) {
      const beforeMinutes = decimal(at('beforeMinutes'));
      if (beforeMinutes === undefined || !(beforeMinutes > 0))
        fail('beforeMinutes', 'a change before the period needs its minutes, above 0');
      rule.before = extend(before, { minutes: beforeMinutes! });
    }
    const during = phase('during');
    if (during) rule.during = during;
    for (const bound of ['min', 'max'] as const) {
      const raw = at(bound);
      if (raw === '') continue;
      const n = decimal(raw);
      if (n === undefined) fail(bound, `"${raw}" is not a number`);
      rule[bound] = n!;
    }
    try {
      checkPriceRule(rule);
    } catch (error) {
      fail('rule', (error as Error).message);
    }
    rules.push(rule);
  }
  return rules;
}
