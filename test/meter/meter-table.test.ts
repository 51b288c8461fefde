/**
 * Meter tables and profiles (nodes/core/meter/meter-table.ts, profile.ts): CSV import whose errors name the
 * row and column, and profile checks that name the field.
 */
import assert from 'node:assert/strict';
import {
  meterTableFromCsv,
  meterTableToCsv,
  MeterTableError,
  parseCsv,
} from '../../dist/nodes/core/meter/meter-table';
import { compileProfile, ProfileError } from '../../dist/nodes/core/meter/profile';
import { builtInProfiles, profilesWith } from '../../dist/nodes/meter/profile-registry';

const context = {
  profiles: new Map(
    [...builtInProfiles().values()].map((p) => [
      p.id,
      { utility: p.utility, hasRelay: p.relay !== undefined, hasCounter: p.counter !== undefined },
    ]),
  ),
};

function tableError(csv: string): MeterTableError {
  try {
    meterTableFromCsv(csv, context);
  } catch (error) {
    assert.ok(error instanceof MeterTableError, String(error));
    return error;
  }
  assert.fail('expected a MeterTableError');
}

describe('meter table CSV', () => {
  it('reads a table with quoted fields, a BOM, CRLF, semicolons and columns in any order', () => {
    const csv =
      '\ufeffprofile;meterId;unitId;accountId;utility;relay\r\neastron-sdm630;E-0412;12;"T0412";electricity;20/3\r\n"hiking-dds238-2";"E-0413";13;"Shop ""B""";;builtin\r\n\r\n';
    const rows = meterTableFromCsv(csv, context);
    assert.deepEqual(rows[0], {
      meterId: 'E-0412',
      unitId: 12,
      profile: 'eastron-sdm630',
      utility: 'electricity',
      accountId: 'T0412',
      relay: { kind: 'module', unitId: 20, channel: 3 },
    });
    assert.equal(rows[1]!.accountId, 'Shop "B"');
    assert.equal(rows[1]!.utility, 'electricity', 'utility from the profile');
    assert.deepEqual(rows[1]!.relay, { kind: 'builtin' });
    assert.deepEqual(meterTableFromCsv(meterTableToCsv(rows), context), rows);
  });

  it('reads the declared column (quantities for tariff items priced per them) and writes it back', () => {
    const rows = meterTableFromCsv(
      'meterId,unitId,profile,declared\nE-1,1,eastron-sdm630,"kVA=63;fittings=3"\nE-2,2,eastron-sdm630,RT = 120.5\nE-3,3,eastron-sdm630,\n',
      context,
    );
    assert.deepEqual(
      rows.map((r) => r.declared),
      [{ kVA: '63', fittings: '3' }, { RT: '120.5' }, undefined],
    );
    assert.deepEqual(meterTableFromCsv(meterTableToCsv(rows), context), rows);
    const header = 'meterId,unitId,profile,declared\n';
    for (const [value, message] of [
      ['kVA', /must be name=value/],
      ['kVA=-1', /kVA: "-1" must be a plain decimal/],
      ['kVA=1e3', /must be a plain decimal/],
      ['kVA=100000', /at most 5 digits/],
      ['"kVA=1;kVA=2"', /"kVA" is given twice/],
      ['=3', /must be name=value/],
    ] as Array<[string, RegExp]>) {
      const error = tableError(`${header}E-1,1,eastron-sdm630,${value}\n`);
      assert.equal(error.column, 'declared', error.message);
      assert.match(error.message, message);
      assert.match(error.message, /^row 2, column declared: /);
    }
  });

  it('names the row and column of each kind of bad row', () => {
    const header = 'meterId,unitId,profile,utility,accountId,relay\n';
    const cases: Array<[string, number, string, RegExp]> = [
      [
        'E-1,1,eastron-sdm630,electricity,,\nE-2,abc,eastron-sdm630,,,\n',
        3,
        'unitId',
        /must be a unit id 0-255/,
      ],
      ['E-1,1,acme-9000,electricity,,\n', 2, 'profile', /unknown profile "acme-9000"/],
      ['E-1,1,eastron-sdm630,steam,,\n', 2, 'utility', /must be one of electricity, water, gas, cooling/],
      ['E-1,1,eastron-sdm630,,,\nE-1,2,eastron-sdm630,,,\n', 3, 'meterId', /already used on row 2/],
      ['E-1,1,eastron-sdm630,,,builtin\n', 2, 'relay', /profile has no relay/],
      ['E-1,1,eastron-sdm630,,,relay 3\n', 2, 'relay', /must be empty, "builtin" or "<unitId>\/<channel>"/],
      ['E-1,1,relay-module-8ch,,,\n', 2, 'profile', /has no counter/],
      [',1,eastron-sdm630,,,\n', 2, 'meterId', /is required/],
    ];
    for (const [rows, row, column, message] of cases) {
      const error = tableError(header + rows);
      assert.equal(error.row, row, error.message);
      assert.equal(error.column, column, error.message);
      assert.match(error.message, message);
      assert.match(error.message, new RegExp(`^row ${row}, column ${column}: `));
    }
    assert.match(tableError('meterId,profile\nE-1,eastron-sdm630\n').message, /no "unitId" column/);
    assert.match(tableError('').message, /is empty/);
  });

  it('keeps line numbers right across quoted newlines', () => {
    const rows = parseCsv('a,b\n"x\ny",1\nz,2\n');
    assert.deepEqual(
      rows.map((r) => r.line),
      [1, 2, 4],
    );
  });
});

describe('meter profiles', () => {
  it('loads every built-in profile, each citing its source', () => {
    const profiles = builtInProfiles();
    assert.equal(profiles.size, 9);
    for (const profile of profiles.values()) {
      const source = profile.source as { document?: string; where?: string };
      assert.ok(source?.document && source.where, `${profile.id} cites its document`);
    }
  });

  it('subtracts one from manual register numbers with "addressing": "one"', () => {
    const iem = builtInProfiles().get('schneider-iem3000')!;
    assert.equal(iem.counter!.address, 3203);
  });

  it('names the exact field of a bad user profile', () => {
    const bad: Array<[unknown, string]> = [
      [{ id: 'x', counter: 'e', values: { e: { address: 0, type: 'int24' } } }, 'values.e.type'],
      [{ id: 'x', counter: 'e', values: { e: { address: -1 } } }, 'values.e.address'],
      [{ id: 'x', counter: 'e', values: { e: { address: 0, function: 6 } } }, 'values.e.function'],
      [{ id: 'x', counter: 'e', values: { e: { address: 0, wordOrder: 'middle' } } }, 'values.e.wordOrder'],
      [{ id: 'x', counter: 'e', values: { e: { address: 0, scale: 0 } } }, 'values.e.scale'],
      [{ id: 'x', counter: 'f', values: { e: { address: 0 } } }, 'counter'],
      [{ id: 'x', values: { e: { address: 0 } } }, 'counter'],
      [{ id: 'x y', counter: 'e', values: { e: { address: 0 } } }, 'id'],
      [{ id: 'x', counter: 'e', addressing: 'one', values: { e: { address: 0 } } }, 'values.e.address'],
      [
        {
          id: 'x',
          counter: 'e',
          values: { e: { address: 0 } },
          relay: { write: { function: 3, address: 0, on: 1, off: 0 } },
        },
        'relay.write.function',
      ],
    ];
    for (const [spec, field] of bad) {
      assert.throws(
        () => compileProfile(spec),
        (error: Error) =>
          error instanceof ProfileError && (error as InstanceType<typeof ProfileError>).field === field,
        `${JSON.stringify(spec)} -> ${field}`,
      );
    }
  });

  it('adds user profiles from JSON and reports where a bad one is wrong', () => {
    const profiles = profilesWith(
      JSON.stringify([
        {
          id: 'my-meter',
          counter: 'energy',
          values: { energy: { address: 0, function: 3, type: 'uint32', scale: 0.01, unit: 'kWh' } },
        },
      ]),
    );
    assert.equal(profiles.get('my-meter')!.counter!.scale, 0.01);
    assert.throws(
      () => profilesWith('[{"id":"bad","counter":"e","values":{"e":{"address":0,"type":"x"}}}]'),
      /profiles\[0\] "bad"\.values\.e\.type/,
    );
    assert.throws(() => profilesWith('{nope'), /profiles: is not valid JSON/);
  });
});
