/**
 * A real Node-RED as a child process, for tests that need the whole runtime: the packaging test
 * (installed tarball, Node-RED 4 and 5), crash tests (SIGKILL at random moments), end-to-end runs and
 * the site install test (a settings file of its own, served over HTTPS). Binds 127.0.0.1 on a free port;
 * every process started is stopped when the test process exits.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freeUdpPort } from '../bacnet/support';

export interface NodeRedProcessOptions {
  userDir: string;
  /** Node.js binary (default: the one running the tests). */
  nodeBin?: string;
  /** Node-RED's red.js (default: the devDependency). */
  redJs?: string;
  /** Flows to deploy (written to flows.json); omit to keep what the user directory has. */
  flows?: unknown[];
  /** Extra settings, serialised into settings.js (JSON values only). */
  settings?: Record<string, unknown>;
  /**
   * JavaScript appended to the written settings.js, for what JSON cannot carry (a function such as
   * `dashboard.ioMiddleware`); it may change `module.exports`.
   */
  settingsCode?: string;
  /**
   * A settings file to start with instead of writing one (`settings` is then ignored): it must listen on
   * 127.0.0.1 and on `port`.
   */
  settingsFile?: string;
  /** The port `settingsFile` listens on. */
  port?: number;
  /** The settings serve HTTPS with a certificate this CA (PEM) signed: requests go over TLS and trust it. */
  tlsCa?: string | Buffer;
  env?: Record<string, string>;
  /** How long to wait for "Started flows" (ms). */
  startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free ports (a simulated site's gateways listen on consecutive ports). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let port = base; port < base + count && free; port += 1) free = await canListen(port);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/**
 * Moves a simulated site's gateways, and the Modbus links to them, to free consecutive ports (the simulator
 * listens on consecutive ports from its first). Returns the first port.
 */
export async function onFreePorts(flows: Array<{ type: string; port?: unknown }>): Promise<number> {
  const links = flows.filter((n) => n.type === 'prepay-modbus');
  const base = await freePortRange(links.length);
  const simulator = flows.find((n) => n.type === 'prepay-simulator');
  if (!simulator) throw new Error('no prepay-simulator in the flow');
  const original = Number(simulator.port);
  simulator.port = base;
  for (const link of links) link.port = base + (Number(link.port) - original);
  // The simulator's BEMS controller to a free UDP port, and the BACnet clients that command it with it.
  const bems = simulator as { bems?: unknown; bemsPort?: unknown };
  if (bems.bems === true) {
    const before = `127.0.0.1:${String(bems.bemsPort)}`;
    bems.bemsPort = String(await freeUdpPort());
    for (const client of flows.filter((n) => n.type === 'prepay-bacnet-client') as Array<{
      address?: unknown;
    }>)
      if (client.address === before) client.address = `127.0.0.1:${bems.bemsPort as string}`;
  }
  return base;
}

/**
 * Moves everything a flow listens on to free ports, so that it runs beside anything else on this machine (the
 * reference site of `npm start` takes Modbus 5021-5022 and BACnet 47808; the examples their own): a simulated
 * site and its Modbus links as onFreePorts does, each BACnet device to a free UDP port, and each BACnet client's
 * BEMS controller to a free UDP port where nothing answers.
 */
export async function flowOnFreePorts(
  flows: Array<{ type: string; port?: unknown; portType?: unknown }>,
): Promise<void> {
  if (flows.some((n) => n.type === 'prepay-simulator')) await onFreePorts(flows);
  for (const device of flows.filter((n) => n.type === 'prepay-bacnet-device')) {
    device.port = String(await freeUdpPort());
    device.portType = 'num';
  }
  // A BACnet client's BEMS controller: the simulator's own when it commands that one (onFreePorts moved both);
  // any other moved to a free port, where nothing answers (the example's commands then fail to its Catch node)
  // rather than to whatever BACnet device listens on 47808 here.
  const simulated = (flows as Array<{ type: string; bems?: unknown; bemsPort?: unknown }>)
    .filter((n) => n.type === 'prepay-simulator' && n.bems === true)
    .map((n) => `127.0.0.1:${String(n.bemsPort)}`);
  for (const client of flows.filter((n) => n.type === 'prepay-bacnet-client') as Array<{ address?: unknown }>)
    if (!simulated.includes(String(client.address))) client.address = `127.0.0.1:${await freeUdpPort()}`;
}

export class NodeRedProcess {
  private output = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly tlsCa?: string | Buffer,
  ) {
    running.add(child);
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
  }

  get baseUrl(): string {
    return `${this.tlsCa ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** Everything the process printed so far. */
  log(): string {
    return this.output;
  }

  static async start(options: NodeRedProcessOptions): Promise<NodeRedProcess> {
    let port: number;
    let settingsFile: string;
    if (options.settingsFile) {
      if (!options.port) throw new Error('settingsFile needs the port it listens on');
      port = options.port;
      settingsFile = options.settingsFile;
    } else {
      port = await freePort();
      const settings = {
        uiHost: '127.0.0.1',
        uiPort: port,
        userDir: options.userDir,
        flowFile: 'flows.json',
        credentialSecret: 'prepay-test-secret',
        logging: { console: { level: 'info', metrics: false, audit: false } },
        ...options.settings,
      };
      settingsFile = join(options.userDir, 'settings.js');
      writeFileSync(
        settingsFile,
        `module.exports = ${JSON.stringify(settings, null, 2)};\n${options.settingsCode ?? ''}\n`,
      );
    }
    if (options.flows) writeFileSync(join(options.userDir, 'flows.json'), JSON.stringify(options.flows));
    const redJs = options.redJs ?? require.resolve('node-red/red.js');
    const child = spawn(
      options.nodeBin ?? process.execPath,
      [redJs, '--userDir', options.userDir, '--settings', settingsFile],
      {
        env: { ...process.env, ...options.env, NODE_RED_ENABLE_PROJECTS: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const red = new NodeRedProcess(child, port, options.tlsCa);
    await red.waitFor(/Started flows/, options.startTimeoutMs ?? 60_000);
    return red;
  }

  /** Resolves when the log matches `pattern`; rejects with the log when the process exits or time runs out. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => (done = true));
    while (!pattern.test(this.output)) {
      if (done) throw new Error(`Node-RED exited before ${pattern}:\n${this.output.slice(-4000)}`);
      if (Date.now() > deadline)
        throw new Error(
          `Node-RED did not log ${pattern} within ${timeoutMs} ms:\n${this.output.slice(-4000)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    if (this.tlsCa) return tlsFetch(`${this.baseUrl}${path}`, init, this.tlsCa);
    return fetch(`${this.baseUrl}${path}`, init);
  }

  async json(path: string): Promise<unknown> {
    const response = await this.request(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }

  /** Stops cleanly (SIGTERM), or kills after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills at once (SIGKILL by default: no chance to flush anything) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/**
 * `fetch` over HTTPS trusting one CA (Node's fetch takes no CA of its own): string bodies and headers as a
 * plain object, which is what the tests send.
 */
export function tlsFetch(url: string, init: RequestInit, ca: string | Buffer): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      { method: init.method ?? 'GET', headers: init.headers as Record<string, string> | undefined, ca },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers))
            for (const one of Array.isArray(value) ? value : [value])
              if (one !== undefined) headers.append(name, one);
          const status = response.statusCode ?? 0;
          const body = [204, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers }));
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (init.body !== undefined && init.body !== null) request.write(init.body as string);
    request.end();
  });
}
