/**
 * The meter reader inside a real Node-RED runtime, polling the simulator over real Modbus TCP on a fast
 * clock: exact consumption, comm loss and recovery with the gap billed once, a restart that neither
 * loses nor repeats consumption, readings from upstream nodes, and bad input reaching Catch nodes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatScaled, parseDecimal } from '../../dist/nodes/core/decimal';
import { ManualClock, ScaledClock } from '../../dist/nodes/core/clock';
import { meterTableRecord } from '../../dist/nodes/core/meter/meter-table';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { StateFile } from '../../dist/nodes/shared/state-file';
import { planSite, siteMeterTable, SimulatedSite } from '../../dist/nodes/simulator/site';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { havePymodbus, PymodbusServer, requireTool } from '../support/modbus-peers';
import { PARTIAL_METERS, partialImage } from '../support/partial-meters';

const modbusNode = loadBuiltNode('modbus/prepay-modbus.js');
const meterNode = loadBuiltNode('meter/prepay-meter.js');
const profiles = builtInProfiles();
const SPEED = 600; // ten building minutes per real second

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

function exactSum(values: number[]): bigint {
  return values.reduce((total, value) => {
    const p = parseDecimal(value);
    return total + p.units * 10n ** BigInt(6 - p.scale);
  }, 0n);
}

/** Helper nodes on the meter's three outputs, and a Catch node for its errors. */
const OUTPUTS = [
  { id: 'consumption', type: 'helper' },
  { id: 'readings', type: 'helper' },
  { id: 'events', type: 'helper' },
  { id: 'c1', type: 'catch', scope: ['meter'], uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' },
];

function flow(
  port: number,
  table: unknown[],
  extra: Record<string, unknown> = {},
): Array<Record<string, unknown>> {
  return [
    {
      id: 'link',
      type: 'prepay-modbus',
      kind: 'tcp',
      host: '127.0.0.1',
      port: String(port),
      timeout: '300',
      retries: '0',
    },
    {
      id: 'meter',
      type: 'prepay-meter',
      source: 'modbus',
      link: 'link',
      interval: '60',
      commLossPolls: '2',
      sliceMinutes: '5',
      table,
      wires: [['consumption'], ['readings'], ['events']],
      ...extra,
    },
    ...OUTPUTS,
  ];
}

/**
 * Checks, per meter, that billed consumption equals the register's movement from the first good reading to the
 * last billed one. Readings leave at once and consumption after its state write: what answered in the last
 * moments before a stop is billed (and its consumption sent again) after the next start, not before.
 */
function assertExact(consumption: Msg[], readings: Msg[]): void {
  const meters = new Set(readings.map((m) => m.payload.meterId as string));
  assert.ok(meters.size > 0);
  for (const meterId of meters) {
    const good = readings.filter((m) => m.payload.meterId === meterId && m.payload.quality === 'good');
    const first = good[0]!.payload.value as number;
    const mine = consumption.filter((m) => m.payload.meterId === meterId && m.replay !== true);
    const lastBilled = mine.reduce<Msg | undefined>(
      (latest, m) => (!latest || (m.payload.to as number) > (latest.payload.to as number) ? m : latest),
      undefined,
    );
    assert.ok(lastBilled, `meter ${meterId} billed`);
    const lastReading = good.find((m) => m.payload.ts === lastBilled.payload.to);
    assert.ok(lastReading, `meter ${meterId}: its last consumption ends at a good reading`);
    const last = lastReading.payload.value as number;
    assert.ok(good.length - good.indexOf(lastReading) <= 20, `meter ${meterId}: few readings left unbilled`);
    const billed = mine.map((m) => m.payload.delta as number);
    const movement = exactSum([last]) - exactSum([first]);
    assert.equal(formatScaled(exactSum(billed), 6), formatScaled(movement, 6), `meter ${meterId}`);
    const ids = consumption
      .filter((m) => m.payload.meterId === meterId && m.replay !== true)
      .map((m) => m.payload.readingId);
    assert.equal(new Set(ids).size, ids.length, `reading ids of ${meterId} are unique`);
  }
}

describe('prepay-meter node polling the simulator', function () {
  this.timeout(60_000);
  let userDir: string;
  let site: SimulatedSite;
  let port: number;
  let table: unknown[];

  beforeEach(async () => {
    userDir = tempUserDir();
    const clock = new ScaledClock(Date.UTC(2026, 10, 2, 8, 0), SPEED);
    const specs = planSite({ tenants: 9, seed: 3 }, profiles);
    site = new SimulatedSite(specs, profiles, clock);
    [port] = (await site.start()) as [number];
    table = siteMeterTable(specs).map(meterTableRecord);
    helper.settings({ userDir, prepay: { clock } });
    await startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
    await site.stop();
  });

  it('polls every meter, spreads the polls, and bills exactly the register movement', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table));
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    await sleep(2500);
    await helper.unload(); // flushes what is pending
    assert.deepEqual(caught, []);
    assert.ok(consumption.length >= table.length, `${consumption.length} consumption messages`);
    assertExact(consumption, readings);
    const sdm = readings.find(
      (m) =>
        (m.payload.meterId as string).startsWith('E-') &&
        (m.payload.values as Record<string, number>)?.frequency === 50,
    );
    assert.ok(sdm, 'readings carry the profile values');
    const first = consumption[0]!.payload;
    assert.equal(first.quality, 'good');
    assert.match(first.readingId as string, /^[EWC]-T\d{4}:\d+$/);
    assert.ok(first.accountId);
    // Spread: the simulator saw requests over the whole interval, not in one burst.
    assert.ok(site.server().stats.connections === 1, 'one connection, one queue');
  });

  it("sends every meter's reading of a poll, grouped while polls are in flight, the last poll's at once", async () => {
    // A day's interval: the scheduler polls a meter every few seconds at most, the poll command all of them.
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table, { interval: '86400' }));
    const readings = collect(helper.getNode('readings')) as Msg[];
    await sleep(500);
    readings.length = 0;
    const started = performance.now();
    helper.getNode('meter').receive({ topic: 'poll', payload: {} });
    const deadline = started + 5000;
    while (
      new Set(readings.map((m) => m.payload.meterId)).size < table.length &&
      performance.now() < deadline
    )
      await sleep(5);
    const seen = new Map<string, number>();
    for (const m of readings)
      seen.set(m.payload.meterId as string, (seen.get(m.payload.meterId as string) ?? 0) + 1);
    assert.equal(seen.size, table.length, 'a reading of every meter');
    assert.ok(Math.max(...seen.values()) <= 2, 'no reading sent twice (a scheduled poll may add one)');
    assert.ok(readings.every((m) => m.payload.quality === 'good'));
  });

  it('polls one meter on a poll command naming it, and refuses one it does not have to Catch', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table, { interval: '86400' }));
    const readings = collect(helper.getNode('readings')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    await sleep(500);
    readings.length = 0;
    const one = (table[1] as { meterId: string }).meterId;
    const before = site.server().stats.requests;
    helper.getNode('meter').receive({ topic: 'poll', payload: { meterId: one } });
    const deadline = performance.now() + 3000;
    while (readings.length === 0 && performance.now() < deadline) await sleep(5);
    await sleep(100);
    assert.deepEqual(
      readings.map((m) => m.payload.meterId),
      [one],
      'a reading of that meter, and of no other',
    );
    assert.ok(site.server().stats.requests - before <= 3, 'only its own requests');
    helper.getNode('meter').receive({ topic: 'poll', payload: { meterId: 'E-NOPE' } });
    await sleep(100);
    assert.equal(caught.length, 1);
    assert.match((caught[0]!.error as { message: string }).message, /meterId: unknown meter "E-NOPE"/);
  });

  it('marks comm loss when the gateway dies and bills the gap once, in estimated slices, when it returns', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table));
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    await sleep(800);
    await site.stop();
    await sleep(1500); // 15 building minutes without the gateway
    const lost = events.filter((m) => m.payload.type === 'comm-loss');
    assert.equal(new Set(lost.map((m) => m.payload.meterId)).size, table.length, 'every meter alarmed once');
    assert.equal(lost.length, table.length);
    assert.ok(lost.every((m) => m.payload.alarm === true));
    assert.ok(readings.some((m) => m.payload.quality === 'comm-loss'));
    await site.start();
    await sleep(2500);
    await helper.unload();
    const restored = events.filter((m) => m.payload.type === 'comm-restored');
    assert.equal(new Set(restored.map((m) => m.payload.meterId)).size, table.length, 'every meter restored');
    const estimated = consumption.filter((m) => m.payload.estimated === true);
    assert.ok(estimated.length > table.length, 'gaps split into slices');
    assertExact(consumption, readings);
  });

  it('restarts mid-run without losing or repeating consumption', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table));
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    await sleep(1200);
    await helper.unload();
    await sleep(500); // the building keeps consuming while Node-RED is down
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table));
    const consumption2 = collect(helper.getNode('consumption')) as Msg[];
    const readings2 = collect(helper.getNode('readings')) as Msg[];
    await sleep(1500);
    await helper.unload();
    const replays = consumption2.filter((m) => m.replay === true);
    assert.ok(replays.length > 0, 'last consumption re-sent after the restart');
    // A replay repeats an earlier reading id (downstream ignores it if it has it) or delivers one that was
    // computed as Node-RED stopped and never reached the next node. Either way each id counts once.
    const byId = new Map<unknown, Msg>();
    for (const m of [...consumption, ...consumption2]) {
      const seen = byId.get(m.payload.readingId);
      if (seen)
        assert.deepEqual(seen.payload, m.payload, 'a repeated reading id carries the same consumption');
      else byId.set(m.payload.readingId, m);
    }
    assertExact(
      [...byId.values()].map((m) => ({ ...m, replay: false })),
      [...readings, ...readings2],
    );
  });

  it('takes a meter exchange: bills the old meter to its final value and continues from the new start', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table.slice(0, 1)));
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    await sleep(500);
    const meterId = (table[0] as { meterId: string }).meterId;
    helper
      .getNode('meter')
      .receive({ topic: 'replace', payload: { meterId, oldFinal: 9_999_999, newStart: 0 } });
    // The event leaves as soon as the command is taken; its consumption waits for the meter state write.
    for (let i = 0; i < 100 && !events.some((m) => m.payload.type === 'replaced'); i += 1) await sleep(100);
    const replaced = events.find((m) => m.payload.type === 'replaced');
    assert.ok(replaced);
    // Events leave at once; the consumption follows its state write.
    for (let i = 0; i < 30 && !consumption.some((m) => m.payload.to === replaced.payload.ts); i += 1)
      await sleep(100);
    const billed = consumption.find((m) => m.payload.to === replaced.payload.ts);
    assert.ok(billed && (billed.payload.delta as number) > 0, 'the old meter billed up to its final value');
  });

  it('reports a device answering with a Modbus exception as an alarm that it cannot bill, not as comm loss; silence and a gateway without answer are comm loss', async () => {
    const [refusing, silent, unreachable, healthy] = table.slice(0, 4) as Array<{
      unitId: number;
      meterId: string;
      profile: string;
    }>;
    site.server().setFault(refusing!.unitId, { kind: 'exception', code: 4 });
    site.server().setFault(silent!.unitId, { kind: 'silent' });
    site.server().setFault(unreachable!.unitId, { kind: 'exception', code: 11 });
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table.slice(0, 4)));
    const events = collect(helper.getNode('events')) as Msg[];
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    await sleep(1500);
    const lost = events.filter((m) => m.payload.type === 'comm-loss');
    assert.deepEqual(
      lost.map((m) => m.payload.meterId).sort(),
      [silent!.meterId, unreachable!.meterId].sort(),
      'the refusing meter answered: no comm loss for it',
    );
    const reason = (meterId: string) =>
      lost.find((m) => m.payload.meterId === meterId)!.payload.text as string;
    assert.match(reason(silent!.meterId), /did not answer .* in time/);
    assert.match(
      reason(unreachable!.meterId),
      /the gateway answered for it with exception 11 \(gateway target device failed to respond\)/,
    );
    const cannotBill = events.filter((m) => m.payload.type === 'counter-unavailable');
    assert.equal(cannotBill.length, 1, 'alarmed once');
    assert.equal(cannotBill[0]!.payload.meterId, refusing!.meterId);
    assert.equal(cannotBill[0]!.payload.alarm, true);
    assert.equal(cannotBill[0]!.payload.code, 4);
    const counter = profiles.get(refusing!.profile)!.counter!;
    assert.equal(cannotBill[0]!.payload.address, counter.address);
    assert.match(
      cannotBill[0]!.payload.text as string,
      new RegExp(
        `^cannot bill: unit ${refusing!.unitId} refused the billed counter ${counter.name} \\(function ${counter.function}, address ${counter.address}, ${counter.length} registers\\) with exception 4 \\(server device failure\\); the device answers, so this is no communication loss`,
      ),
    );
    const refusedReadings = readings.filter((m) => m.payload.meterId === refusing!.meterId);
    assert.ok(refusedReadings.length > 0);
    assert.ok(
      refusedReadings.every((m) => m.payload.quality === 'suspect' && !('value' in m.payload)),
      'no value is made up for a counter that was not read',
    );
    assert.ok(
      readings.filter((m) => m.payload.quality === 'comm-loss').every((m) => !('value' in m.payload)),
      'comm-loss readings carry no value',
    );
    assert.ok(
      consumption.some((m) => m.payload.meterId === healthy!.meterId),
      'the fourth meter is still billed',
    );
  });

  it('bills across a counter rollover (a water pulse counter wrapping at 2^32 pulses)', async () => {
    await helper.unload();
    await site.stop();
    const specs = planSite({ tenants: 3, seed: 3, electricityProfiles: ['eastron-sdm630'] }, profiles);
    const water = specs.find((spec) => spec.profile === 'pulse-counter')!;
    water.start = 4294967.296 - 0.25; // a quarter of a cubic metre before the wrap
    water.peak = 3; // bursts of up to 6 m3/h, under the profile's 10 m3/h plausibility limit
    water.kind = 'restaurant';
    site = new SimulatedSite(specs, profiles, new ScaledClock(Date.UTC(2026, 10, 2, 11, 0), SPEED));
    [port] = (await site.start()) as [number];
    await helper.load(
      [modbusNode, meterNode, catchNode],
      flow(port, siteMeterTable([water]).map(meterTableRecord)),
    );
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    await sleep(4000);
    await helper.unload();
    assert.ok(
      events.some((m) => m.payload.type === 'rollover'),
      'the counter wrapped',
    );
    const suspect = events.filter((m) => m.payload.type === 'suspect').map((m) => m.payload.text);
    assert.deepEqual(suspect, [], 'the wrap is not mistaken for a fault');
    const good = readings.filter((m) => m.payload.quality === 'good');
    const first = good[0]!.payload.value as number;
    // Up to the last billed value: what answered just before the stop is billed after the next start.
    const last = consumption.at(-1)!.payload.value as number;
    assert.ok(last < first, 'the register went round');
    const movement = exactSum([last, 4294967.296]) - exactSum([first]);
    assert.equal(
      formatScaled(exactSum(consumption.map((m) => m.payload.delta as number)), 6),
      formatScaled(movement, 6),
    );
  });

  it('refuses an unknown profile, naming the row and column, and errors every message to Catch', async () => {
    const bad = [{ ...(table[0] as object), profile: 'acme-9000' }];
    await helper.load([modbusNode, meterNode, catchNode], flow(port, bad));
    const caught = collect(helper.getNode('caught'));
    helper.getNode('meter').receive({ topic: 'poll', payload: {} });
    await sleep(100);
    assert.equal(caught.length, 1);
    assert.match(
      (caught[0]!.error as { message: string }).message,
      /row 1, column profile: unknown profile "acme-9000"/,
    );
  });

  it('imports a CSV meter table in the editor, naming the row and column of a bad row', async () => {
    await helper.load([modbusNode, meterNode, catchNode], flow(port, table));
    const csv =
      'meterId,unitId,profile,utility,accountId\nE-1,1,eastron-sdm630,electricity,T1\nE-2,300,eastron-sdm120,electricity,T2\n';
    const res = (await helper.request().post('/prepay-meter/csv').send({ csv }).expect(400)) as unknown as {
      body: { row: number; column: string };
    };
    assert.equal(res.body.row, 3);
    assert.equal(res.body.column, 'unitId');
    const ok = (await helper
      .request()
      .post('/prepay-meter/csv')
      .send({ csv: csv.split('\n').slice(0, 2).join('\n') })
      .expect(200)) as unknown as { body: { rows: Array<{ profile: string }> } };
    assert.equal(ok.body.rows[0].profile, 'eastron-sdm630');
    const list = (await helper.request().post('/prepay-meter/profiles').send({}).expect(200)) as unknown as {
      body: { profiles: Array<{ id: string }> };
    };
    assert.ok(list.body.profiles.some((p) => p.id === 'onicon-system-10'));
  });
});

/** Waits (in real time) until `done` holds: polls go over real sockets while the building clock stands still. */
async function until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('prepay-meter node reading partial devices (pymodbus refusing what each variant lacks)', function () {
  this.timeout(120_000);
  const DAY = 86_400_000;
  const CYCLE = 900_000;
  const T = Date.UTC(2026, 10, 2, 8, 0);
  let server: PymodbusServer;
  let clock: ManualClock;

  // Every built-in metering profile serving its billed counter and little else, and one more SDM120 that serves
  // its voltage but refuses its counter.
  const cannotBill = { meterId: 'E-NOCOUNTER', unitId: 19 };
  const table = [
    ...PARTIAL_METERS.map((m) => ({
      meterId: `M-${m.profile}`,
      unitId: m.unitId,
      profile: m.profile,
      utility: m.utility,
      accountId: `T-${m.unitId}`,
    })),
    {
      meterId: cannotBill.meterId,
      unitId: cannotBill.unitId,
      profile: 'eastron-sdm120',
      utility: 'electricity',
    },
  ];
  const refusedOf = (profile: string, served: string[]): string[] =>
    profiles
      .get(profile)!
      .values.map((v) => v.name)
      .filter((name) => !served.includes(name));

  beforeEach(async function () {
    requireTool(this, havePymodbus(), 'pymodbus', 'python3-pymodbus');
    const image = partialImage();
    image.units[String(cannotBill.unitId)] = { sparse: true, ir: { '0': [0x4366, 0x0000] } }; // 230 V
    server = await PymodbusServer.start(image);
    clock = new ManualClock(T);
    helper.settings({ userDir: tempUserDir(), prepay: { clock } });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
    await server?.stop();
  });

  it('bills every counter exactly, reports each refused value once with its register and code, never comm loss, and narrows its requests', async () => {
    // Polled every 15 minutes (the fixtures' steps are plausible at that pace), gaps sliced above an hour.
    await helper.load(
      [modbusNode, meterNode, catchNode],
      flow(server.port, table, { interval: '900', sliceMinutes: '30' }),
    );
    const meter = helper.getNode('meter');
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    const statuses: Array<{ fill?: string; shape?: string; text?: string }> = [];
    meter.on('call:status', (call) => statuses.push(call.args[0] as { fill?: string; text?: string }));
    const requests = async (): Promise<number> => {
      meter.receive({ topic: 'stats' });
      await until(() => consumption.some((m) => m.topic === 'stats'), 'stats');
      const [stats] = consumption.splice(
        consumption.findIndex((m) => m.topic === 'stats'),
        1,
      );
      return (stats!.payload as { requests: number }).requests;
    };
    /** One poll cycle of building time: every meter polled once; resolves when all have answered. */
    const cycle = async (ms: number): Promise<number> => {
      const before = readings.length;
      const counted = await requests();
      clock.advance(ms);
      await until(() => readings.length >= before + table.length, 'a poll cycle');
      return (await requests()) - counted;
    };

    // 1. The first cycle narrows every plan and reads every counter.
    const firstRequests = await cycle(CYCLE - 1);
    for (const m of PARTIAL_METERS) {
      const reading = readings.find((r) => r.payload.meterId === `M-${m.profile}`)!;
      assert.equal(reading.payload.quality, 'good', m.profile);
      assert.equal(reading.payload.value, m.values.before, m.profile);
    }
    const refusedReading = readings.find((r) => r.payload.meterId === cannotBill.meterId)!;
    assert.equal(refusedReading.payload.quality, 'suspect');
    assert.ok(!('value' in refusedReading.payload), 'no value made up');
    assert.deepEqual(refusedReading.payload.values, { voltage: 230 });
    assert.deepEqual(
      events.filter((e) => e.payload.type === 'comm-loss'),
      [],
      'a refusal is an answer, not comm loss',
    );
    const unavailable = events.filter((e) => e.payload.type === 'value-unavailable');
    for (const m of PARTIAL_METERS) {
      const served = [profiles.get(m.profile)!.counter!.name, ...Object.keys(m.extras)];
      const mine = unavailable.filter((e) => e.payload.meterId === `M-${m.profile}`);
      assert.deepEqual(
        mine.map((e) => e.payload.valueName).sort(),
        refusedOf(m.profile, served).sort(),
        `${m.profile}: one event per refused value`,
      );
      for (const e of mine) {
        const value = profiles.get(m.profile)!.values.find((v) => v.name === e.payload.valueName)!;
        assert.equal(e.payload.code, 2);
        assert.equal(e.payload.address, value.address);
        assert.equal(e.payload.function, value.function);
        assert.equal(e.payload.alarm, false, 'the meter still bills: a notice, not an alarm');
        assert.match(
          e.payload.text as string,
          new RegExp(
            `^unit ${m.unitId} refused ${value.name} \\(function ${value.function}, address ${value.address}, ${value.length} registers\\) with exception 2 \\(illegal data address\\): dropped`,
          ),
        );
      }
    }
    const noCounter = events.filter((e) => e.payload.type === 'counter-unavailable');
    assert.equal(noCounter.length, 1);
    assert.equal(noCounter[0]!.payload.meterId, cannotBill.meterId);
    assert.equal(noCounter[0]!.payload.alarm, true);
    assert.match(
      noCounter[0]!.payload.text as string,
      /^cannot bill: unit 19 refused the billed counter importEnergy \(function 4, address 72, 2 registers\) with exception 2 \(illegal data address\); the device answers, so this is no communication loss/,
    );

    // 2. The counters move; the next cycle bills each exactly, in the narrowed plans.
    for (const m of PARTIAL_METERS)
      await server.set(m.unitId, m.counter.table, m.counter.address, m.counter.after);
    const eventsBefore = events.length;
    const steadyRequests = await cycle(CYCLE);
    // Readings leave at once; consumption follows its state write.
    await until(
      () => PARTIAL_METERS.every((m) => consumption.some((c) => c.payload.meterId === `M-${m.profile}`)),
      'the consumption of the cycle',
    );
    for (const m of PARTIAL_METERS) {
      const billed = consumption.filter((c) => c.payload.meterId === `M-${m.profile}`);
      assert.equal(billed.length, 1, m.profile);
      assert.equal(billed[0]!.payload.delta, m.values.delta, m.profile);
      assert.equal(billed[0]!.payload.quality, 'good');
    }
    assert.deepEqual(
      events.slice(eventsBefore).map((e) => e.payload.type),
      [],
      'nothing new to report: each refusal was reported once, the counter alarm raised once',
    );
    // Per cycle: SDM630 1, SDM120 1, SDM72 2, EM340 2, iEM3000 1, DDS238-2 1, ONICON 1, pulse counter 1, and the
    // SDM120 without its counter 2 (its voltage, and the counter alone, refused).
    assert.equal(steadyRequests, 12);
    assert.ok(firstRequests > steadyRequests);
    const shown = statuses.length;
    await until(() => statuses.length > shown, 'the next status', 3000);
    assert.equal(statuses.at(-1)!.fill, 'yellow', JSON.stringify(statuses));
    assert.match(statuses.at(-1)!.text!, /1 cannot bill/);

    // 3. A day of building time later each refused value is asked for once more, alone, and stays quiet.
    clock.advance(DAY);
    await sleep(500); // the polls fired on the way finish
    const dropped = unavailable.length;
    const retried = await cycle(CYCLE);
    assert.equal(retried, steadyRequests + dropped);
    // The firmware of the SDM630 gets its export register: taken back at the next daily try.
    await server.set(11, 'ir', 74, [0x4000, 0x0000]);
    clock.advance(DAY);
    await sleep(500);
    await cycle(CYCLE);
    const back = events.filter((e) => e.payload.type === 'value-available');
    assert.deepEqual(
      back.map((e) => [e.payload.meterId, e.payload.valueName]),
      [['M-eastron-sdm630', 'exportEnergy']],
    );
    assert.equal(
      events.filter((e) => e.payload.type === 'value-unavailable').length,
      dropped,
      'no new reports',
    );
    const latest = readings.filter((r) => r.payload.meterId === 'M-eastron-sdm630').at(-1)!;
    assert.equal((latest.payload.values as Record<string, number>).exportEnergy, 2);
    assert.deepEqual(caught, []);
  });
});

describe('prepay-meter node with readings from upstream nodes', function () {
  this.timeout(30_000);
  let userDir: string;

  beforeEach(async () => {
    userDir = tempUserDir();
    helper.settings({ userDir, prepay: { clock: new ScaledClock(Date.UTC(2026, 10, 2, 8, 0), 3600) } });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  const upstream = (extra: Record<string, unknown> = {}) => [
    {
      id: 'meter',
      type: 'prepay-meter',
      source: 'messages',
      commLossMinutes: '10',
      table: [],
      wires: [['consumption'], ['readings'], ['events']],
      ...extra,
    },
    ...OUTPUTS,
  ];

  it('runs MQTT-style readings through the same delta engine and raises comm loss when they stop', async () => {
    await helper.load([meterNode, catchNode], upstream());
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    const meter = helper.getNode('meter');
    const t = Date.UTC(2026, 10, 2, 8, 0);
    meter.receive({ payload: { meterId: 'W-7', utility: 'water', unit: 'm3', value: 10.5, ts: t } });
    meter.receive({
      payload: {
        meterId: 'W-7',
        utility: 'water',
        unit: 'm3',
        value: 10.75,
        ts: new Date(t + 60_000).toISOString(),
      },
    });
    meter.receive({
      payload: { meterId: 'W-7', utility: 'water', unit: 'm3', value: 10.75, ts: t + 60_000 },
    }); // duplicate
    meter.receive({ payload: { meterId: 'W-7', value: 'garbage' } });
    meter.receive({ payload: { meterId: 'W-8', value: 3 } }); // unknown meter without utility and unit
    // Consumption waits for its state write (slow on a busy disk); then a moment for anything more.
    await until(() => consumption.length > 0 && caught.length >= 2, 'the consumption and both errors');
    await sleep(100);
    assert.equal(consumption.length, 1, JSON.stringify(consumption.map((m) => m.payload)));
    assert.equal(consumption[0]!.payload.delta, 0.25);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, '')),
      [
        'value: must be a finite number',
        'utility: is required for meter "W-8", which is not in the meter table',
      ],
    );
    await sleep(1200); // 20 building minutes with no reading from W-7
    assert.ok(events.some((m) => m.payload.type === 'comm-loss' && m.payload.meterId === 'W-7'));
  });

  it('carries the declared quantities of its table on every consumption it sends, and refuses a bad one at deploy', async () => {
    const row = {
      meterId: 'E-9',
      unitId: 9,
      profile: 'eastron-sdm630',
      utility: 'electricity',
      accountId: 'T0909',
      declared: 'kVA=63; fittings=3',
    };
    await helper.load([meterNode, catchNode], upstream({ table: [row] }));
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const meter = helper.getNode('meter');
    const t = Date.UTC(2026, 10, 2, 8, 0);
    for (const [i, value] of [100, 101.5, 103].entries())
      meter.receive({ payload: { meterId: 'E-9', value, ts: t + i * 60_000 } });
    await until(() => consumption.length >= 2, 'both consumptions');
    await sleep(100);
    assert.deepEqual(
      consumption.map((m) => [m.payload.accountId, m.payload.delta, m.payload.declared]),
      [
        ['T0909', 1.5, { kVA: '63', fittings: '3' }],
        ['T0909', 1.5, { kVA: '63', fittings: '3' }],
      ],
    );
    await helper.unload();

    await helper.load([meterNode, catchNode], upstream({ table: [{ ...row, declared: 'kVA=63;fittings' }] }));
    const caught = collect(helper.getNode('caught'));
    helper.getNode('meter').receive({ payload: { meterId: 'E-9', value: 104, ts: t + 180_000 } });
    await sleep(100);
    assert.match(
      (caught[0]?.error as { message: string }).message,
      /row 1, column declared: "fittings" must be name=value/,
    );
  });

  it('rebaselines a meter for an operator on the admin API: recorded, on disk, then answered', async () => {
    await helper.load([meterNode, catchNode], upstream());
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    const meter = helper.getNode('meter');
    const t = Date.UTC(2026, 10, 2, 8, 0);
    meter.receive({ payload: { meterId: 'W-7', utility: 'water', unit: 'm3', value: 10.5, ts: t } });
    meter.receive({
      payload: { meterId: 'W-7', utility: 'water', unit: 'm3', value: 10.75, ts: t + 60_000 },
    });
    await sleep(100);
    const post = async (body: Record<string, unknown>, status: number) =>
      (await helper.request().post('/prepay-meter/rebaseline').send(body).expect(status)).body as Record<
        string,
        unknown
      >;
    const body = { meterId: 'W-7', value: 3, reason: 'register reset by the installer', by: 'mallory' };
    assert.match(String((await post({ ...body, meterId: 'W-99' }, 404)).error), /^unknown meter "W-99"/);
    const invalid = await post({ meterId: 'W-7', value: 3 }, 400);
    assert.deepEqual([invalid.outcome, invalid.field], ['refused', 'reason']);
    const applied = await post(body, 200);
    assert.deepEqual(
      [applied.outcome, applied.value, applied.previous, applied.by],
      ['applied', 3, 10.75, 'unauthenticated (adminAuth off)'],
    );
    // Answered only once the new baseline is on disk, after the operator log has the action.
    const saved = JSON.parse(readFileSync(join(userDir, 'prepay', 'meter-meter.json'), 'utf8')) as {
      meters: Record<string, { baseline: { value: number } }>;
    };
    assert.equal(saved.meters['W-7']!.baseline.value, 3);
    const log = readFileSync(join(userDir, String(applied.log)), 'utf8')
      .trim()
      .split('\n');
    assert.equal(log.length, 1);
    assert.deepEqual(
      Object.entries(JSON.parse(log[0]!) as Record<string, unknown>).filter(
        ([k]) => k !== 'at' && k !== 'ts',
      ),
      [
        ['action', 'rebaseline'],
        ['meterId', 'W-7'],
        ['value', 3],
        ['previous', 10.75],
        ['reason', 'register reset by the installer'],
        ['by', 'unauthenticated (adminAuth off)'],
      ],
    );
    await sleep(100);
    const rebaselined = events.find((m) => m.payload.type === 'rebaselined')!;
    assert.equal(rebaselined.payload.by, 'unauthenticated (adminAuth off)');
    // Billing continues from the new baseline.
    meter.receive({
      payload: { meterId: 'W-7', utility: 'water', unit: 'm3', value: 3.5, ts: Number(applied.ts) + 60_000 },
    });
    await sleep(200);
    assert.deepEqual(
      consumption.map((m) => m.payload.delta),
      [0.25, 0.5],
    );
  });

  it('sends consumption only once its meter state is on disk, grouping the writes', async () => {
    const writes: string[] = [];
    const original = StateFile.prototype.writeText;
    StateFile.prototype.writeText = function (this: StateFile<unknown>, text: string): void {
      original.call(this, text);
      if (this.path.includes('meter-')) writes.push(text);
    };
    try {
      // (A week before comm loss: the building clock runs an hour a second here.)
      await helper.load([meterNode, catchNode], upstream({ commLossMinutes: '10080' }));
      const consumption = collect(helper.getNode('consumption')) as Msg[];
      const meter = helper.getNode('meter');
      const t = Date.UTC(2026, 10, 2, 8, 0);
      const reading = (n: number, minute: number, value: number) => ({
        payload: { meterId: `E-${n}`, utility: 'electricity', unit: 'kWh', value, ts: t + minute * 60_000 },
      });
      // 200 meters, then each of them a kWh later, one message every few ms: 200 consumptions in 1.5 s.
      for (let n = 0; n < 200; n += 1) meter.receive(reading(n, 0, 100));
      await sleep(100);
      // Each consumption, when it leaves, has its meter's new baseline in the newest file on disk.
      const onDisk = (): Record<string, { baseline?: { value: number } }> =>
        (
          JSON.parse(writes.at(-1) ?? '{"meters":{}}') as {
            meters: Record<string, { baseline?: { value: number } }>;
          }
        ).meters;
      const seenOnDisk: boolean[] = [];
      helper.getNode('consumption').on('input', (msg) => {
        const meterId = (msg as Msg).payload.meterId as string;
        seenOnDisk.push(onDisk()[meterId]?.baseline?.value === 101);
      });
      const writesBefore = writes.length;
      const started = Date.now();
      for (let n = 0; n < 200; n += 1) {
        meter.receive(reading(n, 1, 101));
        await sleep(7);
      }
      for (let i = 0; i < 40 && consumption.length < 200; i += 1) await sleep(100);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(consumption.length, 200);
      assert.ok(
        seenOnDisk.length === 200 && seenOnDisk.every(Boolean),
        'every consumption left after its state was written',
      );
      // One write per batch at most (batches of 50 ms, about 7 readings), fewer when writes are slow.
      const grouped = writes.length - writesBefore;
      assert.ok(
        grouped <= 200 / 3,
        `${grouped} state writes for 200 consumptions in ${seconds.toFixed(1)} s`,
      );
      // The file is the whole engine state: all 200 meters, each at its last reading.
      const meters = onDisk();
      assert.equal(Object.keys(meters).length, 200);
      assert.ok(Object.values(meters).every((m) => m.baseline?.value === 101));
    } finally {
      StateFile.prototype.writeText = original;
    }
  });
});

describe('prepay-meter node judging time stamps against its clock', function () {
  this.timeout(30_000);
  const NOW = Date.UTC(2026, 11, 5, 12, 0);
  const MIN = 60_000;
  let userDir: string;
  let clock: ManualClock;

  beforeEach(async () => {
    userDir = tempUserDir();
    clock = new ManualClock(NOW);
    helper.settings({ userDir, prepay: { clock } });
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  const upstream = (extra: Record<string, unknown> = {}) => [
    {
      id: 'meter',
      type: 'prepay-meter',
      source: 'messages',
      commLossMinutes: '20',
      table: [],
      wires: [['consumption'], ['readings'], ['events']],
      ...extra,
    },
    ...OUTPUTS,
  ];
  const water = (value: number, ts: number | string) => ({
    payload: { meterId: 'W-7', utility: 'water', unit: 'm3', accountId: 'T7', value, ts },
  });

  it('refuses a reading stamped in microseconds with an alarm naming the cause, bills on from the last good reading, and still sees silence', async () => {
    await helper.load([meterNode, catchNode], upstream());
    const meter = helper.getNode('meter');
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    meter.receive(water(10.5, NOW - MIN));
    meter.receive(water(10.75, NOW * 1000)); // an MQTT publisher stamping microseconds
    meter.receive(water(10.8, NOW * 1000 + 1000));
    clock.advance(MIN);
    meter.receive(water(11, clock.now()));
    await until(() => consumption.length === 1, 'the consumption after the refused readings');
    assert.equal(consumption[0]!.payload.delta, 0.5);
    assert.equal(consumption[0]!.payload.from, NOW - MIN, 'billed from the last good baseline');
    assert.deepEqual(
      readings.map((r) => r.payload.quality),
      ['good', 'suspect', 'suspect', 'good'],
    );
    const future = events.filter((e) => e.payload.type === 'future-reading');
    assert.deepEqual(
      future.map((e) => e.payload.alarm),
      [true, false],
      'raised once, cleared when a plausible reading came',
    );
    assert.match(future[0]!.payload.text as string, /looks like microseconds, not milliseconds/);
    assert.equal(future[0]!.payload.accountId, 'T7');
    assert.deepEqual(caught, []);
    // Silence is judged by arrival: a microsecond stamp does not hold comm loss off for 50,000 years.
    meter.receive(water(11.1, clock.now() * 1000));
    clock.advance(25 * MIN);
    await until(() => events.some((e) => e.payload.type === 'comm-loss'), 'comm loss');
  });

  it('takes its tolerance for clocks ahead from its settings', async () => {
    await helper.load([meterNode, catchNode], upstream({ futureMinutes: '15' }));
    const meter = helper.getNode('meter');
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    meter.receive(water(10, NOW - MIN));
    meter.receive(water(10.5, NOW + 10 * MIN)); // a sender ten minutes ahead: within 15
    meter.receive(water(11, NOW + 16 * MIN)); // beyond
    await until(() => events.some((e) => e.payload.type === 'future-reading'), 'the refusal');
    await until(() => consumption.length > 0, 'the consumption, after its state write');
    await sleep(100);
    assert.equal(consumption.length, 1);
    assert.equal(consumption[0]!.payload.delta, 0.5);
    assert.match(
      events.find((e) => e.payload.type === 'future-reading')!.payload.text as string,
      /ahead of this node's clock .*tolerance 15 min/,
    );
  });

  it('restarts on a state file poisoned by a future baseline: alarms at start with a yellow ring, explains once, and recovers by rebaseline', async () => {
    // A state an older version saved after adopting a microsecond stamp: the baseline lies in the year 58899.
    const poisonedTs = NOW * 1000;
    mkdirSync(join(userDir, 'prepay'), { recursive: true });
    writeFileSync(
      join(userDir, 'prepay', 'meter-meter.json'),
      JSON.stringify({
        version: 1,
        meters: { 'W-7': { status: 'ok', baseline: { value: 10.75, ts: poisonedTs } } },
      }),
    );
    await helper.load([meterNode, catchNode], upstream());
    const meter = helper.getNode('meter');
    const consumption = collect(helper.getNode('consumption')) as Msg[];
    const readings = collect(helper.getNode('readings')) as Msg[];
    const events = collect(helper.getNode('events')) as Msg[];
    const caught = collect(helper.getNode('caught'));
    const statuses: Array<{ fill?: string; shape?: string; text?: string }> = [];
    meter.on('call:status', (call) => statuses.push(call.args[0] as { fill?: string; text?: string }));
    await until(() => events.length > 0, 'the alarm at start');
    assert.deepEqual(
      events.map((e) => [e.payload.meterId, e.payload.type, e.payload.alarm]),
      [['W-7', 'future-baseline', true]],
    );
    assert.match(
      events[0]!.payload.text as string,
      /\+0588\d\d-.* ahead of this node's clock: no reading bills until a rebaseline or replace/,
    );
    await until(() => statuses.length > 0, 'a status', 3000);
    assert.equal(statuses.at(-1)!.fill, 'yellow');
    assert.equal(statuses.at(-1)!.shape, 'ring');
    assert.match(statuses.at(-1)!.text!, /1 time alarm/);
    // Good readings are not billed, and say why, without a new alarm each.
    for (let i = 1; i <= 4; i += 1) {
      clock.advance(MIN);
      meter.receive(water(10.75 + i / 100, clock.now()));
    }
    await until(() => readings.length === 4, 'four readings');
    assert.equal(consumption.length, 0);
    assert.ok(readings.every((r) => r.payload.quality === 'suspect'));
    const stale = events.filter((e) => e.payload.type === 'stale');
    assert.equal(stale.length, 4);
    assert.match(
      stale[0]!.payload.text as string,
      /lies ahead of this node's clock: not billed until a rebaseline or replace/,
    );
    assert.equal(events.filter((e) => e.payload.alarm === true).length, 1, 'one alarm, not one per reading');
    // The operator's rebaseline at the present replaces the future baseline (the old version refused it).
    clock.advance(MIN);
    meter.receive({
      topic: 'rebaseline',
      payload: { meterId: 'W-7', value: 10.8, reason: 'baseline stamped in µs' },
    });
    await until(() => events.some((e) => e.payload.type === 'rebaselined'), 'the rebaseline');
    const rebaselined = events.find((e) => e.payload.type === 'rebaselined')!;
    assert.match(
      rebaselined.payload.text as string,
      /replaces a baseline dated \+0588\d\d-.*ahead of the clock/,
    );
    assert.ok(events.some((e) => e.payload.type === 'future-baseline' && e.payload.alarm === false));
    clock.advance(MIN);
    meter.receive(water(11, clock.now()));
    await until(() => consumption.length === 1, 'billing again');
    assert.equal(consumption[0]!.payload.delta, 0.2);
    assert.deepEqual(caught, []);
  });
});
