/**
 * A real InfluxDB 1.x server for the tests: Debian's influxd, started on loopback with a temporary config and
 * data directory, on free ports; it can be stopped and started again on the same ports and data (an outage).
 * Missing locally, the suites skip loudly; under CI=true that is a failure (.ci/run installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './modbus-peers';

export function haveInfluxd(): boolean {
  return spawnSync('influxd', ['version']).error === undefined;
}

export class Influxd {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly config: string,
  ) {}

  static async create(): Promise<Influxd> {
    const dir = mkdtempSync(join(tmpdir(), 'prepay-influxd-'));
    const port = await freePort();
    const rpc = await freePort();
    const config = join(dir, 'influxdb.conf');
    writeFileSync(
      config,
      `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
    );
    const server = new Influxd(dir, port, config);
    await server.start();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    this.output = '';
    const child = spawn('influxd', ['run', '-config', this.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child = child;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`influxd exited: ${this.output.slice(-2000)}`);
      try {
        const response = await fetch(`${this.url}/ping`);
        if (response.status === 204) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`influxd did not answer on ${this.url}: ${this.output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Kills the server (SIGKILL: an outage, not a clean shutdown). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async query(database: string, q: string): Promise<Array<Array<unknown>>> {
    const response = await fetch(
      `${this.url}/query?db=${encodeURIComponent(database)}&epoch=ms&q=${encodeURIComponent(q)}`,
    );
    const body = (await response.json()) as {
      results: Array<{ series?: Array<{ values: Array<Array<unknown>> }> }>;
    };
    return body.results[0]?.series?.[0]?.values ?? [];
  }

  /** Runs a statement that changes something (CREATE DATABASE, CREATE RETENTION POLICY): POST, as 1.x asks. */
  async exec(q: string): Promise<void> {
    const response = await fetch(`${this.url}/query?q=${encodeURIComponent(q)}`, { method: 'POST' });
    const body = (await response.json()) as { results?: Array<{ error?: string }>; error?: string };
    const error = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!response.ok || error) throw new Error(`influxd refused ${q}: ${error ?? response.status}`);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
