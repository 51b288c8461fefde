/**
 * The HVAC mapping table: which BEMS objects serve each tenant's unit, and what to command them to when the
 * unit is set back (vacant, or supply cut for exhausted credit) and when it is restored. Entered in the editor
 * as CSV, like the meter table.
 *
 * CSV columns (header row required, any order, comma or semicolon, `#` starts a comment line):
 *   account, object, unoccupied, occupied, priority
 * - `object`: `<type>:<instance>` (`multi-state-output:12`, `analog-value:3`) on the client's BEMS controller,
 *   or `<device>/<type>:<instance>` for another device; a property other than present-value as `.<number>`.
 * - `unoccupied`: the value written on setback: a number, or `active`/`inactive` (also true/false, on/off) for a
 *   binary object.
 * - `occupied`: the value written on restore, or `relinquish` (the default when empty): the slot is released
 *   (NULL) and the BEMS's own schedule governs again.
 * - `priority`: 3-16 (1-2 are life safety, 6 minimum on/off time: never commanded from here); empty takes the
 *   node's default priority.
 */
import { parseCsv } from '../meter/meter-table';
import { OBJECT_TYPES, PRESENT_VALUE, slotKey, valueKind, type BacnetTarget } from './commands';

export interface HvacRow {
  account: string;
  target: BacnetTarget;
  unoccupied: number | boolean;
  /** null: relinquish on restore. */
  occupied: number | boolean | null;
  priority: number;
  /** The table line, for messages. */
  line: number;
}

export class HvacMapError extends Error {
  constructor(
    readonly line: number,
    readonly column: string,
    message: string,
  ) {
    super(line > 0 ? `line ${line}, column ${column}: ${message}` : `${column}: ${message}`);
    this.name = 'HvacMapError';
  }
}

export const HVAC_COLUMNS = ['account', 'object', 'unoccupied', 'occupied', 'priority'] as const;
const REQUIRED = ['account', 'object', 'unoccupied'] as const;
export const MAX_HVAC_ROWS = 20_000;

/** Priorities the table may use: not life safety (1, 2) and not minimum on/off (6), which objects own. */
export function allowedPriority(priority: number): boolean {
  return Number.isInteger(priority) && priority >= 3 && priority <= 16 && priority !== 6;
}

const OBJECT = /^(?:(\d+)\/)?([a-z-]+|\d+):(\d+)(?:\.(\d+))?$/;

/** `[device/]type:instance[.property]`, the device defaulting to the client's BEMS controller. */
export function parseObject(text: string, defaultDevice: number): BacnetTarget | string {
  const match = OBJECT.exec(text.trim().toLowerCase());
  if (!match)
    return `"${text}" is not <type>:<instance> (such as multi-state-output:12) or <device>/<type>:<instance>`;
  const [, device, type, instance, property] = match;
  const objectType = /^\d+$/.test(type!) ? Number(type) : OBJECT_TYPES[type!];
  if (objectType === undefined || objectType > 1023)
    return `unknown object type "${type}" (one of ${Object.keys(OBJECT_TYPES).join(', ')}, or its number)`;
  const target: BacnetTarget = {
    device: device === undefined ? defaultDevice : Number(device),
    objectType,
    instance: Number(instance),
  };
  if (target.device > 4194302) return `device ${target.device} is beyond 4194302`;
  if (target.instance > 4194302) return `instance ${target.instance} is beyond 4194302`;
  if (property !== undefined && Number(property) !== PRESENT_VALUE) target.property = Number(property);
  return target;
}

const ACTIVE = new Set(['active', 'true', 'on', '1']);
const INACTIVE = new Set(['inactive', 'false', 'off', '0']);
const NUMBER = /^-?\d+(\.\d+)?$/;

/** A value for the target's kind: binary objects take active/inactive, the others plain decimals. */
export function parseValue(text: string, target: BacnetTarget): number | boolean | string {
  const value = text.trim().toLowerCase();
  const kind = valueKind(target.objectType);
  if (kind === 'enumerated') {
    if (ACTIVE.has(value)) return true;
    if (INACTIVE.has(value)) return false;
    return `"${text}" is not a binary state (active or inactive)`;
  }
  if (!NUMBER.test(value)) return `"${text}" is not a plain decimal number`;
  const n = Number(value);
  if (kind === 'unsigned' && (!Number.isInteger(n) || n < 0 || n > 4294967295))
    return `"${text}" is not a whole number 0-4294967295 (a multi-state object's state is 1 or more)`;
  if (kind === 'signed' && (!Number.isInteger(n) || Math.abs(n) > 2147483647))
    return `"${text}" is not a whole number`;
  if (kind === 'real' && Math.abs(n) > 3.4e38) return `"${text}" does not fit a REAL`;
  return n;
}

/**
 * Parses the table. Every problem is an HvacMapError naming the line and column; a slot (object and priority)
 * may belong to one account only, as two tenants' setbacks on one object would undo each other.
 */
export function parseHvacMap(text: string, defaultDevice: number, defaultPriority: number): HvacRow[] {
  if (!allowedPriority(defaultPriority))
    throw new HvacMapError(0, 'priority', `default priority ${defaultPriority} is not 3-16 (and not 6)`);
  const rows = parseCsv(text).filter((row) => !row.fields[0]!.trim().startsWith('#'));
  if (rows.length === 0) return [];
  const header = rows[0]!.fields.map((field) => field.trim().toLowerCase());
  for (const column of REQUIRED)
    if (!header.includes(column))
      throw new HvacMapError(
        rows[0]!.line,
        column,
        `missing from the header row (columns: ${HVAC_COLUMNS.join(', ')})`,
      );
  if (rows.length - 1 > MAX_HVAC_ROWS)
    throw new HvacMapError(0, 'account', `${rows.length - 1} rows: at most ${MAX_HVAC_ROWS}`);
  const at = (fields: string[], column: string): string => {
    const index = header.indexOf(column);
    return index < 0 ? '' : (fields[index] ?? '').trim();
  };
  const slots = new Map<string, HvacRow>();
  const out: HvacRow[] = [];
  for (const { line, fields } of rows.slice(1)) {
    const fail = (column: string, message: string): never => {
      throw new HvacMapError(line, column, message);
    };
    const account = at(fields, 'account');
    if (account === '') fail('account', 'is required');
    const target = parseObject(at(fields, 'object'), defaultDevice);
    if (typeof target === 'string') return fail('object', target);
    const unoccupied = parseValue(at(fields, 'unoccupied'), target);
    if (typeof unoccupied === 'string') return fail('unoccupied', unoccupied);
    const occupiedText = at(fields, 'occupied');
    let occupied: number | boolean | null = null;
    if (occupiedText !== '' && occupiedText.toLowerCase() !== 'relinquish') {
      const value = parseValue(occupiedText, target);
      if (typeof value === 'string') return fail('occupied', `${value}, or "relinquish"`);
      occupied = value;
    }
    const priorityText = at(fields, 'priority');
    const priority = priorityText === '' ? defaultPriority : Number(priorityText);
    if (!/^\d*$/.test(priorityText) || !allowedPriority(priority))
      fail('priority', `"${priorityText}" is not 3-16 (1-2 are life safety, 6 is minimum on/off time)`);
    const row: HvacRow = { account, target, unoccupied, occupied, priority, line };
    const slot = slotKey(target, priority);
    const taken = slots.get(slot);
    if (taken)
      fail(
        'object',
        taken.account === account
          ? `${slot} is mapped twice for ${account} (line ${taken.line})`
          : `${slot} is mapped for ${taken.account} (line ${taken.line}) and ${account}: one slot serves one account`,
      );
    slots.set(slot, row);
    out.push(row);
  }
  return out;
}

/** The rows of each account. */
export function rowsByAccount(rows: readonly HvacRow[]): Map<string, HvacRow[]> {
  const map = new Map<string, HvacRow[]>();
  for (const row of rows) {
    const list = map.get(row.account);
    if (list) list.push(row);
    else map.set(row.account, [row]);
  }
  return map;
}
