/**
 * prepay-store: the ledger's storage, shared by every ledger node that names it. SQLite (one file
 * in the Node-RED user directory) by default; PostgreSQL for several gateways sharing one ledger,
 * with the password kept in Node-RED's encrypted credentials, never in the flow file. A SQLite ledger
 * can be backed up while it runs (store-admin.ts).
 */
import type { Node, NodeAPI } from 'node-red';
import { registerAccessTokenRoutes } from './access-token-admin';
import { ResilientStore } from './resilient-store';
import { activeStores, registerStoreAdminRoutes } from './store-admin';
import { createStore, StoreNode, StoreNodeDef } from './store-config';

export = function register(RED: NodeAPI): void {
  registerStoreAdminRoutes(RED);
  registerAccessTokenRoutes(RED);

  function PrepayStoreNode(this: Node<{ password: unknown }>, config: StoreNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this as unknown as StoreNode;
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    node.store = new ResilientStore(createStore(config, node.credentials?.password, userDir));
    node.describe = () =>
      config.backend === 'postgres'
        ? `postgres://${config.user ? `${config.user}@` : ''}${config.host}:${config.port || 5432}/${config.database || 'prepay'}`
        : `sqlite:${config.file || 'prepay-ledger.db'}`;
    node.store
      .init()
      .catch((error: Error) => node.warn(`prepay-store: ${node.describe()} not ready yet: ${error.message}`));
    activeStores.set(node.id, { node, userDir });
    node.on('close', (_removed: boolean, done: () => void) => {
      if (activeStores.get(node.id)?.node === node) activeStores.delete(node.id);
      node.store.close().then(done, done);
    });
  }

  RED.nodes.registerType('prepay-store', PrepayStoreNode, {
    credentials: { password: { type: 'password' } },
  });
};
