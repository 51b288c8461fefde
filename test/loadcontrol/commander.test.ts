/**
 * The BACnet commander and client against bacnet-stack's bacserv as the BEMS, read back independently with
 * bacrp: a write lands at its priority, is relinquished with NULL, a BEMS operator's higher priority wins and is
 * left alone, failures are retried until the BEMS answers, garbage datagrams change nothing, and close
 * relinquishes what is held.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BacnetClient } from '../../dist/nodes/loadcontrol/bacnet-client';
import { BacnetCommander, type CommandEvent } from '../../dist/nodes/loadcontrol/bacnet-commander';
import { LeaseBook } from '../../dist/nodes/loadcontrol/lease-book';
import { livePid } from '../../dist/nodes/loadcontrol/lease-file';
import { slotKey, type DesiredCommand } from '../../dist/nodes/core/loadcontrol/commands';
import { tempUserDir } from '../support/node-red-helper';
import { freeUdpPort, sleep } from '../bacnet/support';
import { AO, BO, MSO, eventually, bemsForSuite, startBems, type Bems } from './bems';

function command(
  bems: Bems,
  objectType: number,
  value: number | boolean | null,
  priority = 10,
): DesiredCommand {
  return {
    key: slotKey({ device: bems.device, objectType, instance: 1 }, priority),
    target: { device: bems.device, objectType, instance: 1 },
    value,
    priority,
    reason: 'test',
  };
}

describe('load control: BACnet commander against bacserv', function () {
  this.timeout(60_000);
  let bems: Bems;
  let client: BacnetClient;
  let lease: LeaseBook;
  let events: CommandEvent[];
  let commander: BacnetCommander;
  const cleanups: Array<() => Promise<void> | void> = [];

  bemsForSuite((started) => (bems = started));

  beforeEach(async () => {
    client = await BacnetClient.open({ bindAddress: '127.0.0.1', port: 0, apduTimeoutMs: 500, retries: 1 });
    lease = new LeaseBook(join(tempUserDir(), 'prepay', 'bacnet-client-t'), {
      leaseMs: 60_000,
      bindAddress: '127.0.0.1',
      apduTimeoutMs: 500,
      retries: 1,
    });
    lease.start();
    events = [];
    commander = new BacnetCommander({
      owner: 'lc1',
      client,
      peer: { host: '127.0.0.1', port: bems.port },
      lease,
      retryBaseMs: 200,
      retryMaxMs: 1000,
      verifyEveryMs: 300,
      onEvent: (e) => events.push(e),
    });
    commander.start([]);
  });

  afterEach(async () => {
    await commander.close(3000);
    lease.stop();
    await client.close();
    const pid = livePid(lease.paths.pid);
    if (pid) process.kill(pid, 'SIGKILL');
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('writes at the priority, reads it back, and relinquishes with NULL', async () => {
    const landed = await commander.set(command(bems, AO, 27.5, 10));
    assert.equal(landed.outcome, 'landed', landed.text);
    assert.equal(landed.presentValue, 27.5);
    const slots = await bems.priorityArray(AO);
    assert.equal(slots[9], '27.500000', 'bacrp reads our value at priority 10');
    assert.equal(slots.filter((s) => s !== null).length, 1, 'and nothing else');
    const leased = JSON.parse(readFileSync(lease.paths.lease, 'utf8')) as {
      entries: Array<{ key: string; value: unknown }>;
    };
    assert.deepEqual(
      leased.entries.map((e) => [e.key, e.value]),
      [[`${bems.device}/analog-output:1@10`, 27.5]],
    );

    const binary = await commander.set(command(bems, BO, false, 12));
    assert.equal(binary.outcome, 'landed', binary.text);
    assert.equal((await bems.priorityArray(BO))[11], '0', 'inactive, as bacrp prints an array slot');
    assert.equal(await bems.presentValue(BO), 'inactive');
    const mode = await commander.set(command(bems, MSO, 3, 11));
    assert.equal(mode.outcome, 'landed', mode.text);
    assert.equal((await bems.priorityArray(MSO))[10], '3');

    for (const [type, priority] of [
      [AO, 10],
      [BO, 12],
      [MSO, 11],
    ] as const) {
      const released = await commander.set(command(bems, type, null, priority));
      assert.equal(released.outcome, 'released', released.text);
      assert.equal((await bems.priorityArray(type))[priority - 1], null, `bacrp reads Null at ${priority}`);
    }
    const after = JSON.parse(readFileSync(lease.paths.lease, 'utf8')) as { entries: unknown[] };
    assert.deepEqual(after.entries, [], 'nothing outstanding');
  });

  it('leaves a BEMS operator’s higher-priority write alone, and reports it', async () => {
    await bems.operatorWrite(AO, 8, 4, '19');
    cleanups.push(() => bems.operatorWrite(AO, 8, 0, '0'));
    const ours = await commander.set(command(bems, AO, 27, 10));
    assert.equal(ours.outcome, 'overridden', ours.text);
    assert.equal(ours.activePriority, 8);
    assert.equal(ours.presentValue, 19);
    await sleep(1000); // three verification rounds
    const slots = await bems.priorityArray(AO);
    assert.equal(slots[7], '19.000000', 'the operator’s value stands');
    assert.equal(slots[9], '27.000000', 'ours is underneath');
    assert.equal(events.filter((e) => e.outcome === 'overridden').length, 1, 'reported once, not fought');
    // The operator hands back: our command shows through again, and that is reported.
    await bems.operatorWrite(AO, 8, 0, '0');
    await eventually(async () => assert.equal(events.at(-1)?.outcome, 'landed'), 3000);
    assert.equal(await bems.presentValue(AO), '27.000000');
  });

  it('retries with backoff until the BEMS answers', async () => {
    const port = await freeUdpPort();
    const silent = new BacnetCommander({
      owner: 'lc2',
      client,
      peer: { host: '127.0.0.1', port },
      lease,
      retryBaseMs: 200,
      retryMaxMs: 800,
      verifyEveryMs: 0,
      onEvent: (e) => events.push(e),
    });
    silent.start([]);
    const late = await startBems(bems.device + 1, port).catch(() => undefined);
    // bacserv came up on that port only now: stop it, fail a few times, then start it again.
    await late?.stop();
    const first = await silent.set({
      ...command(bems, AO, 24, 10),
      target: { device: bems.device + 1, objectType: AO, instance: 1 },
    });
    assert.equal(first.outcome, 'failed');
    assert.match(first.text, /no answer/);
    assert.ok(first.nextAttemptAt! > first.at);
    const again = await startBems(bems.device + 1, port);
    cleanups.push(() => again.stop());
    await eventually(
      async () => assert.equal(events.filter((e) => e.key.endsWith('@10')).at(-1)?.outcome, 'landed'),
      8000,
    );
    const failures = events.filter((e) => e.outcome === 'failed');
    assert.ok(failures.length >= 1);
    assert.equal((await again.priorityArray(AO))[9], '24.000000');
    const closed = await silent.close(3000);
    assert.deepEqual(closed, { released: 1, left: 0 });
    assert.equal((await again.priorityArray(AO))[9], null, 'relinquished on close');
  });

  it('drops garbage datagrams to its port and keeps working', async () => {
    const sender = createSocket('udp4');
    const port = client.port;
    const send = (buf: Buffer) =>
      new Promise<void>((resolve) => sender.send(buf, port, '127.0.0.1', () => resolve()));
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 40);
      const buf = Buffer.alloc(length);
      for (let j = 0; j < length; j++) buf[j] = Math.floor(random() * 256);
      // Half look like BACnet/IP with a matching length, so the parsers get past the header.
      if (i % 2 === 0 && length >= 8) {
        buf[0] = 0x81;
        buf[1] = 0x0a;
        buf.writeUInt16BE(length, 2);
        buf[4] = 0x01;
        buf[5] = 0x00;
        buf[6] = (Math.floor(random() * 8) << 4) | (buf[6]! & 0x0f);
      }
      await send(buf);
      if (i % 50 === 49) await sleep(5); // the receiving socket's buffer is small: let it drain
    }
    // A truncated ComplexACK, an Error without its codes, a huge tag length.
    for (const hex of ['810a000a0100300c0c02', '810a0009010050000f', '810a000d0100300c0c3e25ffffffff'])
      await send(Buffer.from(hex, 'hex'));
    sender.close();
    await sleep(200);
    assert.ok(client.stats.received >= 1900, `received ${client.stats.received}`);
    assert.equal(client.stats.dropped, client.stats.received, 'every one of them dropped');
    const landed = await commander.set(command(bems, MSO, 2, 13));
    assert.equal(landed.outcome, 'landed', landed.text);
    assert.equal((await bems.priorityArray(MSO))[12], '2');
  });

  it('relinquishes everything it holds on close', async () => {
    await commander.set(command(bems, AO, 29, 14));
    await commander.set(command(bems, BO, true, 14));
    assert.equal((await bems.priorityArray(AO))[13], '29.000000');
    const closed = await commander.close(3000);
    assert.deepEqual(closed, { released: 2, left: 0 });
    assert.equal((await bems.priorityArray(AO))[13], null);
    assert.equal((await bems.priorityArray(BO))[13], null);
    rmSync(lease.paths.lease, { force: true });
  });
});
