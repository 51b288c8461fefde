/**
 * The ledger node's settings as the editor saves them, turned into ledger options: default account
 * policy (minor units), posting rounding, state output mode and the periodic jobs.
 */
import { RoundingMode } from '../core/decimal';
import { LedgerError, percentToBasisPoints, readPolicy } from '../core/ledger/requests';
import { AccountPolicy } from '../core/ledger/types';
import { TimeZone } from '../core/tariff/zone';

export interface LedgerNodeSettings {
  store: string;
  lowThreshold: string;
  lowHysteresis: string;
  emergencyCredit: string;
  emergencyMode: string;
  reconnectAbove: string;
  debtRecoveryShare: string;
  debtRecoveryCap: string;
  debtRecoveryPerDay: string;
  maxBalance: string;
  maxTopup: string;
  standingWhileOff: string;
  rounding: string;
  stateOutput: string;
  snapshotMinutes: string | number;
  maxQueue: string | number;
  timezone: string;
}

export interface LedgerNodeOptions {
  defaults: Partial<AccountPolicy>;
  rounding: RoundingMode;
  stateOutput: 'change' | 'posting';
  snapshotMs: number;
  maxQueue: number;
  zone: TimeZone;
}

export function readLedgerSettings(config: Partial<LedgerNodeSettings>): LedgerNodeOptions {
  const defaults = readPolicy(
    {
      lowThreshold: config.lowThreshold,
      lowHysteresis: config.lowHysteresis,
      emergencyCredit: config.emergencyCredit,
      emergencyMode: config.emergencyMode,
      reconnectAbove: config.reconnectAbove,
      debtRecoveryCap: config.debtRecoveryCap,
      debtRecoveryPerDay: config.debtRecoveryPerDay,
      maxBalance: config.maxBalance,
      maxTopup: config.maxTopup,
      standingWhileOff: config.standingWhileOff,
    },
    'settings',
  );
  if (config.debtRecoveryShare !== undefined && config.debtRecoveryShare !== '') {
    defaults.debtRecoveryShareBp = percentToBasisPoints(
      config.debtRecoveryShare,
      'settings.debtRecoveryShare',
    );
    if (defaults.debtRecoveryShareBp > 10_000)
      throw new LedgerError('settings.debtRecoveryShare', 'must be at most 100');
  }
  const rounding = (config.rounding || 'half-even') as RoundingMode;
  if (rounding !== 'half-even' && rounding !== 'half-away-from-zero') {
    throw new LedgerError('settings.rounding', 'must be half-even or half-away-from-zero');
  }
  const stateOutput = config.stateOutput === 'posting' ? 'posting' : 'change';
  const snapshotMinutes = Number(config.snapshotMinutes ?? 15);
  if (!(snapshotMinutes >= 0)) throw new LedgerError('settings.snapshotMinutes', 'must be 0 (off) or more');
  const maxQueue = Number(config.maxQueue ?? 10_000);
  if (!(Number.isInteger(maxQueue) && maxQueue > 0))
    throw new LedgerError('settings.maxQueue', 'must be a positive whole number');
  const zoneName = config.timezone || 'UTC';
  if (!TimeZone.isValid(zoneName))
    throw new LedgerError('settings.timezone', 'must be an IANA time zone such as "Europe/London"');
  return {
    defaults,
    rounding,
    stateOutput,
    snapshotMs: snapshotMinutes * 60_000,
    maxQueue,
    zone: TimeZone.get(zoneName),
  };
}
