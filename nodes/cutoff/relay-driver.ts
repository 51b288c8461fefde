/**
 * Drives relays through a shared Modbus link: write the command, read the relay back, retry a relay that did
 * not follow, and report whether it was confirmed. Where a relay sits comes from the meter table: the meter's
 * own relay (its profile's relay registers) or a channel of a relay-output module (coils).
 */
import type { MeterRow } from '../core/meter/meter-table';
import type { MeterProfile, RelayDef } from '../core/meter/profile';
import type { ModbusLink } from '../modbus/modbus-link';

export interface RelayTarget {
  unitId: number;
  write: RelayDef['write'];
  read?: RelayDef['read'];
  /** "unit 12 register 26" or "unit 20 coil 2": for messages. */
  label: string;
}

/** Where the relay of a meter row is, or undefined when the row has none. */
export function relayTarget(
  row: MeterRow,
  profiles: ReadonlyMap<string, MeterProfile>,
  moduleProfile: string,
): RelayTarget | undefined {
  if (!row.relay) return undefined;
  if (row.relay.kind === 'builtin') {
    const relay = profiles.get(row.profile)?.relay;
    if (!relay) return undefined;
    return {
      unitId: row.unitId,
      write: relay.write,
      ...(relay.read ? { read: relay.read } : {}),
      label: `unit ${row.unitId} ${describe(relay.write)}`,
    };
  }
  const module = profiles.get(moduleProfile)?.relay;
  if (!module) throw new Error(`relay module profile "${moduleProfile}" has no relay`);
  const channel = row.relay.channel ?? 1;
  if (channel > module.channels)
    throw new Error(`meter ${row.meterId}: channel ${channel} is above the module's ${module.channels}`);
  const offset = channel - 1;
  const write = { ...module.write, address: module.write.address + offset };
  const read = module.read ? { ...module.read, address: module.read.address + offset } : undefined;
  const unitId = row.relay.unitId ?? row.unitId;
  return {
    unitId,
    write,
    ...(read ? { read } : {}),
    label: `unit ${unitId} ${describe(write)} (channel ${channel})`,
  };
}

function describe(write: RelayDef['write']): string {
  return write.function === 5 || write.function === 15
    ? `coil ${write.address}`
    : `register ${write.address}`;
}

export interface ActuationResult {
  confirmed: boolean;
  /** What the read-back showed (undefined: the relay cannot be read back, or every read failed). */
  sensed?: boolean;
  attempts: number;
  error?: string;
}

export class RelayDriver {
  constructor(
    private readonly link: ModbusLink,
    private readonly options: { attempts: number; retryDelayMs: number } = { attempts: 3, retryDelayMs: 500 },
  ) {}

  /** Switches the relay on (supply connected) or off, and confirms by reading it back. */
  async actuate(target: RelayTarget, on: boolean): Promise<ActuationResult> {
    let lastError: string | undefined;
    let sensed: boolean | undefined;
    for (let attempt = 1; attempt <= this.options.attempts; attempt += 1) {
      try {
        const value = on ? target.write.on : target.write.off;
        await this.link.write(target.unitId, target.write.function, target.write.address, [value]);
        if (!target.read) return { confirmed: true, attempts: attempt };
        sensed = await this.sense(target);
        if (sensed === on) return { confirmed: true, sensed, attempts: attempt };
        lastError = `read back ${sensed ? 'on' : 'off'} after commanding ${on ? 'on' : 'off'}`;
      } catch (error) {
        lastError = (error as Error).message;
      }
      if (attempt < this.options.attempts)
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs));
    }
    const result: ActuationResult = { confirmed: false, attempts: this.options.attempts };
    if (sensed !== undefined) result.sensed = sensed;
    if (lastError) result.error = lastError;
    return result;
  }

  /** The relay's state now: true when the supply is connected. */
  async sense(target: RelayTarget): Promise<boolean> {
    const read = target.read;
    if (!read) throw new Error(`relay at ${target.label} cannot be read back`);
    const [word] = await this.link.readNow(target.unitId, read.function, read.address, 1);
    return word === read.on;
  }
}
