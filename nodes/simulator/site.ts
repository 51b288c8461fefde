/**
 * A simulated building: N tenant meters of the built-in profiles behind one or more Modbus TCP gateways,
 * with relay-output modules for the meters that have no relay of their own, all on one clock (fast when
 * asked). It also writes the matching meter table, so the reader can be pointed at it in one step.
 */
import type { Clock } from '../core/clock';
import type { MeterRow } from '../core/meter/meter-table';
import type { MeterProfile } from '../core/meter/profile';
import type { Utility } from '../core/messages';
import { HvacPlant, UnitHvac } from './hvac-model';
import {
  hashSeed,
  LoadModel,
  seededRandom,
  TENANT_KINDS,
  type RateSource,
  type TenantKind,
} from './load-model';
import { ModbusTcpServer, type ModbusDevice } from './modbus-tcp-server';
import { SimRelay, SimulatedMeter, SimulatedRelayModule, type MeterCheckpoint } from './simulated-meter';

/** A site's registers and relays, to continue after a restart (see SimulatedSite.checkpoint). */
export interface SiteCheckpoint {
  version: 1;
  /** Building time it was taken. */
  at: number;
  meters: Record<string, MeterCheckpoint>;
  /** Relay modules by "gateway:unit": each channel on or off. */
  modules: Record<string, boolean[]>;
}

export interface SimMeterSpec {
  meterId: string;
  accountId: string;
  gateway: number;
  unitId: number;
  profile: string;
  utility: Utility;
  kind: TenantKind;
  /** Peak demand: kW for electricity and cooling, m³/h for water and gas. */
  peak: number;
  /** Register value at the start (a meter is rarely new). */
  start: number;
  /** `builtin`, or a relay module's unit id and channel. */
  relay?: 'builtin' | { unitId: number; channel: number };
  /** The meter measures the central cooling plant (see HvacPlant) instead of a tenant's load. */
  load?: 'hvac-plant';
}

export interface SiteOptions {
  /** Tenant units (each gets an electricity meter; by default every third also water, every tenth cooling). */
  tenants: number;
  /** Every how many tenants has a water meter (1: all; default 3). */
  waterEvery?: number;
  /** Every how many tenants has a cooling (BTU) meter (default 10). */
  coolingEvery?: number;
  /** Restaurants get a gas meter (a pulse counter; default false). */
  gasForRestaurants?: boolean;
  gasProfile?: string;
  metersPerGateway?: number;
  seed?: number;
  timeZone?: string;
  /** Electricity profiles used in rotation. */
  electricityProfiles?: string[];
  waterProfile?: string;
  coolingProfile?: string;
  relayModuleProfile?: string;
  /** Add water and cooling meters (default true). */
  otherUtilities?: boolean;
  /**
   * A central cooling plant that answers BEMS setpoints (zone, chilled water, fan speed): its electricity meter
   * E-PLANT and chilled-water BTU meter C-PLANT, on the common account COMMON, after every tenant's meters
   * (default false).
   */
  hvacPlant?: boolean;
}

/** The account the plant's meters are on: the landlord's common area. */
export const PLANT_ACCOUNT = 'COMMON';

const DEFAULT_ELECTRICITY = [
  'eastron-sdm630',
  'eastron-sdm120',
  'carlo-gavazzi-em340',
  'schneider-iem3000',
  'hiking-dds238-2',
  'eastron-sdm72',
];

/** The meter specs of a site; deterministic for a seed. */
export function planSite(options: SiteOptions, profiles: ReadonlyMap<string, MeterProfile>): SimMeterSpec[] {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  // 210 meters plus at most 27 eight-channel relay modules stay within the 247 unit ids of one gateway.
  const perGateway = Math.min(options.metersPerGateway ?? 200, 210);
  const electricity = (options.electricityProfiles ?? DEFAULT_ELECTRICITY).filter((id) => profiles.has(id));
  if (electricity.length === 0) throw new Error('no electricity profile available for the simulator');
  const relayProfile = profiles.get(options.relayModuleProfile ?? 'relay-module-8ch');
  const channels = relayProfile?.relay?.channels ?? 8;
  const waterEvery = everyN(options.waterEvery, 3, 'waterEvery');
  const coolingEvery = everyN(options.coolingEvery, 10, 'coolingEvery');
  const gasForRestaurants = options.gasForRestaurants === true;
  const specs: SimMeterSpec[] = [];
  const add = (tenant: number, utility: Utility, profile: string, peak: number, start: number): void => {
    const kind = TENANT_KINDS[tenant % TENANT_KINDS.length]!;
    // A tenant's load fits its meter: at most 60% of the profile's plausible maximum rate.
    const limit = profiles.get(profile)?.maxRatePerHour;
    if (limit !== undefined) peak = Math.min(peak, Math.round(limit * 0.6 * 10) / 10);
    const prefix = { electricity: 'E', water: 'W', gas: 'G', cooling: 'C' }[utility];
    specs.push({
      meterId: `${prefix}-T${String(tenant).padStart(4, '0')}`,
      accountId: `T${String(tenant).padStart(4, '0')}`,
      gateway: 0,
      unitId: 0,
      profile,
      utility,
      kind,
      peak,
      start,
    });
  };
  for (let tenant = 1; tenant <= options.tenants; tenant += 1) {
    const kind = TENANT_KINDS[tenant % TENANT_KINDS.length]!;
    const size = kind === 'restaurant' ? 40 : kind === 'shop' ? 20 : 12;
    add(
      tenant,
      'electricity',
      electricity[(tenant - 1) % electricity.length]!,
      Math.round(size * (0.6 + random() * 0.8)),
      Math.round(random() * 50_000 * 100) / 100,
    );
    if (options.otherUtilities !== false) {
      if (tenant % waterEvery === 0 && profiles.has(options.waterProfile ?? 'pulse-counter'))
        add(
          tenant,
          'water',
          options.waterProfile ?? 'pulse-counter',
          kind === 'restaurant' ? 1.5 : 0.4,
          Math.round(random() * 2000),
        );
      if (gasForRestaurants && kind === 'restaurant' && profiles.has(options.gasProfile ?? 'pulse-counter'))
        add(tenant, 'gas', options.gasProfile ?? 'pulse-counter', 4, Math.round(random() * 5000));
      if (tenant % coolingEvery === 0 && profiles.has(options.coolingProfile ?? 'onicon-system-10'))
        add(
          tenant,
          'cooling',
          options.coolingProfile ?? 'onicon-system-10',
          size * 1.5,
          Math.round(random() * 20_000),
        );
    }
  }
  // Gateways: meters first, then the relay modules their tenants need, never more than perGateway units.
  let gateway = 0;
  let unit = 0;
  for (const spec of specs) {
    if (unit >= perGateway) {
      gateway += 1;
      unit = 0;
    }
    unit += 1;
    spec.gateway = gateway;
    spec.unitId = unit;
  }
  // Relays: meters whose profile has a relay use it; the others get a relay-module channel (electricity
  // only: water is never disconnected by default, cooling is valved by the plant).
  const perGatewayMax = new Map<number, number>();
  for (const spec of specs)
    perGatewayMax.set(spec.gateway, Math.max(perGatewayMax.get(spec.gateway) ?? 0, spec.unitId));
  let currentGateway = -1;
  let moduleUnit = 0;
  let moduleChannel = channels;
  for (const spec of specs) {
    if (spec.utility !== 'electricity') continue;
    if (profiles.get(spec.profile)?.relay) {
      spec.relay = 'builtin';
      continue;
    }
    if (!relayProfile) continue;
    if (spec.gateway !== currentGateway) {
      currentGateway = spec.gateway;
      moduleUnit = perGatewayMax.get(spec.gateway)!;
      moduleChannel = channels;
    }
    if (moduleChannel >= channels) {
      moduleUnit += 1;
      moduleChannel = 0;
    }
    moduleChannel += 1;
    spec.relay = { unitId: moduleUnit, channel: moduleChannel };
  }
  if (options.hvacPlant) {
    // The plant's meters come after every tenant meter and relay module, so the tenants' units stay where they were.
    const gatewayOf = specs.length > 0 ? specs[specs.length - 1]!.gateway : 0;
    let plantUnit = Math.max(
      0,
      ...specs.filter((spec) => spec.gateway === gatewayOf).map((spec) => spec.unitId),
      ...specs
        .filter((spec) => spec.gateway === gatewayOf && typeof spec.relay === 'object')
        .map((spec) => (spec.relay as { unitId: number }).unitId),
    );
    const base = {
      accountId: PLANT_ACCOUNT,
      gateway: gatewayOf,
      kind: 'office' as const,
      load: 'hvac-plant' as const,
    };
    specs.push({
      ...base,
      unitId: (plantUnit += 1),
      meterId: 'E-PLANT',
      profile: electricity[0]!,
      utility: 'electricity',
      peak: 60,
      start: Math.round(random() * 500_000),
    });
    if (profiles.has(options.coolingProfile ?? 'onicon-system-10'))
      specs.push({
        ...base,
        unitId: (plantUnit += 1),
        meterId: 'C-PLANT',
        profile: options.coolingProfile ?? 'onicon-system-10',
        utility: 'cooling',
        peak: 150,
        start: Math.round(random() * 200_000),
      });
  }
  return specs;
}

function everyN(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${field} must be a whole number of at least 1`);
  return value;
}

export function siteMeterTable(specs: readonly SimMeterSpec[], gateway?: number): MeterRow[] {
  return specs
    .filter((spec) => gateway === undefined || spec.gateway === gateway)
    .map((spec) => {
      const row: MeterRow = {
        meterId: spec.meterId,
        unitId: spec.unitId,
        profile: spec.profile,
        utility: spec.utility,
        accountId: spec.accountId,
      };
      if (spec.relay === 'builtin') row.relay = { kind: 'builtin' };
      else if (spec.relay)
        row.relay = { kind: 'module', unitId: spec.relay.unitId, channel: spec.relay.channel };
      return row;
    });
}

export class SimulatedSite {
  readonly meters = new Map<string, SimulatedMeter>();
  readonly servers: ModbusTcpServer[] = [];
  /** Per gateway: unit id -> device. */
  private readonly devices: Map<number, ModbusDevice>[] = [];
  readonly relayModules: SimulatedRelayModule[] = [];
  /** The central cooling plant, when the site has one (SiteOptions.hvacPlant). */
  readonly hvac: HvacPlant | undefined;
  /** Each tenant unit's air conditioning, part of its electricity load, by account (BEMS-commandable). */
  readonly units = new Map<string, UnitHvac>();

  constructor(
    readonly specs: SimMeterSpec[],
    profiles: ReadonlyMap<string, MeterProfile>,
    private readonly clock: Clock,
    options: { timeZone?: string; host?: string; ports?: number[]; relayModuleProfile?: string } = {},
  ) {
    const gateways = Math.max(0, ...specs.map((spec) => spec.gateway)) + 1;
    for (let g = 0; g < gateways; g += 1) {
      const units = new Map<number, ModbusDevice>();
      this.devices.push(units);
      const serverOptions: ConstructorParameters<typeof ModbusTcpServer>[0] = {
        device: (unitId) => units.get(unitId),
      };
      if (options.host) serverOptions.host = options.host;
      const port = options.ports?.[g];
      if (port !== undefined) serverOptions.port = port;
      this.servers.push(new ModbusTcpServer(serverOptions));
    }
    const relayProfile = profiles.get(options.relayModuleProfile ?? 'relay-module-8ch');
    this.hvac = specs.some((spec) => spec.load === 'hvac-plant')
      ? new HvacPlant({ timeZone: options.timeZone ?? 'UTC', seed: hashSeed('PLANT') })
      : undefined;
    for (const spec of specs) {
      const profile = profiles.get(spec.profile);
      if (!profile) throw new Error(`simulator: unknown profile "${spec.profile}" for ${spec.meterId}`);
      let load: RateSource;
      if (spec.load === 'hvac-plant' && this.hvac)
        load = spec.utility === 'cooling' ? this.hvac.cooling : this.hvac;
      else
        load = new LoadModel(
          { kind: spec.kind, utility: spec.utility, peak: spec.peak, seed: hashSeed(spec.meterId) },
          options.timeZone ?? 'UTC',
        );
      // A tenant unit's electricity includes its air conditioning, which the BEMS's commands change.
      let unit: UnitHvac | undefined;
      if (spec.utility === 'electricity' && spec.load !== 'hvac-plant' && !this.units.has(spec.accountId)) {
        unit = new UnitHvac(load);
        this.units.set(spec.accountId, unit);
        load = unit;
      }
      const meter = new SimulatedMeter(spec.meterId, profile, load, clock, spec.start, undefined);
      if (unit) unit.beforeChange = () => meter.settle();
      this.meters.set(spec.meterId, meter);
      this.devices[spec.gateway]!.set(spec.unitId, meter);
      if (spec.relay && spec.relay !== 'builtin' && relayProfile) {
        let module = this.devices[spec.gateway]!.get(spec.relay.unitId);
        if (!(module instanceof SimulatedRelayModule)) {
          module = new SimulatedRelayModule(relayProfile, relayProfile.relay?.channels ?? 8);
          this.devices[spec.gateway]!.set(spec.relay.unitId, module);
          this.relayModules.push(module as SimulatedRelayModule);
        }
        meter.attachSupply((module as SimulatedRelayModule).channels[spec.relay.channel - 1]!);
      }
    }
  }

  get now(): number {
    return this.clock.now();
  }

  /** Every register and relay as it stands: what a restart continues from. */
  checkpoint(): SiteCheckpoint {
    const meters: Record<string, MeterCheckpoint> = {};
    for (const [meterId, meter] of this.meters) meters[meterId] = meter.snapshot();
    const modules: Record<string, boolean[]> = {};
    this.devices.forEach((units, gateway) => {
      for (const [unitId, device] of units)
        if (device instanceof SimulatedRelayModule)
          modules[`${gateway}:${unitId}`] = device.channels.map((relay) => relay.on);
    });
    return { version: 1, at: this.clock.now(), meters, modules };
  }

  /**
   * Continues from a checkpoint, as real meters do after the building's computer restarts: relays as they
   * were, and every register as if the site had run on since (meters of the checkpoint not on this site, and
   * this site's meters not in it, are left as they are).
   */
  restore(checkpoint: SiteCheckpoint): void {
    for (const [key, channels] of Object.entries(checkpoint.modules)) {
      const [gateway, unitId] = key.split(':').map(Number) as [number, number];
      const module = this.devices[gateway]?.get(unitId);
      if (module instanceof SimulatedRelayModule)
        channels.forEach((on, i) => {
          const relay = module.channels[i];
          if (relay) relay.on = on;
        });
    }
    for (const [meterId, saved] of Object.entries(checkpoint.meters))
      this.meters.get(meterId)?.restore(saved);
  }

  /** The device behind a gateway's unit id. */
  device(gateway: number, unitId: number): ModbusDevice | undefined {
    return this.devices[gateway]?.get(unitId);
  }

  /**
   * Carries out a relay command as an output-mode actuator would (prepay-cutoff's relay command: connect,
   * disconnect, or limit to `limitW`, which keeps the supply on): the meter's supply switches and its load
   * honours the limit. Connect and disconnect lift a limit.
   */
  applyRelayCommand(command: { meterId: string; action: string; limitW?: number }): void {
    const meter = this.meter(command.meterId);
    // Only a relay the meter table lists is driven (the plant's meter has a relay in its profile, unwired).
    const wired = this.specs.find((spec) => spec.meterId === command.meterId)?.relay !== undefined;
    const switchable = meter.supplySwitch;
    const supply = wired && switchable instanceof SimRelay ? switchable : undefined;
    switch (command.action) {
      case 'limit':
        if (command.limitW === undefined) throw new Error('limitW: is required to limit');
        meter.setPowerLimit(command.limitW);
        supply?.set(true);
        break;
      case 'connect':
        meter.setPowerLimit(null);
        supply?.set(true);
        break;
      case 'disconnect':
        if (!supply) throw new Error(`meter ${command.meterId} has no relay to disconnect`);
        meter.setPowerLimit(null);
        supply.set(false);
        break;
      default:
        throw new Error('action: must be connect, disconnect or limit');
    }
  }

  /** Calls `listener` whenever any relay of the site switches (a checkpoint worth taking soon). */
  onRelaySwitch(listener: () => void): void {
    for (const meter of this.meters.values()) meter.relay?.onBeforeSwitch(() => setImmediate(listener));
    for (const module of this.relayModules)
      for (const relay of module.channels) relay.onBeforeSwitch(() => setImmediate(listener));
  }

  /** Every gateway starts listening at once, in this tick, so readers deployed beside it find them up. */
  start(): Promise<number[]> {
    return Promise.all(this.servers.map((server) => server.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }

  meter(meterId: string): SimulatedMeter {
    const meter = this.meters.get(meterId);
    if (!meter) throw new Error(`simulator: no meter ${meterId}`);
    return meter;
  }

  server(gateway = 0): ModbusTcpServer {
    return this.servers[gateway]!;
  }
}
