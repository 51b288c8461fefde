/**
 * Every example flow imports and runs at once in a real Node-RED 4.1: deployed on its own tab in a
 * fresh user directory, it starts without an error and produces its output (checked through what
 * the flow leaves behind: the ledger file, the tariff state file).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { flowOnFreePorts, NodeRedProcess } from '../support/node-red-process';
import { sleep, tempUserDir } from '../support/node-red-helper';

const root = join(__dirname, '..', '..', '..');
const CONFIG_TYPES = new Set([
  'prepay-store',
  'prepay-modbus',
  'prepay-influx',
  'prepay-bacnet-device',
  'prepay-bacnet-client',
]);

/** An example as the editor imports it: flow nodes on a new tab, config nodes global. */
function onTab(nodes: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const tab = { id: 'exampletab000001', type: 'tab', label: 'example' };
  return [tab, ...nodes.map((n) => (CONFIG_TYPES.has(String(n.type)) ? n : { ...n, z: tab.id }))];
}

const checks: Record<string, (userDir: string) => Promise<void>> = {
  'bacnet-points': async (userDir) => {
    // Three tenants became BACnet objects with stable instances; the cutoff's relay commands made supply points.
    const registry = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'bacnet-device-4120-instances.json'), 'utf8'),
    ) as { entries: Array<[string, number, number, number]> };
    const names = registry.entries.map(([name]) => name);
    for (const tenant of ['T0101', 'T0102', 'T0103'])
      for (const suffix of [
        'Balance',
        'CreditState',
        'DaysLeft',
        'Electricity.Supply',
        'Electricity.Override',
      ])
        assert.ok(names.includes(`${tenant}.${suffix}`), `${tenant}.${suffix}`);
    assert.ok(names.includes('E-T0101.Register'));
    const values = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'bacnet-device-4120-values.json'), 'utf8'),
    ) as { points: Record<string, { v: number }> };
    assert.equal(values.points['T0102.Balance']?.v, Math.fround(3.8));
    assert.equal(values.points['T0101.Electricity.Supply']?.v, 1, 'connected by the cutoff');
  },
  'loadcontrol-demand': async (userDir) => {
    // The site's readings crossed the (deliberately low) target: both tenants were limited through the cutoff,
    // never cut, and the vacant unit was set back on the simulator's BEMS controller.
    const cutoff = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'cutoff-exAcut00000001.json'), 'utf8'),
    ) as {
      meters: Record<string, { commanded?: string; commandedLimitW?: number; loadLimit?: { by: string } }>;
    };
    assert.deepEqual(
      [cutoff.meters['E-T0001']?.commanded, cutoff.meters['E-T0001']?.commandedLimitW],
      ['limit', 800],
    );
    assert.deepEqual(
      [cutoff.meters['E-T0002']?.commanded, cutoff.meters['E-T0002']?.commandedLimitW],
      ['limit', 500],
    );
    assert.match(String(cutoff.meters['E-T0001']?.loadLimit?.by), /load control demand limiting/);
    const state = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'loadcontrol-exAlc000000001.json'), 'utf8'),
    ) as { accounts: Record<string, { mode?: string }> };
    assert.equal(state.accounts.T0003?.mode, 'setback');
    const base = join(userDir, 'prepay', 'bacnet-client-exAbc000000001');
    // The setback and the shed chilled-water setpoint landed on the controller: held in the lease file.
    const lease = JSON.parse(readFileSync(`${base}-lease.json`, 'utf8')) as {
      entries: Array<{ key: string }>;
    };
    assert.deepEqual(lease.entries.map((e) => e.key).sort(), [
      '1234/analog-value:3@12',
      '1234/multi-state-value:3@12',
      'demand:chilled water +3 C',
    ]);
    if (existsSync(`${base}-watchdog.pid`)) {
      try {
        process.kill(Number(readFileSync(`${base}-watchdog.pid`, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  },
  'loadcontrol-vacancy': async (userDir) => {
    // Both units were set back (the rule's state is on disk before a command is sent) on the simulator's BEMS
    // controller: the three commands in force are held in the lease file for the watchdog, which this check stops.
    const state = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'loadcontrol-ex9lc000000001.json'), 'utf8'),
    ) as {
      accounts: Record<string, { mode?: string; why: string }>;
    };
    assert.equal(state.accounts.T0001?.mode, 'setback');
    assert.equal(state.accounts.T0002?.mode, 'setback');
    assert.match(state.accounts.T0002!.why, /exhausted credit/);
    const base = join(userDir, 'prepay', 'bacnet-client-ex9bc000000001');
    const lease = JSON.parse(readFileSync(`${base}-lease.json`, 'utf8')) as {
      entries: Array<{ key: string }>;
    };
    assert.equal(lease.entries.length, 3, `${lease.entries.length} held`);
    const pid = Number(readFileSync(`${base}-watchdog.pid`, 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  },
  'building-in-one-tab': async (userDir) => {
    // Eight tenants opened with their opening credit, every meter read, every electricity relay taken in hand
    // (connected, read back, audited), and every tenant a set of BACnet points.
    const example = JSON.parse(
      readFileSync(join(root, 'examples', 'building-in-one-tab.json'), 'utf8'),
    ) as Array<{
      id: string;
      type: string;
      table?: Array<{ meterId: string; relay: string }>;
    }>;
    const meters = example.find((n) => n.type === 'prepay-meter')!;
    const state = JSON.parse(readFileSync(join(userDir, 'prepay', `meter-${meters.id}.json`), 'utf8')) as {
      meters: Record<string, { baseline?: unknown }>;
    };
    assert.deepEqual(Object.keys(state.meters).sort(), meters.table!.map((row) => row.meterId).sort());
    for (const [meterId, meter] of Object.entries(state.meters))
      assert.ok(meter.baseline, `${meterId} was read`);
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-building-example.db') });
    await store.init();
    try {
      assert.equal((await store.listAccounts()).length, 8);
      const connected = new Set(
        (await store.auditLog()).filter((r) => r.action === 'connect').map((r) => r.meterId),
      );
      const relays = meters.table!.filter((row) => row.relay !== '').map((row) => row.meterId);
      assert.deepEqual([...connected].sort(), relays.sort());
    } finally {
      await store.close();
    }
    const registry = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'bacnet-device-4130-instances.json'), 'utf8'),
    ) as { entries: Array<[string]> };
    const names = new Set(registry.entries.map(([name]) => name));
    for (let tenant = 1; tenant <= 8; tenant += 1) {
      const accountId = `T${String(tenant).padStart(4, '0')}`;
      for (const point of ['Balance', 'CreditState', 'Electricity.Supply'])
        assert.ok(names.has(`${accountId}.${point}`), `${accountId}.${point}`);
    }
  },
  'cutoff-simulator': async (userDir) => {
    // The deploy-time "credit ok" state made the cutoff node connect tenant T0001's relay, confirmed by read-back.
    const state = JSON.parse(readFileSync(join(userDir, 'prepay', 'cutoff-ex5cut00000001.json'), 'utf8')) as {
      meters: Record<string, { commanded?: string }>;
    };
    assert.equal(state.meters['E-T0001']?.commanded, 'connect');
  },
  'history-forecast': async (userDir) => {
    // The forecast learnt T0101's four weeks; with no InfluxDB on 8086 the points wait in the disk buffer.
    const state = JSON.parse(
      readFileSync(join(userDir, 'prepay', 'forecast-ex7fc000000001.json'), 'utf8'),
    ) as {
      accounts: Record<string, { history: { amount: Array<number | null> } }>;
    };
    assert.equal(state.accounts.T0101?.history.amount.filter((amount) => amount !== null).length, 28);
    assert.ok(
      existsSync(join(userDir, 'prepay', 'history-ex7inf00000001.db')),
      'the disk buffer holds the points',
    );
  },
  'meter-simulator': async (userDir) => {
    // Every simulated meter was polled over Modbus TCP and has a baseline on disk.
    const state = JSON.parse(readFileSync(join(userDir, 'prepay', 'meter-ex4mtr00000001.json'), 'utf8')) as {
      meters: Record<string, { baseline?: { value: number } }>;
    };
    assert.deepEqual(Object.keys(state.meters).sort(), [
      'E-T0001',
      'E-T0002',
      'E-T0003',
      'E-T0004',
      'W-T0003',
    ]);
    for (const [meterId, meter] of Object.entries(state.meters))
      assert.ok(meter.baseline, `${meterId} was read`);
  },
  'ledger-sqlite': async (userDir) => {
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-example-ledger.db') });
    await store.init();
    try {
      // Opened, topped up 20.00 and charged 61.25p once, all on deploy.
      assert.equal((await store.getAccount('T0101'))?.balance, 2000n - 61n);
    } finally {
      await store.close();
    }
  },
  'tenant-api': async (userDir) => {
    // The demo tenants were opened, credited 50.00 and charged a reading per utility for 14 days, once each.
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-tenant-ledger.db') });
    await store.init();
    try {
      for (const accountId of ['T0101', 'T0102']) {
        const entries = await store.entriesOf(accountId);
        assert.equal(entries.filter((e) => e.kind === 'charge').length, 28, accountId);
        assert.equal(entries.filter((e) => e.kind === 'topup').length, 1, accountId);
        const balance = (await store.getAccount(accountId))?.balance;
        assert.equal(
          balance,
          entries.reduce((sum, e) => sum + e.amount, 0n),
        );
        assert.ok(balance !== undefined && balance > 0n && balance < 5000n, `${accountId}: ${balance}`);
      }
    } finally {
      await store.close();
    }
  },
  'savings-evidence': async (userDir) => {
    // The outdoor temperature and the meters' consumption were counted on disk, per month and per unit.
    const dir = join(userDir, 'prepay', 'savings-ex9sav00000001');
    assert.ok(
      readdirSync(join(dir, 'outdoor')).some((f) => f.endsWith('.json')),
      'outdoor temperatures kept',
    );
    const units = readdirSync(join(dir, 'units'));
    assert.ok(units.length > 0, 'consumption counted per unit');
  },
  'tariff-time-of-use': async (userDir) => {
    const dir = join(userDir, 'prepay');
    const file = readdirSync(dir).find((f) => f.startsWith('tariff-') && f.endsWith('.json'));
    assert.ok(file, 'the tariff node saved its state');
    const state = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      accounts: Record<string, { account?: string; utility?: string; cum: Record<string, string> }>;
    };
    // Kept per account and utility.
    const t0412 = Object.values(state.accounts).find((a) => a.account === 'T0412');
    assert.equal(t0412?.utility, 'electricity');
    assert.deepEqual(Object.keys(t0412?.cum ?? {}).sort(), ['energy.offpeak', 'energy.peak']);
  },
};

/** Examples that need longer than 4 s to show their output. */
const SETTLE_MS: Record<string, number> = {
  'building-in-one-tab': 16_000,
  'savings-evidence': 7000,
  'loadcontrol-demand': 20_000,
};

describe('examples: each imports and runs at once in Node-RED 4.1', function () {
  this.timeout(120_000);
  const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.json'));

  it('has a check for every example', function () {
    assert.deepEqual(files.map((f) => f.replace(/\.json$/, '')).sort(), Object.keys(checks).sort());
  });

  it('building-in-one-tab says what it has: one gateway, on the port its Modbus link uses', function () {
    const example = JSON.parse(
      readFileSync(join(root, 'examples', 'building-in-one-tab.json'), 'utf8'),
    ) as Array<{ type: string; port?: number; info?: string; name?: string }>;
    const ports = example.filter((n) => n.type === 'prepay-modbus').map((n) => n.port);
    assert.deepEqual(ports, [5031]);
    const info = example.find((n) => n.type === 'comment' && n.name?.startsWith('Meters ->'))!.info!;
    assert.match(info, /on one simulated Modbus TCP gateway \(127\.0\.0\.1:5031\)/);
    assert.doesNotMatch(info, /5032|two|each gateway|npm start/i, info);
  });

  for (const file of files) {
    const name = file.replace(/\.json$/, '');
    it(`${name} deploys without errors and produces its output`, async function () {
      const userDir = tempUserDir();
      mkdirSync(join(userDir, 'node_modules'), { recursive: true });
      symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
      const flow = JSON.parse(readFileSync(join(root, 'examples', file), 'utf8')) as Array<
        Record<string, unknown>
      >;
      await flowOnFreePorts(flow as Array<{ type: string }>);
      const red = await NodeRedProcess.start({ userDir, flows: onTab(flow) });
      try {
        // The examples' inject nodes fire within 2.5 s of deploy; a meter reader spreads one cycle over 15 s.
        await sleep(SETTLE_MS[name] ?? 4000);
        const errors = red
          .log()
          .split('\n')
          .filter((line) => /\[error\]/.test(line));
        assert.deepEqual(errors, []);
        assert.doesNotMatch(red.log(), /Waiting for missing types/);
      } finally {
        await red.stop();
      }
      assert.ok(existsSync(userDir));
      await checks[name]?.(userDir);
    });
  }
});
