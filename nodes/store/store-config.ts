/**
 * What a prepay-store config node offers the nodes that use it, and how its settings become a
 * store. Kept apart from the Node-RED registration so ledger nodes can import the types.
 */
import { isAbsolute, join } from 'node:path';
import type { Node, NodeDef } from 'node-red';
import { LedgerStore } from '../core/ledger/store';
import { PostgresLedgerStore } from './postgres-ledger-store';
import { ResilientStore } from './resilient-store';
import { SqliteLedgerStore } from './sqlite-ledger-store';

export interface StoreNodeDef extends NodeDef {
  backend: 'sqlite' | 'postgres';
  file: string;
  synchronous: 'FULL' | 'NORMAL';
  host: string;
  port: string | number;
  database: string;
  user: string;
  ssl: boolean;
}

export interface StoreCredentials {
  password?: string;
}

export interface StoreNode extends Node<StoreCredentials> {
  store: ResilientStore;
  describe(): string;
}

export function createStore(
  config: StoreNodeDef,
  password: string | undefined,
  userDir: string,
): LedgerStore {
  if (config.backend === 'postgres') {
    if (!config.host) throw new Error('prepay-store: host is required for PostgreSQL');
    return new PostgresLedgerStore({
      host: config.host,
      port: Number(config.port) || 5432,
      database: config.database || 'prepay',
      user: config.user || undefined,
      password: password || undefined,
      ssl: config.ssl ? { rejectUnauthorized: true } : undefined,
    });
  }
  const file = config.file || 'prepay-ledger.db';
  return new SqliteLedgerStore({
    path: isAbsolute(file) ? file : join(userDir, file),
    synchronous: config.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL',
  });
}
