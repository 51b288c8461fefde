/**
 * Independent Modbus peers for the tests: Debian's python3-pymodbus as a server and mbpoll as a client.
 * Both come from .ci/run; a missing one skips its tests locally and fails them under CI=true.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's own interpreter: a python3 found first on PATH may not see Debian's modules. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, '..', '..', '..', 'test', 'support', 'pymodbus_server.py');

export function havePymodbus(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import pymodbus.server']).status === 0;
}

export function haveMbpoll(): boolean {
  return spawnSync('mbpoll', ['-V']).error === undefined;
}

/** Skips the suite locally, fails it in CI, saying which tool is missing. */
/** Skips the suite loudly when a tool is missing (a failure under CI=true), naming the package that has it. */
export function requireTool(
  context: Mocha.Context,
  available: boolean,
  what: string,
  aptPackage: string,
): void {
  if (available) return;
  if (process.env.CI === 'true') throw new Error(`${what} is required in CI (installed by .ci/run)`);
  console.warn(skipNotice(what, aptPackage));
  context.skip();
}

export function skipNotice(what: string, aptPackage: string): string {
  return `\n  !!! SKIPPING: ${what} is not installed (apt-get install ${aptPackage}) !!!\n`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RegisterImage {
  units: Record<
    string,
    {
      /** Only the registers listed exist: a read touching any other gets exception 2. */
      sparse?: boolean;
      hr?: Record<string, number[]>;
      ir?: Record<string, number[]>;
      co?: Record<string, number[]>;
      di?: Record<string, number[]>;
    }
  >;
}

export type RegisterTable = 'hr' | 'ir' | 'co' | 'di';

export class PymodbusServer {
  private output = '';

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** Changes registers while the server runs (a meter's counter moving); resolves once they are set. */
  async set(unit: number, table: RegisterTable, address: number, words: number[]): Promise<void> {
    const before = this.output.split('set ok').length;
    this.child.stdin!.write(`set ${unit} ${table} ${address} ${words.join(',')}\n`);
    const deadline = Date.now() + 5000;
    while (this.output.split('set ok').length === before) {
      if (Date.now() > deadline || this.child.exitCode !== null)
        throw new Error(`pymodbus did not set unit ${unit} ${table} ${address}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Serves the image on a TCP port (default: a free one) or, given a device path, as RTU at 9600 8N1. */
  static async start(image: RegisterImage, where?: number | string): Promise<PymodbusServer> {
    const listenPort = where ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'prepay-pymodbus-'));
    const file = join(dir, 'image.json');
    writeFileSync(file, JSON.stringify(image));
    const child = spawn(PYTHON, [SCRIPT, String(listenPort), file], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pymodbus did not start: ${output}`)), 15_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`pymodbus exited with ${code}: ${output}`));
      });
    });
    return new PymodbusServer(typeof listenPort === 'number' ? listenPort : 0, child);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
    await exited;
  }
}

/**
 * Reads with mbpoll (one shot); returns the numbers it prints for each register. Asynchronous: a server in
 * this process (the simulator) must keep answering while mbpoll waits.
 */
export function mbpoll(args: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'mbpoll',
      ['-m', 'tcp', '-1', '-0', ...args],
      { encoding: 'utf8', timeout: 10_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`mbpoll failed: ${stdout}${stderr}`));
        else resolve([...stdout.matchAll(/^\[\d+\]:\s+(-?[\d.]+)/gm)].map((match) => Number(match[1])));
      },
    );
  });
}

export function haveSocat(): boolean {
  return spawnSync('socat', ['-V']).error === undefined;
}

/** A virtual RS-485 line: two linked pseudo-terminals from socat, `a` for the client and `b` for the server. */
export class PtyPair {
  private constructor(
    readonly a: string,
    readonly b: string,
    private readonly child: ChildProcess,
  ) {}

  static async open(): Promise<PtyPair> {
    const dir = mkdtempSync(join(tmpdir(), 'prepay-rtu-'));
    const a = join(dir, 'client');
    const b = join(dir, 'server');
    const child = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 5000;
    while (!(existsSync(a) && existsSync(b))) {
      if (Date.now() > deadline) throw new Error('socat did not create the pseudo-terminals');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return new PtyPair(a, b, child);
  }

  close(): void {
    this.child.kill();
  }
}
