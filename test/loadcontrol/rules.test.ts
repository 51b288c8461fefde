/**
 * The pure load-control code (nodes/core/loadcontrol): the HVAC mapping table's parser with its errors, and the
 * vacancy rule's decisions from account states and relay commands, without Node-RED or BACnet.
 */
import assert from 'node:assert/strict';
import { sameValue, slotKey, valueKind } from '../../dist/nodes/core/loadcontrol/commands';
import { HvacMapError, parseHvacMap } from '../../dist/nodes/core/loadcontrol/hvac-map';
import {
  VacancyInputError,
  VacancyRule,
  readVacancyInput,
  readVacancySnapshot,
} from '../../dist/nodes/core/loadcontrol/vacancy';

const TABLE = [
  'account,object,unoccupied,occupied,priority',
  'T1,multi-state-output:1,2,relinquish,10',
  'T1,analog-output:1,28,,',
  'T2,binary-output:1,inactive,active,12',
].join('\n');

function errorOf(text: string): HvacMapError {
  try {
    parseHvacMap(text, 1234, 10);
  } catch (error) {
    assert.ok(error instanceof HvacMapError, String(error));
    return error;
  }
  assert.fail('no error');
}

describe('load control: HVAC mapping table', () => {
  it('reads rows with the client device, value kinds, relinquish and the default priority', () => {
    const rows = parseHvacMap(TABLE, 1234, 9);
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[0], {
      account: 'T1',
      target: { device: 1234, objectType: 14, instance: 1 },
      unoccupied: 2,
      occupied: null,
      priority: 10,
      line: 2,
    });
    assert.equal(rows[1]!.priority, 9);
    assert.equal(rows[1]!.occupied, null);
    assert.equal(rows[1]!.unoccupied, 28);
    assert.equal(rows[2]!.unoccupied, false);
    assert.equal(rows[2]!.occupied, true);
    assert.equal(valueKind(4), 'enumerated');
    assert.equal(valueKind(14), 'unsigned');
    assert.equal(valueKind(1), 'real');
  });

  it('takes semicolons, any column order, comments, another device and a property number', () => {
    const rows = parseHvacMap(
      '# site HVAC\npriority;unoccupied;object;account\n11;26.5;77/analog-value:3.104;T9\n',
      1234,
      10,
    );
    assert.deepEqual(rows[0]!.target, { device: 77, objectType: 2, instance: 3, property: 104 });
    assert.equal(rows[0]!.priority, 11);
  });

  it('names the line and column of every mistake', () => {
    const cases: Array<[string, number, string, RegExp]> = [
      ['account,object\nT1,analog-output:1', 1, 'unoccupied', /missing from the header/],
      ['account,object,unoccupied\n,analog-output:1,3', 2, 'account', /required/],
      ['account,object,unoccupied\nT1,chiller:1,3', 2, 'object', /unknown object type "chiller"/],
      ['account,object,unoccupied\nT1,analog-output-1,3', 2, 'object', /not <type>:<instance>/],
      ['account,object,unoccupied\nT1,binary-output:1,2', 2, 'unoccupied', /not a binary state/],
      ['account,object,unoccupied\nT1,multi-state-output:1,1.5', 2, 'unoccupied', /whole number/],
      ['account,object,unoccupied\nT1,analog-output:1,1e3', 2, 'unoccupied', /plain decimal/],
      ['account,object,unoccupied,occupied\nT1,analog-output:1,3,warm', 2, 'occupied', /or "relinquish"/],
      ['account,object,unoccupied,priority\nT1,analog-output:1,3,1', 2, 'priority', /life safety/],
      ['account,object,unoccupied,priority\nT1,analog-output:1,3,6', 2, 'priority', /not 3-16/],
      ['account,object,unoccupied,priority\nT1,analog-output:1,3,17', 2, 'priority', /not 3-16/],
      [
        'account,object,unoccupied\nT1,analog-output:1,3\nT2,analog-output:1,4',
        3,
        'object',
        /mapped for T1 \(line 2\) and T2: one slot serves one account/,
      ],
    ];
    for (const [text, line, column, message] of cases) {
      const error = errorOf(text);
      assert.equal(error.line, line, text);
      assert.equal(error.column, column, text);
      assert.match(error.message, message, text);
      assert.match(error.message, new RegExp(`^line ${line}, column ${column}: `));
    }
  });

  it('lets one object be commanded at two priorities and compares REALs as float32', () => {
    const rows = parseHvacMap(
      'account,object,unoccupied,priority\nT1,analog-output:1,3,10\nT1,analog-output:1,4,11',
      5,
      10,
    );
    assert.notEqual(slotKey(rows[0]!.target, 10), slotKey(rows[1]!.target, 11));
    assert.ok(sameValue(21.1, Math.fround(21.1)));
    assert.ok(sameValue(true, 1));
    assert.ok(!sameValue(2, 3));
    assert.ok(!sameValue(2, null));
  });
});

describe('load control: vacancy rule', () => {
  const rows = parseHvacMap(TABLE, 1234, 10);
  const state = (accountId: string, s: string) =>
    readVacancyInput({ accountId, state: s, available: 0, balance: 0 });
  const relay = (accountId: string, action: string, extra: Record<string, unknown> = {}) =>
    readVacancyInput({
      meterId: `E-${accountId}`,
      accountId,
      action,
      reason: 'policy',
      policy: 'site',
      ...extra,
    });

  it('sets a closed account back and restores it on move-in', () => {
    const rule = new VacancyRule(rows);
    assert.deepEqual(
      rule.apply(state('T1', 'ok')),
      [],
      'an account first heard of in credit is left to the BEMS',
    );
    const setback = rule.apply(state('T1', 'closed'));
    assert.deepEqual(
      setback.map((c) => [c.key, c.value, c.priority]),
      [
        ['1234/multi-state-output:1@10', 2, 10],
        ['1234/analog-output:1@10', 28, 10],
      ],
    );
    assert.match(setback[0]!.reason, /^T1 vacant \(account closed\)$/);
    assert.deepEqual(rule.apply(state('T1', 'closed')), [], 'no change, no command');
    const restore = rule.apply(state('T1', 'ok'));
    assert.deepEqual(
      restore.map((c) => c.value),
      [null, null],
    );
    assert.match(restore[0]!.reason, /moved in/);
    assert.deepEqual(rule.counts(), { setback: 0, occupied: 1 });
  });

  it('sets back on a policy cut and restores on reconnection, with the occupied value', () => {
    const rule = new VacancyRule(rows);
    rule.apply(state('T2', 'exhausted'));
    const cut = rule.apply(relay('T2', 'disconnect'));
    assert.deepEqual(
      cut.map((c) => [c.value, c.priority]),
      [[false, 12]],
    );
    assert.match(cut[0]!.reason, /supply cut for exhausted credit \(meter E-T2\)/);
    assert.deepEqual(
      rule.desired().map((c) => c.value),
      [false],
    );
    const back = rule.apply(relay('T2', 'connect'));
    assert.deepEqual(
      back.map((c) => c.value),
      [true],
    );
    assert.match(back[0]!.reason, /meter E-T2 reconnected/);
    assert.deepEqual(
      rule.desired().map((c) => c.value),
      [true],
      'an occupied value stays commanded',
    );
  });

  it('ignores an operator-forced disconnect and relay commands without an account', () => {
    const rule = new VacancyRule(rows);
    assert.deepEqual(rule.apply(relay('T2', 'disconnect', { by: 'desk' })), []);
    assert.deepEqual(readVacancyInput({ meterId: 'E-9', action: 'disconnect', reason: 'x' }).kind, 'ignore');
  });

  it('stays set back while the account is closed even when a relay reconnects', () => {
    const rule = new VacancyRule(rows);
    rule.apply(relay('T1', 'disconnect'));
    rule.apply(state('T1', 'closed'));
    assert.deepEqual(rule.apply(relay('T1', 'connect')), []);
    assert.equal(rule.modeOfAccount('T1').mode, 'setback');
  });

  it('survives a restart through its snapshot, and reads a damaged one without failing', () => {
    const rule = new VacancyRule(rows);
    rule.apply(state('T1', 'closed'));
    const again = new VacancyRule(rows, readVacancySnapshot(JSON.parse(JSON.stringify(rule.snapshot()))));
    assert.deepEqual(
      again.desired().map((c) => c.value),
      [2, 28],
    );
    assert.deepEqual(again.apply(state('T1', 'closed')), []);
    assert.deepEqual(
      readVacancySnapshot({ accounts: { T1: { cut: [3, 'E'], mode: 'nonsense', credit: 'broke' } } }),
      {
        accounts: { T1: { cut: ['E'], why: '' } },
      },
    );
    assert.deepEqual(readVacancySnapshot('garbage'), { accounts: {} });
  });

  it('refuses what is neither an account state nor a relay command, naming the field', () => {
    assert.throws(() => readVacancyInput(42), VacancyInputError);
    assert.throws(() => readVacancyInput({ state: 'ok' }), /accountId: is required/);
    assert.throws(() => readVacancyInput({ accountId: 'T1', state: 'bankrupt' }), /state: must be one of/);
    assert.throws(
      () => readVacancyInput({ meterId: 'E', accountId: 'T1', action: 'explode' }),
      /action: must be one of/,
    );
  });
});
