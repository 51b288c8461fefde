/**
 * Reading meters over real Modbus TCP sockets: the built-in simulator, and an independent server (Debian's
 * python3-pymodbus) serving register images written by hand from the makers' maps, cross-checked with
 * mbpoll. Also what goes wrong: exceptions, silent units, a gateway that dies and comes back.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../dist/nodes/core/clock';
import { shortestFloat32 } from '../../dist/nodes/core/meter/registers';
import { MeterPoller } from '../../dist/nodes/meter/meter-poller';
import { builtInProfiles } from '../../dist/nodes/meter/profile-registry';
import { ModbusLink, UnitBackoffError } from '../../dist/nodes/modbus/modbus-link';
import {
  GatewayNoAnswerError,
  LinkDownError,
  ModbusExceptionError,
  ModbusSerialTransport,
  ModbusTimeoutError,
  type TcpEndpoint,
} from '../../dist/nodes/modbus/transport';
import { planSite, SimulatedSite } from '../../dist/nodes/simulator/site';
import { PARTIAL_METERS, partialImage } from '../support/partial-meters';
import {
  haveMbpoll,
  havePymodbus,
  haveSocat,
  mbpoll,
  PtyPair,
  PymodbusServer,
  requireTool,
} from '../support/modbus-peers';

const profiles = builtInProfiles();
const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);

function linkTo(
  port: number,
  options: Partial<ConstructorParameters<typeof ModbusLink>[2]> = {},
): ModbusLink {
  const endpoint: TcpEndpoint = { kind: 'tcp', host: '127.0.0.1', port };
  return new ModbusLink(endpoint, new ModbusSerialTransport(endpoint), { timeoutMs: 300, ...options });
}

describe('Modbus reading against the simulator', function () {
  this.timeout(30_000);
  const clock = new ManualClock(T0);
  const specs = planSite({ tenants: 12, seed: 7 }, profiles);
  const site = new SimulatedSite(specs, profiles, clock);
  let link: ModbusLink;
  let port: number;

  before(async () => {
    [port] = (await site.start()) as [number];
    link = linkTo(port);
    await link.open();
  });
  after(async () => {
    await link.close();
    await site.stop();
  });

  it('reads every built-in meter profile and decodes the counter the meter shows', async () => {
    clock.advance(3 * 3_600_000); // three hours of load
    const poller = new MeterPoller({ maxGap: 64 });
    const seen = new Set<string>();
    for (const spec of specs) {
      const profile = profiles.get(spec.profile)!;
      const result = await poller.poll(link, spec.unitId, profile);
      const shown = site.meter(spec.meterId).counterValue();
      const counter = profile.counter!;
      const expected =
        counter.type === 'float32'
          ? shortestFloat32(shown)
          : Math.floor(shown / counter.scale + 1e-9) * counter.scale;
      assert.ok(
        Math.abs(result.counter! - expected) < 1e-6 * Math.max(1, expected),
        `${spec.meterId} (${spec.profile}): read ${result.counter}, meter shows ${expected}`,
      );
      seen.add(spec.profile);
    }
    for (const id of [
      'eastron-sdm630',
      'eastron-sdm120',
      'eastron-sdm72',
      'carlo-gavazzi-em340',
      'schneider-iem3000',
      'hiking-dds238-2',
      'pulse-counter',
      'onicon-system-10',
    ])
      assert.ok(seen.has(id), `site covers ${id}`);
  });

  it('reads an SDM630 in two requests (fifteen values)', async () => {
    const spec = specs.find((s) => s.profile === 'eastron-sdm630')!;
    const before = site.server().stats.requests;
    const result = await new MeterPoller({ maxGap: 64 }).poll(
      link,
      spec.unitId,
      profiles.get('eastron-sdm630')!,
    );
    assert.equal(result.requests, 2);
    assert.equal(site.server().stats.requests - before, 2);
    assert.equal(Object.keys(result.values).length, 15);
    assert.equal(result.values.frequency, 50);
  });

  it('agrees with mbpoll on the SDM630 import register (float32, high word first)', async function () {
    requireTool(this, haveMbpoll(), 'mbpoll', 'mbpoll');
    const spec = specs.find((s) => s.profile === 'eastron-sdm630')!;
    const ours = await new MeterPoller({ maxGap: 64 }).poll(
      link,
      spec.unitId,
      profiles.get('eastron-sdm630')!,
    );
    const theirs = await mbpoll([
      '-p',
      String(port),
      '-a',
      String(spec.unitId),
      '-t',
      '3:float',
      '-B',
      '-r',
      '72',
      '-c',
      '1',
      '127.0.0.1',
    ]);
    assert.equal(theirs.length, 1);
    assert.equal(Number(theirs[0]!.toPrecision(6)), Number(ours.values.importEnergy!.toPrecision(6)));
  });

  it('passes a Modbus exception up as ModbusExceptionError with its code, and the link stays usable', async () => {
    const spec = specs[0]!;
    site.server().setFault(spec.unitId, { kind: 'exception', code: 4 });
    await assert.rejects(
      link.read(spec.unitId, 4, 0, 2),
      (error: Error) =>
        error instanceof ModbusExceptionError &&
        (error as InstanceType<typeof ModbusExceptionError>).code === 4,
    );
    site.server().setFault(spec.unitId, undefined);
    const words = await link.read(spec.unitId, 4, 70, 2);
    assert.deepEqual(words, [0x4248, 0]); // 50.0 Hz
  });

  it('keeps no answered transaction: 300 reads, a timeout and a write leave modbus-serial holding none', async () => {
    const endpoint: TcpEndpoint = { kind: 'tcp', host: '127.0.0.1', port };
    const transport = new ModbusSerialTransport(endpoint);
    await transport.connect(1000);
    // modbus-serial files every request under its transaction id and keeps it until the id comes round again.
    const held = (): number =>
      Object.keys(
        (transport as unknown as { client: { _transactions: Record<string, unknown> } }).client._transactions,
      ).length;
    try {
      const spec = specs[0]!;
      for (let i = 0; i < 300; i += 1)
        assert.deepEqual(await transport.read(spec.unitId, 4, 70, 2, 300), [0x4248, 0]);
      assert.equal(held(), 0);
      site.server().setFault(specs[1]!.unitId, { kind: 'silent' });
      await assert.rejects(transport.read(specs[1]!.unitId, 4, 0, 2, 100), ModbusTimeoutError);
      site.server().setFault(specs[1]!.unitId, undefined);
      assert.equal(held(), 0);
      const relayMeter = specs.find((s) => s.profile === 'hiking-dds238-2')!;
      await transport.write(relayMeter.unitId, 16, 26, [1], 300); // supply on, as it is
      assert.equal(site.meter(relayMeter.meterId).supplyOn, true);
      // A refused request too.
      await assert.rejects(transport.read(spec.unitId, 4, 60_000, 2, 300), ModbusExceptionError);
      assert.equal(held(), 0);
      // The link still matches replies to requests after the forgotten ones.
      assert.deepEqual(await transport.read(spec.unitId, 4, 70, 2, 300), [0x4248, 0]);
    } finally {
      await transport.close();
    }
  });

  it('times out a silent unit, then backs it off so it costs nothing until its next probe', async () => {
    const silent = linkTo(port, { timeoutMs: 150, retries: 1, deadAfter: 2, deadBackoffMinMs: 60_000 });
    await silent.open();
    const unit = specs[1]!.unitId;
    site.server().setFault(unit, { kind: 'silent' });
    try {
      const started = Date.now();
      await assert.rejects(silent.read(unit, 4, 0, 2), ModbusTimeoutError);
      assert.ok(Date.now() - started >= 280, 'timeout and one retry');
      await assert.rejects(silent.read(unit, 4, 0, 2), ModbusTimeoutError);
      const fast = Date.now();
      await assert.rejects(silent.read(unit, 4, 0, 2), UnitBackoffError);
      assert.ok(Date.now() - fast < 50, 'a backed-off unit fails at once');
      assert.deepEqual(silent.stats().deadUnits, [unit]);
      // Other units on the same gateway are not affected.
      assert.equal(
        (await silent.read(specs[2]!.unitId, specs[2]!.profile === 'hiking-dds238-2' ? 3 : 4, 0, 2)).length,
        2,
      );
    } finally {
      site.server().setFault(unit, undefined);
      await silent.close();
    }
  });

  it('backs off a silent unit after one timed-out request with the default settings, so later polls cost nothing', async () => {
    const silent = linkTo(port, { timeoutMs: 150 });
    await silent.open();
    const unit = specs[1]!.unitId;
    site.server().setFault(unit, { kind: 'silent' });
    try {
      const started = Date.now();
      await assert.rejects(silent.read(unit, 4, 0, 2), ModbusTimeoutError);
      assert.ok(Date.now() - started >= 280, 'timeout and one retry');
      // The next block of the same poll, and the next cycle's poll, fail at once.
      const fast = Date.now();
      await assert.rejects(silent.read(unit, 4, 0, 2), UnitBackoffError);
      await assert.rejects(silent.read(unit, 4, 72, 2), UnitBackoffError);
      assert.ok(Date.now() - fast < 50, 'backed off after one timeout');
      assert.deepEqual(silent.stats().deadUnits, [unit]);
      assert.equal(silent.stats().timeouts, 2, 'one request and its retry');
    } finally {
      site.server().setFault(unit, undefined);
      await silent.close();
    }
  });

  it('fails fast while the gateway is down and reconnects by itself when it returns', async () => {
    const flaky = linkTo(port, { reconnectMinMs: 100, reconnectMaxMs: 400 });
    await flaky.open();
    const unit = specs.find((s) => s.profile === 'eastron-sdm630')!.unitId;
    await flaky.read(unit, 4, 72, 2);
    await site.stop();
    // The first request may still go out before the socket's close is seen: it times out instead.
    await assert.rejects(
      flaky.read(unit, 4, 72, 2),
      (e: Error) => e instanceof LinkDownError || e instanceof ModbusTimeoutError,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await assert.rejects(flaky.read(unit, 4, 72, 2), LinkDownError);
    assert.ok(Date.now() - started < 50, 'a down link fails at once');
    await site.start();
    const deadline = Date.now() + 5000;
    let words: number[] | undefined;
    while (!words && Date.now() < deadline) {
      words = await flaky.read(unit, 4, 72, 2).catch(() => undefined);
      if (!words) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(words, 'reconnected after the gateway came back');
    assert.ok(flaky.stats().reconnects >= 1);
    await flaky.close();
    // The suite's own link reconnects when asked.
    await link.open();
  });

  it('sends a relay write ahead of queued reads', async () => {
    const relayMeter = specs.find((s) => s.profile === 'hiking-dds238-2')!;
    const order: string[] = [];
    await link.open();
    const reads = Array.from({ length: 10 }, (_, i) =>
      link.read(specs[0]!.unitId, 4, 72, 2).then(() => order.push(`read${i}`)),
    );
    const write = link.write(relayMeter.unitId, 16, 26, [0]).then(() => order.push('write'));
    await Promise.all([...reads, write]);
    assert.ok(
      order.indexOf('write') <= 1,
      `write completed at position ${order.indexOf('write')}: ${order.join(',')}`,
    );
    assert.equal(site.meter(relayMeter.meterId).supplyOn, false);
    await link.write(relayMeter.unitId, 16, 26, [1]);
    assert.equal(site.meter(relayMeter.meterId).supplyOn, true);
  });

  it('narrows a block a meter refuses (exception 2 across undefined registers) in the same poll, and reads without gaps from then on', async () => {
    const spec = specs.find((s) => s.profile === 'eastron-sdm630')!;
    const meter = site.meter(spec.meterId);
    meter.strictAddresses = true;
    const poller = new MeterPoller({ maxGap: 64 });
    const profile = profiles.get('eastron-sdm630')!;
    try {
      const first = await poller.poll(link, spec.unitId, profile);
      assert.equal(Object.keys(first.values).length, 15, 'every value in the first poll');
      assert.equal(first.values.frequency, 50);
      assert.deepEqual(first.dropped, [], 'the meter serves every value, only not the gaps');
      assert.ok(poller.learnedPlan(profile, spec.unitId)!.readsWithoutGaps);
      const second = await poller.poll(link, spec.unitId, profile);
      // Runs without gaps: 0-17, 52-53, 62-63, 70-75, 342-343.
      assert.equal(second.requests, 5);
      assert.equal(Object.keys(second.values).length, 15);
    } finally {
      meter.strictAddresses = false;
    }
  });

  it("takes a gateway's exception 11 (target device failed to respond) as silence, not as an answer", async () => {
    const spec = specs[0]!;
    site.server().setFault(spec.unitId, { kind: 'exception', code: 11 });
    try {
      await assert.rejects(
        new MeterPoller({ maxGap: 64 }).poll(link, spec.unitId, profiles.get(spec.profile)!),
        (error: Error) =>
          error instanceof GatewayNoAnswerError &&
          error instanceof ModbusTimeoutError &&
          /did not answer .* exception 11 \(gateway target device failed to respond\)/.test(error.message),
      );
    } finally {
      site.server().setFault(spec.unitId, undefined);
    }
  });
});

describe('Modbus reading against an independent server (pymodbus)', function () {
  this.timeout(30_000);
  let server: PymodbusServer;
  let link: ModbusLink;

  before(async function () {
    requireTool(this, havePymodbus(), 'pymodbus', 'python3-pymodbus');
    // Register images written from the makers' maps, not by our encoder.
    server = await PymodbusServer.start({
      units: {
        // EM340: kWh (+) TOT at 0034h = 1234567 (123456.7 kWh), INT32 least significant word first.
        '3': { ir: { '52': [0xd687, 0x0012] }, hr: { '52': [0xd687, 0x0012] } },
        // iEM3000: register 3204 (address 3203) INT64 Wh = 98,765,432 Wh = 98765.432 kWh.
        '4': { hr: { '3203': [0, 0, 0x05e3, 0x0a78] } },
        // Onicon System-10: 40026-40028 = 500 kBtu, 15 MBtu, 111 GBtu, low order first.
        '5': { hr: { '25': [500, 15, 111] } },
        // Pulse counter: counter 1 at 52 = 0x0001_86A0 pulses = 100,000 L, low word first.
        '6': { hr: { '52': [0x86a0, 0x0001] } },
      },
    });
    link = linkTo(server.port);
    await link.open();
  });
  after(async () => {
    await link?.close();
    await server?.stop();
  });

  const poll = (unit: number, profile: string) =>
    new MeterPoller({ maxGap: 64 }).poll(link, unit, profiles.get(profile)!);

  it('decodes a Carlo Gavazzi EM340 counter (INT32, low word first, x0.1)', async () => {
    assert.equal((await poll(3, 'carlo-gavazzi-em340')).counter, 123456.7);
  });

  it('decodes a Schneider iEM3000 INT64 Wh counter at manual register 3204', async () => {
    assert.equal((await poll(4, 'schneider-iem3000')).counter, 98765.432);
  });

  it('decodes an Onicon System-10 base-1000 energy total into kWh thermal', async () => {
    // 111,015,500 kBtu x 0.29307107 kWh/kBtu
    assert.equal((await poll(5, 'onicon-system-10')).counter, 32535431.371585);
  });

  it('decodes a pulse counter (32-bit, low word first) into m3', async () => {
    assert.equal((await poll(6, 'pulse-counter')).counter, 100);
  });

  it('agrees with mbpoll, which reads 32-bit integers low word first by default', async function () {
    requireTool(this, haveMbpoll(), 'mbpoll', 'mbpoll');
    assert.deepEqual(
      await mbpoll(['-p', String(server.port), '-a', '3', '-t', '4:int', '-r', '52', '-c', '1', '127.0.0.1']),
      [1234567],
    );
  });

  it('reports the exception pymodbus answers for an address it does not have', async () => {
    await assert.rejects(
      link.read(3, 3, 4090, 10),
      (error: Error) => error instanceof ModbusExceptionError && /refused/.test(error.message),
    );
  });
});

describe('partial devices on an independent server (pymodbus refusing what a variant lacks)', function () {
  this.timeout(30_000);
  let server: PymodbusServer;
  let link: ModbusLink;
  const DAY = 86_400_000;

  before(async function () {
    requireTool(this, havePymodbus(), 'pymodbus', 'python3-pymodbus');
    server = await PymodbusServer.start(partialImage());
    link = linkTo(server.port);
    await link.open();
  });
  after(async () => {
    await link?.close();
    await server?.stop();
  });

  /** Requests in the steady state: the served values merged as far as the device allows (it refuses gaps). */
  const steady: Record<string, number> = {
    'eastron-sdm630': 1, // frequency + import energy, 70-73
    'eastron-sdm120': 1,
    'eastron-sdm72': 2, // import energy 72, total energy 342
    'carlo-gavazzi-em340': 2, // voltage L1 at 0, import energy at 52: the gap between is refused
    'schneider-iem3000': 1,
    'hiking-dds238-2': 1, // import energy + voltage, 10-12
    'onicon-system-10': 1,
    'pulse-counter': 1, // counters 1 and 2, 52-55
  };

  for (const partial of PARTIAL_METERS) {
    it(`bills a partial ${partial.profile} from its first poll, drops each value it refuses once, then reads in ${steady[partial.profile]} request(s)`, async () => {
      const profile = profiles.get(partial.profile)!;
      const poller = new MeterPoller({ maxGap: 64 });
      const served = [profile.counter!.name, ...Object.keys(partial.extras)].sort();
      const refused = profile.values.filter((value) => !served.includes(value.name));
      const t = T0;
      const first = await poller.poll(link, partial.unitId, profile, t);
      assert.equal(first.counter, partial.values.before);
      assert.deepEqual(Object.keys(first.values).sort(), served);
      assert.deepEqual(
        first.dropped
          .map((d) => [d.value.name, d.code, d.span.function, d.span.address, d.span.length])
          .sort(),
        refused.map((v) => [v.name, 2, v.function, v.address, v.length]).sort(),
        'each refused value named with its register and exception 2',
      );
      assert.deepEqual(first.faults, []);
      const before = link.stats().requests;
      const second = await poller.poll(link, partial.unitId, profile, t + 60_000);
      assert.equal(second.requests, steady[partial.profile]);
      assert.equal(link.stats().requests - before, steady[partial.profile], 'requests on the wire');
      assert.deepEqual(second.dropped, []);
      assert.equal(second.counter, partial.values.before);
      // The counter moves: read exactly.
      await server.set(partial.unitId, partial.counter.table, partial.counter.address, partial.counter.after);
      const third = await poller.poll(link, partial.unitId, profile, t + 120_000);
      assert.equal(third.counter, partial.values.after);
      // A day later each refused value is asked for once more, alone, and stays dropped without a new report.
      const retry = await poller.poll(link, partial.unitId, profile, t + DAY);
      assert.equal(retry.requests, steady[partial.profile]! + refused.length);
      assert.deepEqual(retry.dropped, []);
      assert.equal(
        (await poller.poll(link, partial.unitId, profile, t + DAY + 60_000)).requests,
        steady[partial.profile],
      );
      await server.set(
        partial.unitId,
        partial.counter.table,
        partial.counter.address,
        partial.counter.before,
      );
    });
  }
});

describe('Modbus RTU over a serial line (pymodbus on a socat pseudo-terminal pair)', function () {
  this.timeout(30_000);
  let pty: PtyPair;
  let server: PymodbusServer;
  let link: ModbusLink;

  before(async function () {
    requireTool(this, havePymodbus(), 'pymodbus', 'python3-pymodbus');
    requireTool(this, haveSocat(), 'socat', 'socat');
    pty = await PtyPair.open();
    // EM340 at unit 3 and an SDM120-style float at unit 7, as on a real RS-485 bus.
    server = await PymodbusServer.start(
      { units: { '3': { ir: { '52': [0xd687, 0x0012] } }, '7': { ir: { '72': [0x4499, 0x1eb8] } } } },
      pty.b,
    );
    const endpoint = {
      kind: 'rtu' as const,
      path: pty.a,
      baudRate: 9600,
      parity: 'none' as const,
      dataBits: 8 as const,
      stopBits: 1 as const,
    };
    link = new ModbusLink(endpoint, new ModbusSerialTransport(endpoint), {
      timeoutMs: 500,
      pauseMs: 20,
      retries: 0,
    });
    await link.open();
  });
  after(async () => {
    await link?.close();
    await server?.stop();
    pty?.close();
  });

  it('reads meters at different unit ids on one line, one request at a time', async () => {
    const [em340, sdm] = await Promise.all([
      new MeterPoller({ maxGap: 0 }).poll(link, 3, profiles.get('carlo-gavazzi-em340')!),
      link.read(7, 4, 72, 2),
    ]);
    // Registers the image does not set read as zeros; the counter is what matters.
    assert.equal(em340.counter, 123456.7);
    assert.deepEqual(sdm, [0x4499, 0x1eb8]);
  });

  it('times out a unit that is not on the line, and the line keeps working', async () => {
    await assert.rejects(link.read(9, 4, 72, 2), ModbusTimeoutError);
    assert.deepEqual(await link.read(7, 4, 72, 2), [0x4499, 0x1eb8]);
  });
});
