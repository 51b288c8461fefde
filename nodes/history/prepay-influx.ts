/**
 * prepay-influx: one InfluxDB 1.x server and database, with the disk buffer of points waiting for it, shared
 * by every history node that names it. The password lives in Node-RED's encrypted credentials.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DeadLetter, deadLetterText } from './dead-letters';
import { HistoryWriter } from './history-writer';
import type { InfluxConfigNode } from './influx-config';
import { InfluxTarget } from './influx-target';
import { PointQueue } from './point-queue';

interface InfluxNodeDef extends NodeDef {
  host?: string;
  port?: string | number;
  database?: string;
  retentionPolicy?: string;
  username?: string;
  bufferPoints?: string | number;
  batchSize?: string | number;
  timeZone?: string;
}

function whole(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${field} must be a whole number from ${min} to ${max}`);
  return n;
}

export = function register(RED: NodeAPI): void {
  function PrepayInfluxNode(this: Node<{ password: string }>, config: InfluxNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this as unknown as InfluxConfigNode & { credentials?: { password?: string } };
    node.timeZone = config.timeZone || 'UTC';
    node.reporters = new Map();
    try {
      const host = (config.host ?? '').trim();
      if (!host) throw new Error('host is required');
      const database = (config.database ?? '').trim();
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(database))
        throw new Error('database must be 1-64 letters, digits, _ . or -');
      const settings = {
        host,
        port: whole(config.port, 8086, 'port', 1, 65535),
        database,
        timeoutMs: 10_000,
        ...(config.retentionPolicy ? { retentionPolicy: config.retentionPolicy } : {}),
        ...(config.username ? { username: config.username, password: node.credentials?.password ?? '' } : {}),
      };
      const capacity = whole(config.bufferPoints, 1_000_000, 'buffer', 100, 100_000_000);
      const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
      node.target = new InfluxTarget(settings);
      const queue = new PointQueue(join(userDir, 'prepay', `history-${node.id}.db`), capacity);
      node.writer = new HistoryWriter(queue, node.target, {
        batchSize: whole(config.batchSize, 5000, 'batch size', 1, 50_000),
        minBackoffMs: 500,
        maxBackoffMs: 30_000,
      });
      node.writer.on('dead-letter', (letter: DeadLetter) => {
        const report =
          (letter.source !== undefined ? node.reporters.get(letter.source) : undefined) ??
          node.reporters.values().next().value;
        if (report) report(letter);
        else node.error(`prepay-influx: ${deadLetterText(letter, node.writer!.deadLetters.path)}`);
      });
      node.writer.on('state', (stats: { up: boolean; backlog: number; lastError?: string }) => {
        if (stats.up)
          node.log(`${node.target!.describe()} is writable again; ${stats.backlog} points to replay`);
        else
          node.warn(
            `prepay-influx: ${node.target!.describe()} unavailable (${stats.lastError}); points wait on disk`,
          );
      });
    } catch (error) {
      node.problem = (error as Error).message;
      node.error(`prepay-influx: ${node.problem}`);
    }
    node.on('close', (_removed: boolean, done: () => void) => {
      node.writer?.close();
      done();
    });
  }

  RED.nodes.registerType('prepay-influx', PrepayInfluxNode, {
    credentials: { password: { type: 'password' } },
  });
};
