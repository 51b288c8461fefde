/**
 * The package's Modbus simulator (its command-line server) as a separate process on free ports: electricity
 * meters of one profile, 200 to a gateway, for the meter benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** Meters behind each gateway (port) of the simulator. */
export const METERS_PER_GATEWAY = 200;

export interface Simulator {
  child: ChildProcess;
  ports: number[];
}

export async function startSimulator(tenants: number): Promise<Simulator> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'dist', 'nodes', 'simulator', 'cli.js'),
      '--tenants',
      String(tenants),
      '--port',
      '0',
      '--profiles',
      'eastron-sdm630',
      '--electricity-only',
      '--meters-per-gateway',
      String(METERS_PER_GATEWAY),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('simulating'))
        resolve([...out.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])));
    });
    child.once('exit', (code) => reject(new Error(`simulator exited ${code}: ${out}`)));
  });
  return { child, ports };
}
