/**
 * Typed access to node-red-node-test-helper (it ships no types) and the core nodes tests use.
 * Runs our built nodes from dist/ inside a real Node-RED runtime.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestNode {
  id: string;
  type: string;
  on(event: 'input', handler: (msg: Record<string, unknown>) => void): void;
  on(event: 'call:status' | 'call:error' | 'call:warn', handler: (call: { args: unknown[] }) => void): void;
  receive(msg: Record<string, unknown>): void;
  status: unknown;
}

export interface SuperTest {
  post(url: string): SuperTest;
  get(url: string): SuperTest;
  send(body: unknown): SuperTest;
  set(header: string, value: string): SuperTest;
  expect(status: number): Promise<{ body: unknown; text: string; status: number }>;
}

interface Helper {
  init(runtimePath: string, settings?: Record<string, unknown>): void;
  settings(settings: Record<string, unknown>): Record<string, unknown>;
  load(nodes: unknown, flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): TestNode;
  startServer(done: (err?: Error) => void): void;
  stopServer(done: (err?: Error) => void): void;
  request(): SuperTest;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper') as Helper;
helper.init(require.resolve('node-red'));

export type NodeModule = (RED: unknown) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const catchNode = require('@node-red/nodes/core/common/25-catch.js') as NodeModule;

export function loadBuiltNode(relative: string): NodeModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(__dirname, '..', '..', '..', 'dist', 'nodes', relative)) as NodeModule;
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh Node-RED user directory, removed when the test process exits. */
export function tempUserDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prepay-test-'));
  tempDirs.push(dir);
  return dir;
}

export function startServer(): Promise<void> {
  return new Promise((resolve, reject) => helper.startServer((err) => (err ? reject(err) : resolve())));
}

export function stopServer(): Promise<void> {
  return new Promise((resolve, reject) => helper.stopServer((err) => (err ? reject(err) : resolve())));
}

/** The next message a helper node receives, or a rejection after `ms`. */
export function nextMessage(node: TestNode, ms = 2000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message at ${node.id} within ${ms} ms`)), ms);
    node.on('input', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

/** Collects every message a helper node receives. */
export function collect(node: TestNode): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [];
  node.on('input', (msg) => messages.push(msg));
  return messages;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
