/**
 * What a prepay-store config node offers the nodes that use it, and how its settings become a
 * store. Kept apart from the Node-RED registration so ledger nodes can import the types.
 */
import { basename, extname, isAbsolute, join } from 'node:path';
import type { Node, NodeDef } from 'node-red';
import { LedgerIntegrity } from '../core/ledger/checkpoint';
import { Keyring, sealKey } from '../core/ledger/seal';
import { LedgerStore } from '../core/ledger/store';
import { CheckpointFile } from './checkpoint-file';
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
  /** The checkpoint log (relative to the user directory); empty for the default name. */
  checkpointFile?: string;
  /** Hours between checkpoints (1 to 24). */
  checkpointHours?: string | number;
}

export interface StoreCredentials {
  password?: string;
  /** The ledger key: seals entries and checkpoints. Falls back to PREPAY_LEDGER_SEAL_KEY. */
  sealKey?: string;
  /** The key before a rotation, kept for verifying only. Falls back to PREPAY_LEDGER_PREVIOUS_SEAL_KEY. */
  previousSealKey?: string;
}

export interface StoreNode extends Node<StoreCredentials> {
  store: ResilientStore;
  describe(): string;
}

/** The checkpoint log's file when none is given: named after the database, in the user directory. */
export function defaultCheckpointFile(config: StoreNodeDef): string {
  const name =
    config.backend === 'postgres'
      ? `prepay-${config.host || 'localhost'}-${config.database || 'prepay'}`
      : basename(config.file || 'prepay-ledger.db', extname(config.file || 'prepay-ledger.db'));
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.checkpoints.jsonl`;
}

/** Hours between checkpoints: a whole number from 1 to 24 (24 when not given). */
export function checkpointHours(config: StoreNodeDef): number {
  const raw = config.checkpointHours;
  if (raw === undefined || raw === '') return 24;
  const hours = Number(raw);
  if (!Number.isInteger(hours) || hours < 1 || hours > 24)
    throw new Error(
      `prepay-store: checkpoint every: must be a whole number of hours from 1 to 24, not "${raw}"`,
    );
  return hours;
}

/**
 * The ledger key from the node's encrypted credentials or, when they hold none, the environment
 * (never from the flow or the database), and the checkpoint log.
 */
export function storeIntegrity(
  config: StoreNodeDef,
  credentials: StoreCredentials | undefined,
  userDir: string,
  env: NodeJS.ProcessEnv = process.env,
): LedgerIntegrity {
  const current = credentials?.sealKey || env.PREPAY_LEDGER_SEAL_KEY || '';
  const previous = credentials?.previousSealKey || env.PREPAY_LEDGER_PREVIOUS_SEAL_KEY || '';
  let keyring: Keyring;
  try {
    keyring = new Keyring(
      current ? sealKey(current, 'seal key') : undefined,
      previous ? [sealKey(previous, 'previous seal key')] : [],
    );
  } catch (error) {
    throw new Error(`prepay-store: ${(error as Error).message}`);
  }
  const file = config.checkpointFile || defaultCheckpointFile(config);
  return { keyring, log: new CheckpointFile(isAbsolute(file) ? file : join(userDir, file)) };
}

export function createStore(
  config: StoreNodeDef,
  credentials: StoreCredentials | undefined,
  userDir: string,
): LedgerStore {
  const integrity = storeIntegrity(config, credentials, userDir);
  if (config.backend === 'postgres') {
    if (!config.host) throw new Error('prepay-store: host is required for PostgreSQL');
    return new PostgresLedgerStore(
      {
        host: config.host,
        port: Number(config.port) || 5432,
        database: config.database || 'prepay',
        user: config.user || undefined,
        password: credentials?.password || undefined,
        ssl: config.ssl ? { rejectUnauthorized: true } : undefined,
      },
      integrity,
    );
  }
  const file = config.file || 'prepay-ledger.db';
  return new SqliteLedgerStore({
    path: isAbsolute(file) ? file : join(userDir, file),
    synchronous: config.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL',
    integrity,
  });
}
