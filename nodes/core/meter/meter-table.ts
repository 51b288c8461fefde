/**
 * The meter table: which meters a node reads, entered in the editor or imported from CSV. A 2,000-meter
 * building is a handful of nodes with long tables, not thousands of nodes.
 *
 * CSV columns (header row required, any order, extra columns ignored, comma or semicolon):
 *   meterId, unitId, profile, utility, accountId, relay, declared
 * `relay` is empty (no relay), `builtin` (the meter's own relay, from its profile) or `<unitId>/<channel>`
 * (a channel of a relay-output module on the same link). `declared` is the quantities the account declares for
 * tariff items priced per them, `name=value` pairs separated by ";" (`kVA=63;fittings=3`; quoted in CSV):
 * carried on every consumption of the meter, so the tariff prices them without a function node.
 */
import { UTILITIES, type Utility } from '../messages';
import { DECLARED_FORMAT, figurePattern } from '../tariff/rules';

export interface RelayRef {
  kind: 'builtin' | 'module';
  unitId?: number;
  channel?: number;
}

export interface MeterRow {
  meterId: string;
  unitId: number;
  profile: string;
  utility: Utility;
  accountId?: string;
  relay?: RelayRef;
  /** Declared quantities by name ({"kVA": "63", "fittings": "3"}), as decimal text. */
  declared?: Record<string, string>;
}

export class MeterTableError extends Error {
  constructor(
    readonly row: number,
    readonly column: string,
    message: string,
  ) {
    super(row > 0 ? `row ${row}, column ${column}: ${message}` : `${column}: ${message}`);
    this.name = 'MeterTableError';
  }
}

export const CSV_COLUMNS = [
  'meterId',
  'unitId',
  'profile',
  'utility',
  'accountId',
  'relay',
  'declared',
] as const;
const REQUIRED = ['meterId', 'unitId', 'profile'] as const;

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF; returns rows of fields with their line numbers. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endRow = (): void => {
    fields.push(field);
    if (fields.some((value) => value.trim() !== '')) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
  };
  while (i < source.length) {
    const char = source[i]!;
    if (quoted) {
      if (char === '"') {
        if (source[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (char === '\n') line += 1;
        field += char;
      }
      i += 1;
      continue;
    }
    if (char === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (char === ',' || char === ';') {
      fields.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && source[i + 1] === '\n') i += 1;
      endRow();
      line += 1;
      rowLine = line;
    } else {
      field += char;
    }
    i += 1;
  }
  if (quoted) throw new MeterTableError(rowLine, 'CSV', 'a quoted field is not closed');
  if (field !== '' || fields.length > 0) endRow();
  return rows;
}

export interface TableContext {
  /** Known profile ids; a row naming another is an error. */
  profiles: ReadonlyMap<string, { utility?: Utility; hasRelay: boolean; hasCounter: boolean }>;
  /** Unit ids are 1-247 on RTU; TCP gateways also use 0 and 255 for the gateway itself. */
  maxUnitId?: number;
}

/** Reads a CSV meter table; errors name the row (line number in the file) and the column. */
export function meterTableFromCsv(text: string, context: TableContext): MeterRow[] {
  const rows = parseCsv(text);
  if (rows.length === 0)
    throw new MeterTableError(0, 'CSV', 'is empty: expected a header row and one row per meter');
  const header = rows[0]!.fields.map((name) => name.trim());
  const index = new Map<string, number>();
  header.forEach((name, i) => index.set(name.toLowerCase(), i));
  for (const column of REQUIRED) {
    if (!index.has(column.toLowerCase()))
      throw new MeterTableError(
        rows[0]!.line,
        column,
        `the header has no "${column}" column (columns: ${CSV_COLUMNS.join(', ')})`,
      );
  }
  const records = rows.slice(1).map(({ line, fields }) => {
    const record: Record<string, unknown> = {};
    for (const column of CSV_COLUMNS) {
      const at = index.get(column.toLowerCase());
      const value = at === undefined ? '' : (fields[at] ?? '').trim();
      if (value !== '') record[column] = value;
    }
    return { line, record };
  });
  return validateMeterTable(records, context);
}

/** Checks table rows (from the editor's JSON or from CSV); `line` numbers the rows in errors. */
export function validateMeterTable(
  rows: readonly { line: number; record: Record<string, unknown> }[],
  context: TableContext,
): MeterRow[] {
  const seen = new Map<string, number>();
  const maxUnit = context.maxUnitId ?? 255;
  return rows.map(({ line, record }) => {
    const meterId = text(record.meterId);
    if (!meterId) throw new MeterTableError(line, 'meterId', 'is required');
    if (!/^[A-Za-z0-9._:/-]{1,64}$/.test(meterId))
      throw new MeterTableError(line, 'meterId', `"${meterId}" must be 1-64 letters, digits or . _ : / -`);
    const first = seen.get(meterId);
    if (first !== undefined)
      throw new MeterTableError(line, 'meterId', `"${meterId}" is already used on row ${first}`);
    seen.set(meterId, line);
    const unitId = integer(record.unitId);
    if (unitId === undefined || unitId < 0 || unitId > maxUnit)
      throw new MeterTableError(
        line,
        'unitId',
        `must be a unit id 0-${maxUnit} (got ${JSON.stringify(record.unitId ?? '')})`,
      );
    const profileId = text(record.profile);
    if (!profileId) throw new MeterTableError(line, 'profile', 'is required');
    const profile = context.profiles.get(profileId);
    if (!profile)
      throw new MeterTableError(
        line,
        'profile',
        `unknown profile "${profileId}" (known: ${[...context.profiles.keys()].sort().join(', ')})`,
      );
    if (!profile.hasCounter)
      throw new MeterTableError(
        line,
        'profile',
        `"${profileId}" has no counter to read (it is a relay module)`,
      );
    const utilityText = text(record.utility) ?? profile.utility;
    if (!utilityText)
      throw new MeterTableError(line, 'utility', `is required: profile "${profileId}" does not say`);
    if (!UTILITIES.includes(utilityText as Utility))
      throw new MeterTableError(
        line,
        'utility',
        `must be one of ${UTILITIES.join(', ')} (got "${utilityText}")`,
      );
    if (!profile.hasCounter)
      throw new MeterTableError(
        line,
        'profile',
        `"${profileId}" has no counter to read (it is a relay module)`,
      );
    const row: MeterRow = { meterId, unitId, profile: profileId, utility: utilityText as Utility };
    const accountId = text(record.accountId);
    if (accountId) row.accountId = accountId;
    const relay = text(record.relay);
    if (relay) row.relay = parseRelay(relay, line, profile.hasRelay, maxUnit);
    const declared = text(record.declared);
    if (declared) row.declared = parseDeclared(declared, line);
    return row;
  });
}

/** A tariff item's name (as the tariff document's `per`). */
const DECLARED_NAME = /^[A-Za-z0-9_-][A-Za-z0-9 _.-]{0,39}$/;
const DECLARED_VALUE = new RegExp(figurePattern(DECLARED_FORMAT));

/** The declared column: `name=value` pairs separated by ";", each value a plain decimal below 100,000. */
export function parseDeclared(value: string, line: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(';')) {
    const pair = part.trim();
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = at < 0 ? '' : pair.slice(0, at).trim();
    const amount = at < 0 ? '' : pair.slice(at + 1).trim();
    if (!DECLARED_NAME.test(name))
      throw new MeterTableError(
        line,
        'declared',
        `"${pair}" must be name=value (a name of letters, digits, space, "_", "-" or "."), pairs separated by ";" as in "kVA=63;fittings=3"`,
      );
    if (!DECLARED_VALUE.test(amount))
      throw new MeterTableError(
        line,
        'declared',
        `${name}: "${amount}" must be a plain decimal of at most 5 digits before the point and 6 after, such as 63`,
      );
    if (out[name] !== undefined) throw new MeterTableError(line, 'declared', `"${name}" is given twice`);
    out[name] = amount;
  }
  return out;
}

/** The declared column as written in CSV and in the editor. */
export function declaredText(declared: Record<string, string> | undefined): string {
  return Object.entries(declared ?? {})
    .map(([name, amount]) => `${name}=${amount}`)
    .join(';');
}

function parseRelay(value: string, line: number, profileHasRelay: boolean, maxUnit: number): RelayRef {
  if (value.toLowerCase() === 'builtin') {
    if (!profileHasRelay)
      throw new MeterTableError(line, 'relay', 'is "builtin" but the profile has no relay');
    return { kind: 'builtin' };
  }
  const match = /^(\d{1,3})\/(\d{1,3})$/.exec(value);
  if (!match)
    throw new MeterTableError(
      line,
      'relay',
      `"${value}" must be empty, "builtin" or "<unitId>/<channel>" such as "20/3"`,
    );
  const unitId = Number(match[1]);
  const channel = Number(match[2]);
  if (unitId > maxUnit)
    throw new MeterTableError(line, 'relay', `relay module unit id ${unitId} is above ${maxUnit}`);
  if (channel < 1) throw new MeterTableError(line, 'relay', 'channels are numbered from 1');
  return { kind: 'module', unitId, channel };
}

function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** The relay column as written in CSV and in the editor: "", "builtin" or "<unitId>/<channel>". */
export function relayText(relay: RelayRef | undefined): string {
  if (!relay) return '';
  return relay.kind === 'builtin' ? 'builtin' : `${relay.unitId}/${relay.channel}`;
}

/** A row as the editor's table (and the node's `table` setting) holds it. */
export function meterTableRecord(row: MeterRow): Record<string, string | number> {
  return {
    meterId: row.meterId,
    unitId: row.unitId,
    profile: row.profile,
    utility: row.utility,
    accountId: row.accountId ?? '',
    relay: relayText(row.relay),
    declared: declaredText(row.declared),
  };
}

export function meterTableToCsv(rows: readonly MeterRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) {
    const fields = [
      row.meterId,
      row.unitId,
      row.profile,
      row.utility,
      row.accountId ?? '',
      relayText(row.relay),
      declaredText(row.declared),
    ];
    lines.push(fields.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",;\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
