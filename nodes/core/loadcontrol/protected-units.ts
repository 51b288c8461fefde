/**
 * The units load control must leave alone: accounts (or single meters of an account) flagged `medical`
 * (life-supporting equipment) or `critical` (server room, cold store), from a CSV table in the node's dialog.
 * A flagged account is never limited for the site's demand (a limit on any of its meters, or on the whole
 * account) and its HVAC is never set back for demand or price. The vacancy setback is the safe way round too:
 * a flagged unit is never set back when its supply is cut for exhausted credit, and set back when its account
 * is closed only if its row says `vacancySetback` `yes`. Every problem names the line and column. Pure.
 */
import type { BacnetTarget } from './commands';
import { DemandTableError, readTable } from './demand-tables';
import type { HvacRow } from './hvac-map';

export const PROTECTED_COLUMNS = ['account', 'meter', 'flag', 'vacancySetback', 'note'] as const;

export type UnitFlag = 'medical' | 'critical';

export interface ProtectedUnit {
  account: string;
  flag: UnitFlag;
  /** The meters the row names (empty: the whole account). The whole account is protected either way. */
  meters: string[];
  /** A closed (vacant) account's HVAC may be set back. Default false: never touched. */
  vacancySetback: boolean;
  line: number;
}

export type ProtectedUnits = ReadonlyMap<string, ProtectedUnit>;

const YES = ['yes', 'true', '1', 'y'];
const NO = ['', 'no', 'false', '0', 'n'];

/** Reads the table: one row per account, or per meter of an account (rows of one account are merged). */
export function parseProtectedUnits(text: string): Map<string, ProtectedUnit> {
  const name = 'protected units';
  const table = readTable(name, text, ['account', 'flag'], PROTECTED_COLUMNS);
  const units = new Map<string, ProtectedUnit>();
  const meters = new Map<string, string>();
  for (const { line, at } of table.rows) {
    const fail = (column: string, message: string): never => {
      throw new DemandTableError(name, line, column, message);
    };
    const account = at('account');
    if (account === '') fail('account', 'is required');
    const flag = at('flag').toLowerCase();
    if (flag !== 'medical' && flag !== 'critical') fail('flag', `"${at('flag')}" is not medical or critical`);
    const setbackText = at('vacancySetback').toLowerCase();
    if (!YES.includes(setbackText) && !NO.includes(setbackText))
      fail('vacancySetback', `"${at('vacancySetback')}" is not yes or no`);
    const meter = at('meter');
    if (meter !== '') {
      const owner = meters.get(meter);
      if (owner !== undefined && owner !== account)
        fail('meter', `meter ${meter} is listed for account ${owner} already`);
      meters.set(meter, account);
    }
    const before = units.get(account);
    if (before) {
      if (before.flag !== flag)
        fail('flag', `account ${account} is flagged ${before.flag} on line ${before.line}`);
      if (before.vacancySetback !== YES.includes(setbackText))
        fail('vacancySetback', `account ${account} says otherwise on line ${before.line}`);
      if (meter !== '' && !before.meters.includes(meter)) before.meters.push(meter);
      continue;
    }
    units.set(account, {
      account,
      flag: flag as UnitFlag,
      meters: meter === '' ? [] : [meter],
      vacancySetback: YES.includes(setbackText),
      line,
    });
  }
  return units;
}

/** Why a step on `account` (or its `meter`) may not be taken, or undefined when it may. */
export function protectedRefusal(units: ProtectedUnits, account: string, meter?: string): string | undefined {
  const unit = units.get(account);
  if (unit) return `account ${account} is flagged ${unit.flag}`;
  if (meter !== undefined)
    for (const other of units.values())
      if (other.meters.includes(meter)) return `meter ${meter} is flagged ${other.flag}`;
  return undefined;
}

const sameObject = (a: BacnetTarget, b: BacnetTarget): boolean =>
  a.device === b.device && a.objectType === b.objectType && a.instance === b.instance;

/** The account whose HVAC (in the HVAC table) an object is, if any. */
export function accountOfObject(rows: readonly HvacRow[], target: BacnetTarget): string | undefined {
  return rows.find((row) => sameObject(row.target, target))?.account;
}
