/**
 * bacnet-stack's `bacserv` as the BEMS controller of the load-control tests (commandable analog, binary and
 * multi-state outputs with priority arrays, instance 1 of each), read and written independently with `bacrp`
 * and `bacwp` as a BEMS operator's workstation would.
 */
import { freeUdpPort, sleep } from '../bacnet/support';
import { loopbackEnv, requireBacnetStack, runTool, startTool } from '../support/bacnet-stack';

export const AO = 1; // analog-output: a setpoint
export const BO = 4; // binary-output: an occupancy command
export const MSO = 14; // multi-state-output: an occupancy mode

const NAMES: Record<number, string> = {
  [AO]: 'analog-output',
  [BO]: 'binary-output',
  [MSO]: 'multi-state-output',
};

export interface Bems {
  device: number;
  port: number;
  address: string;
  /** The 16 slots of the object's priority array as bacrp prints them, null for Null. */
  priorityArray(objectType: number, instance?: number): Promise<Array<string | null>>;
  presentValue(objectType: number, instance?: number): Promise<string>;
  /** A BEMS operator's write (tag: 4 REAL, 9 ENUMERATED, 2 UNSIGNED, 0 NULL). */
  operatorWrite(
    objectType: number,
    priority: number,
    tag: number,
    value: string,
    instance?: number,
  ): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

export async function startBems(
  device = 2000 + Math.floor(Math.random() * 1000),
  port?: number,
): Promise<Bems> {
  const bemsPort = port ?? (await freeUdpPort());
  const server = startTool('bacserv', [String(device)], {
    ...loopbackEnv(bemsPort, bemsPort),
  });
  const tool = async (name: string, args: string[]): Promise<string> => {
    const own = await freeUdpPort();
    const result = await runTool(
      name,
      ['--mac', `127.0.0.1:${bemsPort}`, '--dnet', '0', String(device), ...args],
      loopbackEnv(own, bemsPort),
    );
    const out = result.stdout + result.stderr;
    if (/BACnet (Error|Reject|Abort)|APDU Timeout|timeout/i.test(out))
      throw new Error(`${name} ${args.join(' ')}: ${out.trim()}`);
    return out.trim();
  };
  const bems: Bems = {
    device,
    port: bemsPort,
    address: `127.0.0.1:${bemsPort}`,
    async priorityArray(objectType, instance = 1) {
      const out = await tool('bacrp', [NAMES[objectType]!, String(instance), 'priority-array']);
      const inner = /\{(.*)\}/.exec(out)?.[1];
      if (inner === undefined) throw new Error(`not a priority array: ${out}`);
      return inner.split(',').map((v) => (v === 'Null' ? null : v));
    },
    presentValue: (objectType, instance = 1) =>
      tool('bacrp', [NAMES[objectType]!, String(instance), 'present-value']),
    async operatorWrite(objectType, priority, tag, value, instance = 1) {
      const out = await tool('bacwp', [
        NAMES[objectType]!,
        String(instance),
        'present-value',
        String(priority),
        '-1',
        String(tag),
        value,
      ]);
      if (!/Acknowledged/.test(out)) throw new Error(`bacwp: ${out}`);
    },
    stop: () => server.stop(),
    output: () => server.output(),
  };
  // Up when it answers.
  for (let i = 0; i < 50; i++) {
    try {
      await bems.presentValue(AO);
      return bems;
    } catch {
      await sleep(100);
    }
  }
  await server.stop();
  throw new Error(`bacserv did not come up: ${server.output()}`);
}

/**
 * `bacserv` as the BEMS of a whole suite: started before its tests (which are skipped without bacnet-stack's
 * tools), handed to `use`, and stopped after them.
 */
export function bemsForSuite(use: (bems: Bems) => void): void {
  let bems: Bems | undefined;
  before(async function () {
    requireBacnetStack(this);
    bems = await startBems();
    use(bems);
  });
  after(async () => bems?.stop());
}

/** Polls `check` until it passes or `ms` runs out (then its last failure is thrown). */
export async function eventually(check: () => Promise<void>, ms: number, every = 200): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(every);
    }
  }
}

/**
 * The prepay-bacnet-client config node (id `bems`) the load-control flows use to reach this BEMS: bound to the
 * loopback on a free port, short timeouts, an hour's lease; `fields` changes any of it.
 */
export function bemsClientConfig(
  bems: Pick<Bems, 'device' | 'address'>,
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'bems',
    type: 'prepay-bacnet-client',
    device: String(bems.device),
    address: bems.address,
    bindAddress: '127.0.0.1',
    port: '0',
    apduTimeout: '500',
    retries: '1',
    lease: '3600',
    ...fields,
  };
}
