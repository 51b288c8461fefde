/**
 * A building's central cooling that answers BEMS setpoints, for showing and testing load control on the
 * simulator. One zone of thermal mass, a chiller and an air-handling fan, stepped a minute at a time:
 *
 * - The heat the zone gains follows office hours (the cooling load shape) and shrinks as the zone runs warmer:
 *   `gain = base(t) * (1 - sensitivity * (zone - nominalZone))`, 8% per degree by default.
 * - The chiller delivers `cooling = gain + (zone - setpoint) * capacity / recovery`, between 0 and what the
 *   chiller and the air the fan moves can carry; the zone warms by `(gain - cooling) / capacity` per hour.
 *   At a steady setpoint cooling equals the gain; raising the setpoint lets the zone coast up (cooling drops,
 *   at first to nothing) and settles lower; restoring it pulls the stored heat back out: the rebound.
 * - Electricity is `cooling / COP + fan`. The COP improves 3% per degree of warmer chilled water; fan power
 *   follows the cube of its speed (the fan laws), and a slower fan also caps how much cooling reaches the zone.
 *
 * A setpoint written now applies from the first minute not yet computed (the meter integrates whole minutes).
 * The state is not part of a site checkpoint: after a restart the zone starts at its setpoint again.
 */
import { LoadModel, type RateSource } from './load-model';

export interface HvacPlantOptions {
  /** Cooling the chiller delivers at the design peak, kW thermal (default 150). */
  peakCoolingKw?: number;
  /** Chiller COP at the nominal chilled-water temperature (default 3.5). */
  cop?: number;
  /** COP gain per degree of warmer chilled water (default 0.03). */
  copPerDegree?: number;
  nominalChilledWater?: number;
  /** Supply fan power at full speed, kW (default 15). */
  fanKw?: number;
  nominalZone?: number;
  /** Share of the heat gain that goes per degree warmer zone (default 0.08). */
  sensitivity?: number;
  /** Zone thermal capacity, kWh thermal per degree (default 40). */
  capacityKwhPerDegree?: number;
  /** How fast the chiller pulls the zone back to its setpoint, minutes (default 30). */
  recoveryMinutes?: number;
  seed?: number;
  timeZone?: string;
}

const MINUTE = 60_000;
const KEEP_MINUTES = 2 * 24 * 60;

interface Minute {
  electricKw: number;
  coolingKw: number;
  zone: number;
}

export class HvacPlant implements RateSource {
  private readonly base: LoadModel;
  private readonly o: Required<Omit<HvacPlantOptions, 'seed' | 'timeZone'>>;
  private zoneSetpoint: number;
  private chilledWater: number;
  private fanSpeed = 100;
  private zone: number;
  /** The next minute to compute, and every computed minute kept for a while (epoch minute -> values). */
  private next: number | undefined;
  private readonly minutes = new Map<number, Minute>();
  /** The thermal side, for a cooling (BTU) meter on the chilled-water loop. */
  readonly cooling: RateSource = { rate: (t) => this.at(t).coolingKw };

  constructor(options: HvacPlantOptions = {}) {
    this.o = {
      peakCoolingKw: options.peakCoolingKw ?? 150,
      cop: options.cop ?? 3.5,
      copPerDegree: options.copPerDegree ?? 0.03,
      nominalChilledWater: options.nominalChilledWater ?? 7,
      fanKw: options.fanKw ?? 15,
      nominalZone: options.nominalZone ?? 24,
      sensitivity: options.sensitivity ?? 0.08,
      capacityKwhPerDegree: options.capacityKwhPerDegree ?? 40,
      recoveryMinutes: options.recoveryMinutes ?? 30,
    };
    // The cooling shape peaks at 1.25 times its peak on hot afternoons: scaled so the design peak is the top.
    this.base = new LoadModel(
      { kind: 'office', utility: 'cooling', peak: this.o.peakCoolingKw / 1.25, seed: options.seed ?? 1 },
      options.timeZone ?? 'UTC',
    );
    this.zoneSetpoint = this.o.nominalZone;
    this.chilledWater = this.o.nominalChilledWater;
    this.zone = this.zoneSetpoint;
  }

  /** Zone setpoint, degrees C (null: back to nominal). */
  setZoneSetpoint(value: number | null): void {
    this.zoneSetpoint = value ?? this.o.nominalZone;
  }

  /** Chilled-water supply setpoint, degrees C (null: back to nominal). */
  setChilledWater(value: number | null): void {
    this.chilledWater = value ?? this.o.nominalChilledWater;
  }

  /** Supply fan speed limit, percent (null: full speed). */
  setFanSpeed(percent: number | null): void {
    this.fanSpeed = Math.min(100, Math.max(0, percent ?? 100));
  }

  get settings(): { zoneSetpoint: number; chilledWater: number; fanSpeed: number } {
    return { zoneSetpoint: this.zoneSetpoint, chilledWater: this.chilledWater, fanSpeed: this.fanSpeed };
  }

  /** Electric demand at t, kW. */
  rate(t: number): number {
    return this.at(t).electricKw;
  }

  /** Zone temperature during the minute holding t. */
  zoneAt(t: number): number {
    return this.at(t).zone;
  }

  private at(t: number): Minute {
    const minute = Math.floor(t / MINUTE);
    if (this.next === undefined) this.next = minute;
    while (this.next <= minute) {
      this.minutes.set(this.next, this.step(this.next * MINUTE));
      this.minutes.delete(this.next - KEEP_MINUTES);
      this.next += 1;
    }
    // A minute before the first one computed (or long gone) is taken at steady state.
    return this.minutes.get(minute) ?? this.steady(t);
  }

  /** One minute of the zone and the plant, from the zone's state at its start. */
  private step(t: number): Minute {
    const o = this.o;
    const gainBase = this.base.rate(t);
    const gain = Math.max(0, gainBase * (1 - o.sensitivity * (this.zone - o.nominalZone)));
    const fan = this.fanSpeed / 100;
    const maxCooling = o.peakCoolingKw * 1.2 * fan;
    const pull = ((this.zone - this.zoneSetpoint) * o.capacityKwhPerDegree) / (o.recoveryMinutes / 60);
    const cooling = Math.min(maxCooling, Math.max(0, gain + pull));
    const zone = this.zone;
    this.zone += ((gain - cooling) * (1 / 60)) / o.capacityKwhPerDegree;
    return { electricKw: this.electric(cooling, gainBase), coolingKw: cooling, zone };
  }

  private steady(t: number): Minute {
    const gainBase = this.base.rate(t);
    const cooling = Math.max(
      0,
      gainBase * (1 - this.o.sensitivity * (this.zoneSetpoint - this.o.nominalZone)),
    );
    return { electricKw: this.electric(cooling, gainBase), coolingKw: cooling, zone: this.zoneSetpoint };
  }

  private electric(cooling: number, gainBase: number): number {
    const o = this.o;
    const cop = o.cop * (1 + o.copPerDegree * (this.chilledWater - o.nominalChilledWater));
    // The air handler runs while the building is occupied (the gain is above its night level).
    const occupied = gainBase >= 0.3 * (o.peakCoolingKw / 1.25);
    const fan = occupied ? o.fanKw * (this.fanSpeed / 100) ** 3 : 0;
    return cooling / cop + fan;
  }
}

export interface UnitHvacOptions {
  /** Share of the unit's electricity that is its air conditioning at nominal settings (default 0.4). */
  share?: number;
  nominalZone?: number;
  /** Share of the cooling load that goes per degree warmer zone (default 0.08). */
  sensitivity?: number;
  nominalChilledWater?: number;
  /** Efficiency gain per degree of warmer chilled water (default 0.03). */
  copPerDegree?: number;
  /** Share of the air conditioning that is fan power, following the cube of the fan speed (default 0.25). */
  fanShare?: number;
  /** What the air conditioning draws in each occupancy mode: occupied, unoccupied, standby. */
  modeFactors?: readonly [number, number, number];
}

/**
 * A tenant unit's air conditioning as part of its electricity load, answering the BEMS's commands for the unit
 * (zone setpoint, occupancy mode) and the site's (chilled-water setpoint, air-handler fan speed):
 *
 *   demand = base * (1 - share + share * mode * (1 - sensitivity * (zone - nominal)) * fan / cop)
 *
 * At nominal settings the factor is exactly 1 and the unit draws its load model's demand unchanged. A change
 * applies from the moment it is made: `beforeChange` lets the meter count what flowed until then at the old
 * settings (SimulatedMeter.settle).
 */
export class UnitHvac implements RateSource {
  private readonly o: Required<UnitHvacOptions>;
  private zoneSetpoint: number;
  private mode = 1;
  private chilledWater: number;
  private fanSpeed = 100;
  private factor = 1;
  beforeChange: () => void = () => undefined;

  constructor(
    private readonly base: RateSource,
    options: UnitHvacOptions = {},
  ) {
    this.o = {
      share: options.share ?? 0.4,
      nominalZone: options.nominalZone ?? 24,
      sensitivity: options.sensitivity ?? 0.08,
      nominalChilledWater: options.nominalChilledWater ?? 7,
      copPerDegree: options.copPerDegree ?? 0.03,
      fanShare: options.fanShare ?? 0.25,
      modeFactors: options.modeFactors ?? [1, 0.1, 0.5],
    };
    this.zoneSetpoint = this.o.nominalZone;
    this.chilledWater = this.o.nominalChilledWater;
  }

  /** Zone setpoint, degrees C (null: nominal). */
  setZoneSetpoint(value: number | null): void {
    this.change(() => (this.zoneSetpoint = value ?? this.o.nominalZone));
  }

  /** Occupancy mode: 1 occupied, 2 unoccupied, 3 standby (null: occupied). */
  setMode(mode: number | null): void {
    this.change(() => (this.mode = mode ?? 1));
  }

  setChilledWater(value: number | null): void {
    this.change(() => (this.chilledWater = value ?? this.o.nominalChilledWater));
  }

  setFanSpeed(percent: number | null): void {
    this.change(() => (this.fanSpeed = Math.min(100, Math.max(0, percent ?? 100))));
  }

  get settings(): { zoneSetpoint: number; mode: number; chilledWater: number; fanSpeed: number } {
    return {
      zoneSetpoint: this.zoneSetpoint,
      mode: this.mode,
      chilledWater: this.chilledWater,
      fanSpeed: this.fanSpeed,
    };
  }

  /** What the air conditioning draws against nominal (1 at nominal settings). */
  get hvacFactor(): number {
    return this.factor;
  }

  rate(t: number): number {
    const base = this.base.rate(t);
    if (this.factor === 1) return base;
    return base * (1 - this.o.share + this.o.share * this.factor);
  }

  private change(apply: () => void): void {
    this.beforeChange();
    apply();
    const o = this.o;
    const mode = o.modeFactors[this.mode - 1] ?? 1;
    const zone = Math.max(0, 1 - o.sensitivity * (this.zoneSetpoint - o.nominalZone));
    const cop = 1 + o.copPerDegree * (this.chilledWater - o.nominalChilledWater);
    const fan = 1 - o.fanShare + o.fanShare * (this.fanSpeed / 100) ** 3;
    const factor = (mode * zone * fan) / cop;
    this.factor = Math.abs(factor - 1) < 1e-12 ? 1 : factor;
  }
}
