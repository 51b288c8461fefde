/**
 * Every override in the reference site answers its sender, in a real Node-RED running the generated flow: the
 * operator dashboard's path (the admin API, POST /prepay-cutoff/override) answers applied, with the supply audit
 * row, or refused with the reason; a BEMS write through the site's BACnet device, made with the bacnet-stack C
 * tools (a client this package did not write), is applied on the relay with its audit rows, or, when the cutoff
 * refuses it, shows as a fault on the override point (Reliability, Status_Flags, the reason in Description); a
 * value the point cannot take is refused on the wire with a BACnet error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '../support/node-red-helper';
import { freeUdpPort } from '../bacnet/support';
import { BACNET_STACK_BIN } from '../support/bacnet-stack';
import { startReferenceSite, type RunningSite } from '../support/reference-site';

const run = promisify(execFile);
const TOOLS = BACNET_STACK_BIN ?? 'bacnet-stack tools (set BACNET_STACK_BIN)';
const DEVICE = 412001;
const MSV = 'multi-state-value';

interface Audit {
  kind: string;
  action: string | null;
  actor: string | null;
  reason: string | null;
}

describe('overrides in the reference site answer their sender', function () {
  this.timeout(240_000);
  let site: RunningSite;
  let instances: Map<string, [number, number]>;

  /** Runs a bacnet-stack tool against the site device from a free port of its own; its output. */
  async function tool(name: string, args: string[]): Promise<string> {
    const port = await freeUdpPort();
    const { stdout, stderr } = await run(
      join(TOOLS, name),
      ['--mac', `127.0.0.1:${site.bacnetPort}`, '--dnet', '0', ...args],
      {
        env: {
          ...process.env,
          BACNET_IFACE: 'lo',
          BACNET_IP_PORT: String(port),
          BACNET_IP_BROADCAST_PORT: String(site.bacnetPort),
          BACNET_APDU_TIMEOUT: '3000',
          BACNET_APDU_RETRIES: '1',
        },
        timeout: 20_000,
      },
    ).catch((error: { stdout?: string; stderr?: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }));
    return `${stdout}${stderr}`.trim();
  }
  const instance = (name: string): number => {
    const found = instances.get(name);
    assert.ok(found, `${name} is a BACnet object`);
    return found[1];
  };
  const read = (name: string, property: string) =>
    tool('bacrp', [String(DEVICE), MSV, String(instance(name)), property]);
  const readAny = (type: string, name: string, property: string) =>
    tool('bacrp', [String(DEVICE), type, String(instance(name)), property]);
  const write = (name: string, value: string, priority = 8) =>
    tool('bacwp', [
      String(DEVICE),
      MSV,
      String(instance(name)),
      'present-value',
      String(priority),
      '-1',
      value === 'null' ? '0' : '2',
      value === 'null' ? '0' : value,
    ]);
  const audit = (meterId: string): Audit[] =>
    site.db
      .prepare(
        'SELECT kind, action, actor, reason FROM supply_audit WHERE meter_id = ? AND actor IS NOT NULL ORDER BY at, kind DESC',
      )
      .all(meterId) as Audit[];
  async function until<T>(what: string, probe: () => T | Promise<T>, ok: (value: T) => boolean): Promise<T> {
    let last: T | undefined;
    for (let attempt = 0; attempt < 120; attempt += 1) {
      last = await probe();
      if (ok(last)) return last;
      await sleep(250);
    }
    assert.fail(`${what}: last ${JSON.stringify(last)}\n${site.red.log().slice(-3000)}`);
  }
  async function override(
    body: Record<string, unknown>,
  ): Promise<{ status: number; answer: Record<string, unknown> }> {
    const response = await site.red.request('/prepay-cutoff/override', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, answer: (await response.json()) as Record<string, unknown> };
  }

  before(async function () {
    if (!existsSync(join(TOOLS, 'bacwp'))) {
      if (process.env.CI === 'true') throw new Error(`the bacnet-stack tools are required in CI (${TOOLS})`);
      console.warn(`\n  !!! SKIPPING: the bacnet-stack tools are not at ${TOOLS} !!!\n`);
      this.skip();
    }
    site = await startReferenceSite({});
    const registry = join(site.userDir, 'prepay', `bacnet-device-${DEVICE}-instances.json`);
    await until(
      'the BACnet device has the override points',
      () =>
        existsSync(registry)
          ? (JSON.parse(readFileSync(registry, 'utf8')) as { entries: Array<[string, number, number]> })
              .entries
          : [],
      (entries) =>
        ['T0001.Water.Override', 'T0001.Electricity.Override', 'T0001.Electricity.Supply'].every((name) =>
          entries.some(([n]) => n === name),
        ),
    ).then((entries) => (instances = new Map(entries.map(([name, type, n]) => [name, [type, n]]))));
    // Every relay taken in hand (connected, read back, audited) before the operators act.
    await until(
      'E-T0001 and E-T0002 connected',
      () =>
        site.db
          .prepare(
            "SELECT count(*) AS n FROM supply_audit WHERE kind = 'command' AND action = 'connect' AND meter_id IN ('E-T0001', 'E-T0002')",
          )
          .get() as { n: number },
      (row) => Number(row.n) >= 2,
    );
  });

  after(async () => {
    await site?.stop();
  });

  it('dashboard path: applied with its audit rows, refused with the reason', async function () {
    const applied = await override({
      meterId: 'E-T0002',
      action: 'disconnect',
      reason: 'meter swap',
      minutes: 60,
    });
    assert.equal(applied.status, 200, JSON.stringify(applied.answer));
    assert.equal(applied.answer.outcome, 'applied');
    assert.match(String((applied.answer.relay as { text: string }).text), /confirmed "disconnect"/);
    assert.deepEqual(
      audit('E-T0002').map((r) => [r.kind, r.action, r.actor, r.reason]),
      [
        ['override', 'disconnect', 'unauthenticated (adminAuth off)', 'meter swap'],
        ['command', 'disconnect', 'unauthenticated (adminAuth off)', audit('E-T0002')[1]?.reason ?? null],
      ],
    );
    const water = await override({ meterId: 'W-T0002', action: 'disconnect', reason: 'leak', minutes: 60 });
    assert.deepEqual(
      [water.status, water.answer.outcome, water.answer.error],
      [
        409,
        'refused',
        `no cutoff node owns meter "W-T0002": it has no relay in any running cutoff node's table`,
      ],
    );
    const unknown = await override({ meterId: 'E-T9999', action: 'disconnect', reason: 'x', minutes: 60 });
    assert.deepEqual(
      [unknown.status, unknown.answer.outcome, unknown.answer.error],
      [404, 'refused', 'unknown meter "E-T9999": no running meter reader or cutoff node has it'],
    );
    const invalid = await override({ meterId: 'E-T0002', action: 'disconnect', reason: 'no expiry' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.answer.outcome, 'refused');
    assert.ok(String(invalid.answer.error).length > 0);
    assert.deepEqual(audit('W-T0002'), []);
  });

  it('BACnet path: a write is applied on the relay and audited with the BEMS as its author', async function () {
    const out = await write('T0001.Electricity.Override', '3');
    assert.match(out, /WriteProperty Acknowledged/i, out);
    const rows = await until(
      'the override and the relay command of E-T0001 audited',
      () => audit('E-T0001'),
      (r) => r.some((a) => a.kind === 'command' && a.action === 'disconnect'),
    );
    assert.deepEqual(
      rows.map((r) => [r.kind, r.action]),
      [
        ['override', 'disconnect'],
        ['command', 'disconnect'],
      ],
    );
    assert.match(String(rows[0]!.actor), /^bacnet:127\.0\.0\.1:\d+$/);
    assert.match(String(rows[0]!.reason), /BACnet override force off at priority 8/);
    await until(
      'T0001.Electricity.Supply reads inactive (0)',
      () => readAny('binary-value', 'T0001.Electricity.Supply', 'present-value'),
      (text) => /inactive|^0$/m.test(text),
    );
    assert.match(await read('T0001.Electricity.Override', 'reliability'), /no-fault-detected/);
  });

  it('BACnet path: a write the cutoff refuses is a fault on the point, with the reason; a value out of range is a BACnet error', async function () {
    const out = await write('T0001.Water.Override', '3');
    assert.match(out, /WriteProperty Acknowledged/i, out);
    const reliability = await until(
      'T0001.Water.Override reports the refusal',
      () => read('T0001.Water.Override', 'reliability'),
      (text) => /unreliable-other/.test(text),
    );
    assert.match(reliability, /unreliable-other/);
    // Status_Flags: in-alarm (its Event_State is fault) and fault.
    assert.match(await read('T0001.Water.Override', 'status-flags'), /\{true,true,false,false\}/);
    assert.match(
      await read('T0001.Water.Override', 'description'),
      /the last write was refused for W-T0001: override refused: no cutoff node drives meter "W-T0001"/,
    );
    assert.deepEqual(audit('W-T0001'), []);
    // Relinquished: back on auto, no fault.
    assert.match(await write('T0001.Water.Override', 'null'), /WriteProperty Acknowledged/i);
    await until(
      'T0001.Water.Override without the fault',
      () => read('T0001.Water.Override', 'reliability'),
      (text) => /no-fault-detected/.test(text),
    );
    // Not an override state: refused on the wire, nothing sent to the cutoff.
    const refused = await write('T0001.Electricity.Override', '4');
    assert.match(refused, /BACnet Error: property: value-out-of-range/i, refused);
  });
});
