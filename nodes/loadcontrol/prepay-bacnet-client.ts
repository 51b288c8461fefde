/**
 * prepay-bacnet-client: one BACnet/IP client and the BEMS controller it commands, shared by every load-control
 * node that names it (as prepay-modbus is for meters). It owns the UDP socket, the lease file of commands
 * outstanding and the heartbeat that keeps the lease watchdog from relinquishing them while Node-RED runs.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { BacnetClient } from './bacnet-client';
import { BacnetCommander } from './bacnet-commander';
import { readClientSettings, type BacnetClientNodeDef, type ClientSettings } from './client-config';
import type { BacnetClientConfigNode, ClientHandle } from './client-handle';
import { LeaseBook } from './lease-book';

/** Leftovers of owners that do not come back within this long after start are relinquished. */
const CLAIM_MS = 10_000;
const CLOSE_WAIT_MS = 12_000;

export = function register(RED: NodeAPI): void {
  function PrepayBacnetClientNode(this: Node, config: NodeDef & BacnetClientNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this as BacnetClientConfigNode;
    let settings: ClientSettings;
    try {
      // Device and address may come from environment variables (typed inputs): one flow, several sites.
      const resolve = (field: 'device' | 'address'): string => {
        const type = field === 'device' ? config.deviceType : config.addressType;
        const value = config[field];
        return String(
          type === 'env'
            ? RED.util.evaluateNodeProperty(String(value ?? ''), 'env', node, {})
            : (value ?? ''),
        );
      };
      settings = readClientSettings({ ...config, device: resolve('device'), address: resolve('address') });
    } catch (error) {
      node.problem = (error as Error).message;
      node.error(`prepay-bacnet-client: ${node.problem}`);
      return;
    }
    node.settings = settings;
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const lease = new LeaseBook(join(userDir, 'prepay', `bacnet-client-${node.id}`), {
      leaseMs: settings.leaseMs,
      bindAddress: settings.bindAddress,
      apduTimeoutMs: settings.apduTimeoutMs,
      retries: settings.retries,
    });
    lease.onNotice = (text) => node.log(`prepay-bacnet-client: ${text}`);
    if (lease.loadProblem) node.warn(`prepay-bacnet-client: ${lease.loadProblem}`);
    const owners = new Set<string>();
    const claimed = new Set<string>();
    let drained: (() => void) | undefined;
    let orphans: BacnetCommander | undefined;
    let claimTimer: NodeJS.Timeout | undefined;

    node.ready = BacnetClient.open(settings).then((client) => {
      lease.start();
      const handle: ClientHandle = {
        client,
        peer: settings.peer,
        device: settings.device,
        lease,
        acquire(owner) {
          owners.add(owner);
          claimed.add(owner);
          return () => {
            owners.delete(owner);
            if (owners.size === 0) drained?.();
          };
        },
      };
      // Commands left by nodes no longer in the flow: nobody will take them over, so they are relinquished.
      claimTimer = setTimeout(() => {
        const left = [...lease.owners()].filter((owner) => !claimed.has(owner));
        for (const owner of left) {
          node.warn(
            `prepay-bacnet-client: relinquishing ${lease.held(owner).length} command(s) left by node ${owner}, no longer in the flow`,
          );
          orphans = new BacnetCommander({ owner, client, peer: settings.peer, lease, verifyEveryMs: 0 });
          orphans.start([]);
        }
      }, CLAIM_MS);
      claimTimer.unref();
      node.log(
        `prepay-bacnet-client: UDP ${settings.bindAddress}:${client.port}, BEMS device ${settings.device} at ${settings.peer.host}:${settings.peer.port}, lease ${settings.leaseMs / 1000} s`,
      );
      return handle;
    });
    node.ready.catch((error: Error) => {
      node.problem = `cannot bind UDP ${settings.bindAddress}:${settings.port}: ${error.message}`;
      node.error(`prepay-bacnet-client: ${node.problem}`);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (claimTimer) clearTimeout(claimTimer);
      const finish = async (): Promise<void> => {
        // The nodes using the client relinquish their commands on close: the socket stays open until they are done.
        if (owners.size > 0)
          await new Promise<void>((resolve) => {
            drained = resolve;
            setTimeout(resolve, CLOSE_WAIT_MS).unref();
          });
        await orphans?.close(2000);
        lease.stop();
        const handle = await node.ready?.catch(() => undefined);
        await handle?.client.close();
        if (lease.size > 0)
          node.warn(
            `prepay-bacnet-client: ${lease.size} command(s) not relinquished; the lease watchdog relinquishes them after ${settings.leaseMs / 1000} s`,
          );
      };
      finish().then(done, done);
    });
  }

  RED.nodes.registerType('prepay-bacnet-client', PrepayBacnetClientNode);
};
