/**
 * prepay-store: the ledger's storage, shared by every ledger node that names it. SQLite (one file
 * in the Node-RED user directory) by default; PostgreSQL for several gateways sharing one ledger,
 * with the password kept in Node-RED's encrypted credentials, never in the flow file. A SQLite ledger
 * can be backed up while it runs (store-admin.ts). The ledger key (credentials or environment) seals
 * entries and checkpoints; the checkpoints go to a file outside the database, at start and every few
 * hours, and a summary of each to the Node-RED log.
 */
import type { Node, NodeAPI } from 'node-red';
import { runtimeClock } from '../shared/runtime-clock';
import { CheckpointSchedule } from './checkpoint-schedule';
import { registerAccessTokenRoutes } from './access-token-admin';
import { ResilientStore } from './resilient-store';
import { activeStores, registerStoreAdminRoutes } from './store-admin';
import { checkpointHours, createStore, StoreNode, StoreNodeDef } from './store-config';

export = function register(RED: NodeAPI): void {
  registerStoreAdminRoutes(RED);
  registerAccessTokenRoutes(RED);

  function PrepayStoreNode(
    this: Node<{ password: unknown; sealKey: unknown; previousSealKey: unknown }>,
    config: StoreNodeDef,
  ): void {
    RED.nodes.createNode(this, config);
    const node = this as unknown as StoreNode;
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    let hours: number;
    try {
      hours = checkpointHours(config);
      node.store = new ResilientStore(createStore(config, node.credentials, userDir));
    } catch (error) {
      // No store rather than one without the protection asked for: ledger nodes say so.
      node.error((error as Error).message);
      return;
    }
    node.describe = () =>
      config.backend === 'postgres'
        ? `postgres://${config.user ? `${config.user}@` : ''}${config.host}:${config.port || 5432}/${config.database || 'prepay'}`
        : `sqlite:${config.file || 'prepay-ledger.db'}`;
    const integrity = node.store.integrity;
    if (integrity?.keyring.empty)
      node.warn(
        `prepay-store: no seal key: ${node.describe()} is protected by its hash chain and checkpoints only; set a seal key to detect rewritten entries`,
      );
    node.store
      .init()
      .catch((error: Error) => node.warn(`prepay-store: ${node.describe()} not ready yet: ${error.message}`));
    const schedule = new CheckpointSchedule(node.store, runtimeClock(RED.settings), hours * 3_600_000, {
      written(report) {
        node.log(
          `prepay-store: checkpoint ${report.line} of ${report.accounts} accounts at ${new Date(report.at).toISOString()}` +
            ` in ${report.location}, ${report.keyId ? `sealed with key ${report.keyId}` : 'not sealed (no key)'}: ${report.seal}`,
        );
        for (const refused of report.refused)
          node.error(
            `prepay-store: checkpoint ${report.line}: account ${refused.accountId} failed its check and keeps its previous record: ${refused.problems.join('; ')}`,
          );
      },
      failed(error) {
        node.warn(`prepay-store: checkpoint not written (tried again within 5 minutes): ${error.message}`);
      },
    });
    schedule.start();
    activeStores.set(node.id, { node, userDir });
    node.on('close', (_removed: boolean, done: () => void) => {
      if (activeStores.get(node.id)?.node === node) activeStores.delete(node.id);
      schedule
        .stop()
        .then(() => node.store.close())
        .then(done, done);
    });
  }

  RED.nodes.registerType('prepay-store', PrepayStoreNode, {
    credentials: {
      password: { type: 'password' },
      sealKey: { type: 'password' },
      previousSealKey: { type: 'password' },
    },
  });
};
