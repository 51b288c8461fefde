/**
 * Conversions between ledger records and the plain column values both stores keep. Integers that
 * are money travel as bigint (SQLite with safe integers, PostgreSQL BIGINT read as text).
 */
import { AccountPolicy, AccountRecord, BindingRecord, EntryRecord } from '../core/ledger/types';
import type { AuditRecord } from '../core/ledger/store';
import { CreditState, Utility } from '../core/messages';

type Row = Record<string, unknown>;

const big = (value: unknown): bigint =>
  typeof value === 'bigint' ? value : BigInt(value as string | number);
const num = (value: unknown): number => Number(value);

const policyTexts = new WeakMap<AccountPolicy, string>();

/** The policy as stored (JSON, amounts as strings); cached, since every update writes it. */
export function policyToJson(policy: AccountPolicy): string {
  let text = policyTexts.get(policy);
  if (text === undefined) {
    text = policyJson(policy);
    policyTexts.set(policy, text);
  }
  return text;
}

function policyJson(policy: AccountPolicy): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(policy).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])),
  );
}

export function policyFromJson(text: unknown): AccountPolicy {
  const raw = (typeof text === 'string' ? JSON.parse(text) : text) as Record<string, unknown>;
  return {
    lowThreshold: big(raw.lowThreshold),
    lowHysteresis: big(raw.lowHysteresis),
    emergencyCredit: big(raw.emergencyCredit),
    emergencyMode: raw.emergencyMode as AccountPolicy['emergencyMode'],
    reconnectAbove: big(raw.reconnectAbove),
    debtRecoveryShareBp: num(raw.debtRecoveryShareBp),
    debtRecoveryCap: big(raw.debtRecoveryCap),
    debtRecoveryPerDay: big(raw.debtRecoveryPerDay),
    maxBalance: big(raw.maxBalance),
    maxTopup: big(raw.maxTopup),
    standingWhileOff: raw.standingWhileOff as AccountPolicy['standingWhileOff'],
  };
}

export function accountFromRow(row: Row): AccountRecord {
  return {
    id: String(row.id),
    tenant: String(row.tenant),
    name: String(row.name),
    currency: String(row.currency),
    utilities: (typeof row.utilities === 'string' ? JSON.parse(row.utilities) : row.utilities) as Utility[],
    status: row.status as 'open' | 'closed',
    balance: big(row.balance),
    debt: big(row.debt),
    emergencyActive: row.emergency_active === true || big(row.emergency_active ?? 0) === 1n,
    chargeSubTotal: big(row.charge_sub_total),
    state: row.state as CreditState,
    stateChangedAt: num(row.state_changed_at),
    seq: num(row.seq),
    lastHash: String(row.last_hash),
    version: num(row.version),
    policy: policyFromJson(row.policy),
    openedAt: num(row.opened_at),
    closedAt: row.closed_at === null || row.closed_at === undefined ? undefined : num(row.closed_at),
  };
}

export function entryFromRow(row: Row): EntryRecord {
  return {
    accountId: String(row.account_id),
    seq: num(row.seq),
    kind: row.kind as EntryRecord['kind'],
    reference: String(row.reference),
    part: num(row.part),
    amount: big(row.amount),
    debtDelta: big(row.debt_delta),
    balanceAfter: big(row.balance_after),
    debtAfter: big(row.debt_after),
    currency: String(row.currency),
    postedAt: num(row.posted_at),
    effectiveAt: num(row.effective_at),
    meta: (typeof row.meta === 'string' ? JSON.parse(row.meta) : row.meta) as Record<string, unknown>,
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
    ...(row.seal === null || row.seal === undefined ? {} : { seal: String(row.seal) }),
  };
}

export function bindingFromRow(row: Row): BindingRecord {
  return {
    meterId: String(row.meter_id),
    accountId: String(row.account_id),
    from: num(row.valid_from),
    to: row.valid_to === null || row.valid_to === undefined ? undefined : num(row.valid_to),
    reference: String(row.reference),
  };
}

/** Entry meta as stored: JSON with bigints as strings (they never appear in meta, but be safe). */
export function metaJson(meta: Record<string, unknown>): string {
  try {
    // Without a replacer JSON.stringify takes V8's fast path (a replacer costs a call per value);
    // it throws a TypeError on a bigint, the one value the replacer changes.
    return JSON.stringify(meta);
  } catch {
    return JSON.stringify(meta, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
  }
}

/** An audit record as a database row (the same column names in SQLite and PostgreSQL). */
export function auditRow(record: AuditRecord): Record<string, string | number | null> {
  return {
    reference: record.reference,
    at: record.at,
    kind: record.kind,
    meter_id: record.meterId,
    account_id: record.accountId ?? null,
    action: record.action ?? null,
    reason: record.reason,
    policy: record.policy ?? null,
    actor: record.actor ?? null,
    detail: JSON.stringify(record.detail ?? {}),
  };
}

export function auditFromRow(row: Record<string, unknown>): AuditRecord {
  const record: AuditRecord = {
    reference: String(row.reference),
    at: Number(row.at),
    kind: String(row.kind) as AuditRecord['kind'],
    meterId: String(row.meter_id),
    reason: String(row.reason),
  };
  if (row.account_id !== null && row.account_id !== undefined) record.accountId = String(row.account_id);
  if (row.action !== null && row.action !== undefined) record.action = String(row.action);
  if (row.policy !== null && row.policy !== undefined) record.policy = String(row.policy);
  if (row.actor !== null && row.actor !== undefined) record.actor = String(row.actor);
  const detail =
    typeof row.detail === 'string'
      ? (JSON.parse(row.detail) as Record<string, unknown>)
      : (row.detail as Record<string, unknown>);
  if (detail && Object.keys(detail).length > 0) record.detail = detail;
  return record;
}
