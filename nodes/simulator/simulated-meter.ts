/**
 * A simulated meter behind a Modbus gateway: its registers are computed from the load model on the clock at
 * the moment they are read, encoded exactly as the profile says the real device encodes them. A meter's
 * supply can be switched by its own relay (a register) or by a channel of a relay module (a coil).
 */
import type { Clock } from '../core/clock';
import type { MeterProfile, ValueDef } from '../core/meter/profile';
import { applyScale, decodeValue, encodeValue } from '../core/meter/registers';
import { EXCEPTION, type ModbusDevice } from './modbus-tcp-server';
import type { RateSource } from './load-model';

/** How many of the load's natural unit (kWh, m³) one unit of a register is. */
const UNIT_FACTORS: Record<string, number> = {
  kWh: 1,
  Wh: 0.001,
  MWh: 1000,
  'ton-hours': 3.516852842,
  'ton-h': 3.516852842,
  m3: 1,
  'm³': 1,
  l: 0.001,
  L: 0.001,
  litres: 0.001,
};

export interface Switchable {
  /** True when the supply is connected. */
  readonly on: boolean;
}

/** A relay that can be made to refuse to switch (welded contacts), for testing read-back alarms. */
export class SimRelay implements Switchable {
  on = true;
  stuck = false;
  switches = 0;
  /** Told just before the relay switches (a meter settles what flowed until then). */
  private readonly listeners: Array<() => void> = [];

  onBeforeSwitch(listener: () => void): void {
    this.listeners.push(listener);
  }

  set(on: boolean): void {
    if (this.stuck || on === this.on) return;
    for (const listener of this.listeners) listener();
    this.on = on;
    this.switches += 1;
  }
}

/** Where a meter's register stands, to continue after a restart or a kill (see SimulatedMeter.snapshot). */
export interface MeterCheckpoint {
  /** The minute (epoch minutes) being accumulated. */
  minute: number;
  /** Consumption of every whole minute before it. */
  total: number;
  /** This minute's consumption up to `since`, and since when the supply has been as it is. */
  partial: number;
  since: number;
  /** The meter's own relay, if it has one. */
  relayOn?: boolean;
  /** A power limit in force (W). */
  limitW?: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

export class SimulatedMeter implements ModbusDevice {
  /**
   * Consumption in the load's natural unit (kWh or m³), accumulated a whole minute at a time, in order, and the
   * current minute's part so far. The same minutes always add up to the same total, to the last bit, however
   * often the meter was read: a simulator restarted from a checkpoint shows exactly the registers it would have
   * shown had it run on, so a meter never seems to go backwards after a restart or a kill.
   */
  private total: number;
  private minute: number;
  private partial = 0;
  private since: number;
  /** Set when the meter has its own relay (profile.relay); otherwise the supply follows `supply`. */
  readonly relay: SimRelay | undefined;
  /**
   * A power limit in force (W), as a limiting relay or breaker holds one: the load draws at most this while
   * its supply is on. Undefined: no limit.
   */
  private limitW: number | undefined;
  /** Refuse reads that span registers the profile does not define (exception 2), as some meters do. */
  strictAddresses = false;
  /**
   * A partial device (another variant or firmware than the profile describes): it serves the billed counter only
   * and refuses any read that touches another value's registers with exception 2.
   */
  partialDevice = false;
  /** Told of every read of the counter, with the value a reader decodes from the registers it was sent. */
  onCounterRead: ((meterId: string, at: number, value: number) => void) | undefined;

  constructor(
    readonly meterId: string,
    readonly profile: MeterProfile,
    readonly load: RateSource,
    private readonly clock: Clock,
    startTotal: number,
    private supply: Switchable | undefined,
  ) {
    this.total = startTotal;
    this.since = clock.now();
    this.minute = Math.floor(this.since / MINUTE);
    if (profile.relay && profile.counter) this.relay = new SimRelay();
    this.relay?.onBeforeSwitch(() => this.settle());
    if (supply instanceof SimRelay) supply.onBeforeSwitch(() => this.settle());
  }

  /** Where the register stands now (accumulated up to the clock). */
  snapshot(): MeterCheckpoint {
    this.advance();
    const checkpoint: MeterCheckpoint = {
      minute: this.minute,
      total: this.total,
      partial: this.partial,
      since: this.since,
    };
    if (this.relay) checkpoint.relayOn = this.relay.on;
    if (this.limitW !== undefined) checkpoint.limitW = this.limitW;
    return checkpoint;
  }

  /** Continues from a checkpoint: the time since it is accumulated as if the meter had run on. */
  restore(checkpoint: MeterCheckpoint): void {
    this.minute = checkpoint.minute;
    this.total = checkpoint.total;
    this.partial = checkpoint.partial;
    this.since = checkpoint.since;
    if (this.relay && checkpoint.relayOn !== undefined) this.relay.on = checkpoint.relayOn;
    this.limitW = checkpoint.limitW;
    this.advance();
  }

  attachSupply(supply: Switchable): void {
    this.settle();
    this.supply = supply;
    if (supply instanceof SimRelay) supply.onBeforeSwitch(() => this.settle());
  }

  /** The power limit in force, W (undefined: none). */
  get powerLimitW(): number | undefined {
    return this.limitW;
  }

  /**
   * Limits the load to `watts` (null lifts the limit). A limit is never a cut: it must be above 0 W. What flowed
   * until now counts at the old limit; the new one holds from now.
   */
  setPowerLimit(watts: number | null): void {
    if (watts !== null && !(watts > 0 && Number.isFinite(watts)))
      throw new RangeError(`power limit must be above 0 W (got ${watts})`);
    this.settle();
    this.limitW = watts ?? undefined;
  }

  /** Demand at t as the load draws it: its own rate, held under the power limit. */
  demandAt(t: number): number {
    const rate = this.load.rate(t);
    return this.limitW === undefined ? rate : Math.min(rate, this.limitW / 1000);
  }

  /** Consumption so far in the load's natural unit (kWh, m³), before the register's unit and rollover. */
  consumed(): number {
    return this.totalNow();
  }

  /** The relay that switches this meter's supply: its own, or a relay-module channel. */
  get supplySwitch(): Switchable | undefined {
    return this.relay ?? this.supply;
  }

  get supplyOn(): boolean {
    return (this.relay ?? this.supply)?.on ?? true;
  }

  /** The counter in the profile's unit, as the meter would show it now. */
  counterValue(): number {
    this.advance();
    const counter = this.profile.counter;
    if (!counter) return 0;
    return this.scaledCounter(counter);
  }

  /** Registers exactly as the device would answer. */
  readRegisters(fn: 3 | 4, address: number, length: number): number[] | number {
    this.advance();
    const words = new Array<number>(length).fill(0);
    const covered = new Array<boolean>(length).fill(false);
    for (const value of this.profile.values) {
      if (value.function !== fn) continue;
      const start = value.address - address;
      if (start + value.length <= 0 || start >= length) continue;
      if (this.partialDevice && value !== this.profile.counter) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
      const encoded = encodeValue(this.rawOf(value), value);
      if (value === this.profile.counter && this.onCounterRead)
        this.onCounterRead(this.meterId, this.clock.now(), decodeShown(encoded, value));
      for (let i = 0; i < encoded.length; i += 1) {
        if (start + i >= 0 && start + i < length) {
          words[start + i] = encoded[i]!;
          covered[start + i] = true;
        }
      }
    }
    const relay = this.profile.relay;
    if (relay?.read && relay.read.function === fn && this.relay) {
      const index = relay.read.address - address;
      if (index >= 0 && index < length) {
        words[index] = this.relay.on ? relay.read.on : relay.read.off;
        covered[index] = true;
      }
    }
    if (!covered.some(Boolean)) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    if (this.strictAddresses && covered.some((isCovered) => !isCovered))
      return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    return words;
  }

  readBits(fn: 1 | 2, address: number, length: number): number[] | number {
    const relay = this.profile.relay;
    if (!relay?.read || relay.read.function !== fn || !this.relay) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    if (address !== relay.read.address || length !== 1) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    return [this.relay.on ? 1 : 0];
  }

  writeRegisters(address: number, values: number[]): number | void {
    const write = this.profile.relay?.write;
    if (!write || !this.relay || (write.function !== 6 && write.function !== 16) || address !== write.address)
      return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    const value = values[0];
    if (value !== write.on && value !== write.off) return EXCEPTION.ILLEGAL_DATA_VALUE;
    this.advance();
    this.relay.set(value === write.on);
  }

  writeCoils(address: number, values: number[]): number | void {
    const write = this.profile.relay?.write;
    if (!write || !this.relay || (write.function !== 5 && write.function !== 15) || address !== write.address)
      return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    this.advance();
    this.relay.set(values[0] === write.on);
  }

  /** Accumulates every whole minute up to now, in order (nothing flows while the supply is off). */
  private advance(): void {
    const now = this.clock.now();
    const current = Math.floor(now / MINUTE);
    while (this.minute < current) {
      const end = (this.minute + 1) * MINUTE;
      this.total += this.partial + this.flow(this.minute, end - this.since);
      this.partial = 0;
      this.minute += 1;
      this.since = end;
    }
  }

  /**
   * Just before the supply switches (or the load changes): what flowed in this minute until now counts at the
   * old state.
   */
  settle(): void {
    this.advance();
    const now = this.clock.now();
    if (now <= this.since) return;
    this.partial += this.flow(this.minute, now - this.since);
    this.since = now;
  }

  /** Consumption up to now: the whole minutes, and this minute's part (computed, never stored by a read). */
  private totalNow(): number {
    this.advance();
    return this.total + this.partial + this.flow(this.minute, this.clock.now() - this.since);
  }

  /** What flows in `ms` of minute `minute` at the present supply state. */
  private flow(minute: number, ms: number): number {
    if (!this.supplyOn || ms <= 0) return 0;
    return this.demandAt(minute * MINUTE) * (ms / HOUR);
  }

  private scaledCounter(value: ValueDef): number {
    const factor = UNIT_FACTORS[value.unit] ?? 1;
    let shown = this.totalNow() / factor;
    if (value.rolloverAt !== undefined) shown %= value.rolloverAt;
    return shown;
  }

  /** The raw register number for a value (before the profile's scale is applied by a reader). */
  private rawOf(value: ValueDef): number {
    const raw = this.engineeringValue(value) / value.scale;
    if (value.type === 'float32' || value.type === 'float64') return raw;
    // Integer counters show whole counts: floor, so the register never runs ahead of the energy.
    return Math.floor(raw + 1e-9);
  }

  private engineeringValue(value: ValueDef): number {
    const name = value.name.toLowerCase();
    const rate = this.supplyOn ? this.demandAt(this.clock.now()) : 0;
    if (value === this.profile.counter) return this.scaledCounter(value);
    if (/export|reverse|negative/.test(name)) return 0;
    if (/energy|count|total(?!power)/.test(name) && !/power/.test(name)) return this.scaledCounter(value);
    if (/factor|pf/.test(name)) return rate > 0 ? 0.95 : 1;
    if (/freq/.test(name)) return 50;
    if (/volt/.test(name)) return this.supplyOn ? 230 : 0;
    if (/current|amp/.test(name)) {
      const phases = this.profile.values.some((v) => /l3/i.test(v.name)) ? 3 : 1;
      return (rate * 1000 * 0.95) / 230 / phases / 0.95;
    }
    if (/power|demand/.test(name)) {
      const phases = /l[123]$/.test(name) ? 3 : 1;
      const kw = rate / phases;
      if (value.unit === 'W') return kw * 1000;
      return kw;
    }
    if (/flow/.test(name)) return rate;
    if (/supply/.test(name)) return 7;
    if (/return/.test(name)) return 12;
    return 0;
  }
}

/** A relay-output module: N coils, each switching one tenant's supply. */
export class SimulatedRelayModule implements ModbusDevice {
  readonly channels: SimRelay[];

  constructor(
    readonly profile: MeterProfile,
    channelCount: number,
  ) {
    this.channels = Array.from({ length: channelCount }, () => new SimRelay());
  }

  readRegisters(): number {
    return EXCEPTION.ILLEGAL_FUNCTION;
  }

  readBits(fn: 1 | 2, address: number, length: number): number[] | number {
    const read = this.profile.relay?.read;
    const base = read?.address ?? 0;
    if (read && fn !== read.function) return EXCEPTION.ILLEGAL_FUNCTION;
    if (address < base || address + length > base + this.channels.length)
      return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    return this.channels.slice(address - base, address - base + length).map((relay) => (relay.on ? 1 : 0));
  }

  writeRegisters(): number {
    return EXCEPTION.ILLEGAL_FUNCTION;
  }

  writeCoils(address: number, values: number[]): number | void {
    const write = this.profile.relay?.write;
    const base = write?.address ?? 0;
    if (address < base || address + values.length > base + this.channels.length)
      return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    values.forEach((value, i) => this.channels[address - base + i]!.set(value === (write?.on ?? 1)));
  }
}

/** The value a reader shows for a counter's registers (decoded and scaled as the profile says). */
function decodeShown(words: number[], value: ValueDef): number {
  return applyScale(decodeValue(words, 0, value), value.scale);
}
