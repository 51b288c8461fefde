/**
 * Crash safety of the meter reader in a real Node-RED process polling the simulator over Modbus TCP:
 * Node-RED is killed with SIGKILL at random moments and restarted; everything the reader sent is appended
 * to a file by Node-RED's own file node. Afterwards each meter's consumption, keyed by reading id, must
 * form one unbroken chain (each delta starts where the previous ended, values add up exactly): nothing
 * lost and nothing counted twice, whatever moment the process died at.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledClock } from '../../dist/nodes/core/clock';
import { parseDecimal } from '../../dist/nodes/core/decimal';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { planSite, siteMeterTable, SimulatedSite } from '../../dist/nodes/simulator/site';
import { NodeRedProcess } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';

const root = join(__dirname, '..', '..', '..');
const KILLS = 6;

interface Consumption {
  meterId: string;
  readingId: string;
  value: number;
  delta: number;
  from: number;
  to: number;
}

function micro(value: number): bigint {
  const p = parseDecimal(value);
  return p.units * 10n ** BigInt(9 - p.scale);
}

describe('meter reader crash safety (SIGKILL)', function () {
  this.timeout(300_000);

  it('keeps every meter an unbroken chain of consumption across kills', async function () {
    const profiles = builtInProfiles();
    const specs = planSite({ tenants: 6, seed: 11 }, profiles);
    // Building time runs 120 times faster in both processes (settings.prepay.speed), so rates stay plausible.
    const origin = Date.now();
    const site = new SimulatedSite(specs, profiles, new ScaledClock(origin, 120, origin));
    const [port] = (await site.start()) as [number];
    const userDir = tempUserDir();
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
    const log = join(userDir, 'consumption.jsonl');
    const table = siteMeterTable(specs).map((row) => ({
      meterId: row.meterId,
      unitId: row.unitId,
      profile: row.profile,
      utility: row.utility,
      accountId: row.accountId,
    }));
    const flows = [
      { id: 'crashtab00000002', type: 'tab', label: 'meter crash test' },
      {
        id: 'crashlink0000001',
        type: 'prepay-modbus',
        kind: 'tcp',
        host: '127.0.0.1',
        port,
        timeout: 500,
        retries: 0,
      },
      {
        id: 'crashmeter000001',
        type: 'prepay-meter',
        z: 'crashtab00000002',
        source: 'modbus',
        link: 'crashlink0000001',
        interval: 60,
        table,
        wires: [['crashfile0000001'], [], []],
      },
      {
        id: 'crashfile0000001',
        type: 'file',
        z: 'crashtab00000002',
        filename: log,
        filenameType: 'str',
        appendNewline: true,
        createDir: true,
        overwriteFile: 'false',
        encoding: 'utf8',
        wires: [[]],
      },
    ];
    try {
      let first = true;
      for (let kill = 0; kill <= KILLS; kill += 1) {
        const red = await NodeRedProcess.start({
          userDir,
          flows: first ? flows : undefined,
          settings: { prepay: { speed: 120, origin } },
        });
        first = false;
        await sleep(kill === KILLS ? 3000 : 1200 + Math.floor(Math.random() * 1800));
        if (kill === KILLS) await red.stop();
        else await red.kill('SIGKILL');
      }
    } finally {
      await site.stop();
    }
    assert.ok(existsSync(log));
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const byId = new Map<string, Consumption>();
    for (const line of lines) {
      const c = JSON.parse(line) as Consumption;
      const seen = byId.get(c.readingId);
      if (seen) assert.deepEqual(c, seen, `reading ${c.readingId} sent twice with different contents`);
      byId.set(c.readingId, c);
    }
    const meters = new Map<string, Consumption[]>();
    for (const c of byId.values()) meters.set(c.meterId, [...(meters.get(c.meterId) ?? []), c]);
    assert.equal(meters.size, specs.length, 'every meter produced consumption');
    for (const [meterId, list] of meters) {
      list.sort((a, b) => a.to - b.to);
      for (let i = 1; i < list.length; i += 1) {
        const previous = list[i - 1]!;
        const current = list[i]!;
        assert.equal(current.from, previous.to, `${meterId}: a gap or overlap before ${current.readingId}`);
        assert.equal(
          micro(previous.value) + micro(current.delta),
          micro(current.value),
          `${meterId}: values do not add up at ${current.readingId}`,
        );
      }
      assert.ok(list.length > KILLS, `${meterId} has ${list.length} deltas`);
    }
    console.log(`      ${lines.length} lines, ${byId.size} distinct readings over ${KILLS} kills`);
  });
});
