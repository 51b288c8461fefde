/**
 * The reconciliation's rules, on entries built by hand: a meter's charges against its reader's day summary,
 * the chain of registers (a hole is unexplained, a rebaseline explained), calendar items once per account,
 * utility and day, registers equal to their entries, and the intake's counts.
 */
import assert from 'node:assert/strict';
import { reconcile, reconciliationCsv, type MeterDay } from '../../dist/nodes/core/ledger/reconcile';
import type { AccountRecord, EntryRecord } from '../../dist/nodes/core/ledger/types';

const DAY_START = Date.parse('2024-06-03T00:00:00+08:00');
const DAY = 86_400_000;
const QUARTER = 900_000;

let seq = 0;
function entry(
  kind: EntryRecord['kind'],
  accountId: string,
  effectiveAt: number,
  meta: Record<string, unknown>,
  amount = -100n,
): EntryRecord {
  seq += 1;
  return {
    accountId,
    seq,
    kind,
    reference: `charge:${String(meta.readingId)}`,
    part: 0,
    amount,
    debtDelta: 0n,
    balanceAfter: 0n,
    debtAfter: 0n,
    currency: 'MYR',
    postedAt: effectiveAt + 1000,
    effectiveAt,
    meta,
    prevHash: '',
    hash: '',
  };
}

/** Consumption charges of meter E-1 every quarter hour from `from`, the register rising by `step`. */
function chain(count: number, from: number, startRegister: number, step: number): EntryRecord[] {
  const out: EntryRecord[] = [];
  for (let i = 0; i < count; i++) {
    const to = from + (i + 1) * QUARTER;
    const start = Math.round((startRegister + i * step) * 100) / 100;
    const end = Math.round((startRegister + (i + 1) * step) * 100) / 100;
    out.push(
      entry('charge', 'T01', to, {
        meterId: 'E-1',
        readingId: `E-1:${to}`,
        utility: 'electricity',
        from: to - QUARTER,
        register: { start, end, delta: step, unit: 'kWh' },
      }),
    );
  }
  return out;
}

function account(id: string, balance: bigint, entries: number): AccountRecord {
  return {
    id,
    tenant: '',
    name: '',
    currency: 'MYR',
    utilities: [],
    status: 'open',
    balance,
    debt: 0n,
    emergencyActive: false,
    chargeSubTotal: 0n,
    state: 'ok',
    stateChangedAt: 0,
    seq: entries,
    lastHash: '',
    version: 1,
    policy: {} as AccountRecord['policy'],
    openedAt: 0,
  };
}

function meterDay(overrides: Partial<MeterDay> = {}): MeterDay {
  return {
    meterId: 'E-1',
    accountId: 'T01',
    utility: 'electricity',
    unit: 'kWh',
    from: DAY_START,
    to: DAY_START + DAY,
    start: '1000',
    end: '1048',
    billed: '48',
    consumptions: 96,
    held: [],
    rebaselines: [],
    replacements: [],
    rollovers: 0,
    ...overrides,
  };
}

function run(
  charges: EntryRecord[],
  meterDays: MeterDay[] = [meterDay()],
  extra: Partial<Parameters<typeof reconcile>[0]> = {},
) {
  return reconcile({
    period: { from: DAY_START, to: DAY_START + DAY, label: '2024-06-03' },
    now: DAY_START + DAY + 1_800_000,
    charges,
    meterDays,
    accounts: [account('T01', -100n * BigInt(charges.length), charges.length)],
    totals: [
      {
        accountId: 'T01',
        recorded: { balance: -100n * BigInt(charges.length), debt: 0n, seq: charges.length },
        balance: -100n * BigInt(charges.length),
        debt: 0n,
        count: charges.length,
      },
    ],
    dates: ['2024-06-03'],
    ...extra,
  });
}

describe('reconciliation rules', function () {
  it('finds nothing when every quarter hour is billed and the reader agrees', function () {
    const report = run(chain(96, DAY_START, 1000, 0.5));
    assert.deepEqual(report.findings, []);
    assert.equal(report.ok, true);
    assert.deepEqual(report.meters, [
      {
        meterId: 'E-1',
        accountId: 'T01',
        unit: 'kWh',
        billedByLedger: '48',
        charges: 96,
        billedByMeter: '48',
        registerMovement: '48',
      },
    ]);
  });

  it('reports a lost charge as a hole in the chain and a difference with the reader, unexplained', function () {
    const charges = chain(96, DAY_START, 1000, 0.5);
    charges.splice(40, 3); // three quarter hours lost between nodes
    const report = run(charges);
    assert.equal(report.ok, false);
    const kinds = report.findings.map((f) => [f.kind, f.explained, f.amount]);
    assert.deepEqual(kinds, [
      ['billed-differs', false, '1.5'],
      ['hole', false, '1.5'],
    ]);
    assert.match(report.findings[1]?.text ?? '', /register went from 1020 to 1021\.5/);
  });

  it('explains a break in the chain by a rebaseline, and the register movement by the reader', function () {
    const first = chain(48, DAY_START, 1000, 0.5); // to 1024
    const second = chain(48, DAY_START + 48 * QUARTER, 2000, 0.5); // from 2000 after a rebaseline
    const after = { event: 'rebaselined', at: DAY_START + 48 * QUARTER, text: 'meter display read by hand' };
    (second[0] as EntryRecord).meta.register = { ...(second[0]?.meta.register as object), after };
    const report = run(
      [...first, ...second],
      [
        meterDay({
          end: '2024',
          rebaselines: [
            {
              ts: DAY_START + 48 * QUARTER,
              previous: 1024,
              value: 2000,
              reason: 'meter display read by hand',
            },
          ],
        }),
      ],
    );
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.explained]),
      [
        ['rebaselined', true],
        ['chain-rebaselined', true],
      ],
    );
    assert.equal(report.meters[0]?.registerMovement, '1024');
  });

  it('flags a register that moved more than was billed, with suspect values listed as explained', function () {
    const report = run(chain(96, DAY_START, 1000, 0.5), [
      meterDay({ end: '1050', held: [{ ts: DAY_START + 3600_000, value: 99999, text: 'spike' }] }),
    ]);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.explained, f.amount]),
      [
        ['suspect-held', true, undefined],
        ['register-differs', false, '2'],
      ],
    );
  });

  it('takes a time gap over which the registers join (slices of a gap that billed nothing) as no hole', function () {
    const charges = chain(8, DAY_START, 1000, 0.5);
    charges.splice(3, 2); // two quarter hours of nothing, left out: the next starts where the last ended
    const next = charges[3] as EntryRecord;
    (next.meta.register as { start: number }).start = 1001.5;
    (next.meta.register as { delta: number }).delta = 1.5;
    const report = run(charges, []);
    assert.deepEqual(report.findings, []);
  });

  it('leaves out a meter billed only in the week before the period, with no summary for it', function () {
    const before = chain(4, DAY_START - 2 * 3_600_000, 1000, 0.5);
    (before[0] as EntryRecord).meta.meterId = 'E-9';
    const report = run([before[0] as EntryRecord, ...chain(96, DAY_START, 1000, 0.5)]);
    assert.deepEqual(
      report.meters.map((m) => m.meterId),
      ['E-1'],
    );
  });

  it('reports charges overlapping in time', function () {
    const charges = chain(4, DAY_START, 1000, 0.5);
    const copy = {
      ...(charges[2] as EntryRecord),
      reference: 'charge:E-1:other',
      meta: { ...(charges[2] as EntryRecord).meta },
    };
    charges.splice(3, 0, copy);
    const report = run(charges, []);
    assert.deepEqual(
      report.findings.map((f) => f.kind),
      ['overlap'],
    );
  });

  it('checks standing items once per account, utility and day', function () {
    const standing = (utility: string, date: string, n = 0): EntryRecord =>
      entry('standing', 'R01', Date.parse(`${date}T00:00:00+08:00`) + n, {
        readingId: `standing:R01:${utility}:${date}`,
        utility,
      });
    const charges = [
      standing('gas', '2024-06-01'),
      standing('gas', '2024-06-02'),
      standing('cooling', '2024-06-01'),
      standing('cooling', '2024-06-02'),
      standing('cooling', '2024-06-03'),
      // the same day again under the older id, without the utility
      { ...standing('cooling', '2024-06-03', 1), reference: 'charge:standing:R01:2024-06-03' },
    ];
    const report = reconcile({
      period: { from: DAY_START, to: DAY_START + DAY, label: '2024-06-03' },
      now: DAY_START + DAY,
      charges,
      meterDays: [],
      accounts: [account('R01', -600n, 6)],
      totals: [
        {
          accountId: 'R01',
          recorded: { balance: -600n, debt: 0n, seq: 6 },
          balance: -600n,
          debt: 0n,
          count: 6,
        },
      ],
      dates: ['2024-06-03'],
    });
    assert.deepEqual(
      report.findings.map((f) => [f.subject, f.kind, f.explained]),
      [
        ['R01 gas', 'standing-missing', false],
        ['R01 cooling', 'standing-twice', false],
      ],
    );
  });

  it('checks every account against the sums of its entries, and the intake counts', function () {
    const report = reconcile({
      period: { from: DAY_START, to: DAY_START + DAY, label: '2024-06-03' },
      now: DAY_START + DAY,
      charges: [],
      meterDays: [],
      accounts: [account('T01', 500n, 3), account('T02', 0n, 1)],
      totals: [
        {
          accountId: 'T01',
          recorded: { balance: 500n, debt: 0n, seq: 3 },
          balance: 400n,
          debt: 0n,
          count: 3,
        },
        { accountId: 'T02', recorded: { balance: 0n, debt: 0n, seq: 1 }, balance: 0n, debt: 0n, count: 1 },
      ],
      dates: ['2024-06-03'],
      intake: {
        accepted: 10,
        committed: 6,
        duplicates: 1,
        refused: 2,
        pending: 0,
        refusedCharges: [
          { reference: 'charge:E-9:1', error: 'meterId: meter "E-9" is not bound to any account' },
        ],
      },
    });
    assert.deepEqual(
      report.findings.map((f) => [f.area, f.subject, f.kind, f.explained]),
      [
        ['account', 'T01', 'registers-differ', false],
        ['intake', 'intake', 'unaccounted', false],
        ['intake', 'charge:E-9:1', 'charge-refused', false],
        ['intake', 'intake', 'refused', true],
      ],
    );
    const csv = reconciliationCsv(report);
    assert.match(csv, /^period,area,subject,kind,explained,at,amount,text\r\n/);
    assert.match(csv, /2024-06-03,account,T01,registers-differ,NO,,100,/);
  });
});
