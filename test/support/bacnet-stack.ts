/**
 * bacnet-stack's command-line tools (an independent C BACnet/IP stack) as the other side of the BACnet tests:
 * bacwi, bacrp, bacge, bacackalarm, bacserv... Found through BACNET_STACK_BIN, else in shared/tools/bacnet-stack/bin
 * beside the repository (or beside any folder above it), or beside the repository a clone was made from. Missing locally, a suite skips loudly; under CI=true
 * that is a failure.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

/** The repository root: this file runs from .build/test/support. */
const ROOT = join(__dirname, '..', '..', '..');

/** `shared/tools/bacnet-stack/bin` in `start` or in any folder above it. */
function above(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const bin = join(dir, 'shared', 'tools', 'bacnet-stack', 'bin');
    if (existsSync(join(bin, 'bacwi'))) return bin;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The folder a clone was made from, when it was cloned from a local repository (as CI clones). */
function localOrigin(): string | undefined {
  try {
    const url = execFileSync('git', ['-C', ROOT, 'config', '--get', 'remote.origin.url'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
    return isAbsolute(path) && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

function locate(): string | undefined {
  const fromEnv = process.env.BACNET_STACK_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'bacwi')) ? fromEnv : undefined;
  const found = above(dirname(ROOT));
  if (found) return found;
  const origin = localOrigin();
  return origin ? above(dirname(origin)) : undefined;
}

export const BACNET_STACK_BIN = locate();

/** Skips the suite locally, fails it in CI, when the tools are not there. */
export function requireBacnetStack(context: Mocha.Context): string {
  if (BACNET_STACK_BIN) return BACNET_STACK_BIN;
  const what = 'bacnet-stack tools (set BACNET_STACK_BIN to their bin folder)';
  if (process.env.CI === 'true') throw new Error(`${what} are required in CI`);
  console.warn(`\n  !!! SKIPPING: ${what} not found !!!\n`);
  context.skip();
}

/**
 * The environment that puts a tool on the loopback network: its own UDP port `ownPort`, its broadcasts to
 * 127.255.255.255 on `devicePort`, short timeouts.
 */
export function loopbackEnv(ownPort: number, devicePort: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BACNET_IFACE: 'lo',
    BACNET_IP_PORT: String(ownPort),
    BACNET_IP_BROADCAST_PORT: String(devicePort),
    BACNET_APDU_TIMEOUT: '1000',
    BACNET_APDU_RETRIES: '0',
  };
}

export interface ToolResult {
  stdout: string;
  stderr: string;
}

/** Runs one tool to its end (exit codes are not reliable: callers parse the output). */
export function runTool(
  tool: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 10_000,
): Promise<ToolResult> {
  const bin = BACNET_STACK_BIN;
  if (!bin) return Promise.reject(new Error('bacnet-stack tools not found'));
  return new Promise((resolve) => {
    execFile(join(bin, tool), args, { env, timeout: timeoutMs }, (_error, stdout, stderr) =>
      resolve({ stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

/** Starts a long-running tool (bacserv); its output is kept. */
export function startTool(
  tool: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; output(): string; stop(): Promise<void> } {
  const bin = BACNET_STACK_BIN;
  if (!bin) throw new Error('bacnet-stack tools not found');
  const child = spawn(join(bin, tool), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    child,
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The device instances in bacwi's table of I-Am answers. */
export function whoIsDevices(stdout: string): number[] {
  const found: number[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^\s+(\d+)\s+[0-9A-F:]+\s/.exec(line);
    if (match) found.push(Number(match[1]));
  }
  return found;
}
