/**
 * The lease watchdog on its own, against bacserv: it leaves the commands alone while the heartbeat is fresh,
 * relinquishes them (NULL at their priority, read back with bacrp) once the heartbeat is older than the lease,
 * empties the lease file and exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { leasePaths, touchHeartbeat, type LeaseDocument } from '../../dist/nodes/loadcontrol/lease-file';
import { sleep, tempUserDir } from '../support/node-red-helper';
import { AO, eventually, bemsForSuite, type Bems } from './bems';

const WATCHDOG = join(__dirname, '..', '..', 'dist', 'nodes', 'loadcontrol', 'lease-watchdog.js');

describe('load control: lease watchdog', function () {
  this.timeout(30_000);
  let bems: Bems;

  bemsForSuite((started) => (bems = started));

  it('guards while the heartbeat is fresh, relinquishes when it stops for the lease, then exits', async () => {
    const dir = join(tempUserDir(), 'prepay');
    mkdirSync(dir, { recursive: true });
    const paths = leasePaths(join(dir, 'bacnet-client-w'));
    await bems.operatorWrite(AO, 10, 4, '26'); // as the node wrote it
    const doc: LeaseDocument = {
      version: 1,
      leaseMs: 1000,
      bindAddress: '127.0.0.1',
      apduTimeoutMs: 500,
      retries: 1,
      entries: [
        {
          owner: 'lc',
          key: `${bems.device}/analog-output:1@10`,
          host: '127.0.0.1',
          port: bems.port,
          device: bems.device,
          objectType: AO,
          instance: 1,
          property: 85,
          priority: 10,
          value: 26,
          since: Date.now(),
        },
      ],
    };
    writeFileSync(paths.lease, JSON.stringify(doc));
    touchHeartbeat(paths.heartbeat);
    const child = spawn(process.execPath, [WATCHDOG, paths.lease], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      for (let i = 0; i < 12; i++) {
        touchHeartbeat(paths.heartbeat);
        await sleep(200);
      }
      assert.equal((await bems.priorityArray(AO))[9], '26.000000', 'left alone while Node-RED beats');
      const stoppedAt = Date.now();
      await eventually(async () => assert.equal((await bems.priorityArray(AO))[9], null), 5000, 100);
      assert.ok(Date.now() - stoppedAt >= 900, 'not before the lease');
      assert.equal(await exited, 0, output);
      assert.match(output, /relinquished lc\/.*@10 \(priority 10\)/);
      assert.deepEqual((JSON.parse(readFileSync(paths.lease, 'utf8')) as LeaseDocument).entries, []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
