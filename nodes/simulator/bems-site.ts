/**
 * The simulated site's BEMS points: which objects the simulated controller hosts for a site, and how their
 * present values drive the site's loads (the same settings as the simulator's `hvac` topic, and each unit's own).
 *
 * - analog-output:1  chilled-water supply setpoint, degrees C (relinquish default 7, 4-15): the cooling plant and
 *   every unit's air conditioning (warmer chilled water, better efficiency)
 * - analog-output:2  air-handler supply fan speed, percent (100, 0-100): the plant's fan and every unit's
 * - analog-value:0   common-area zone setpoint, degrees C (24, 16-32): the cooling plant's zone
 * - analog-value:N   unit N's zone setpoint (tenant TNNNN), degrees C (24, 16-32)
 * - multi-state-value:N  unit N's occupancy mode: 1 occupied, 2 unoccupied, 3 standby (relinquish default 1)
 */
import type { BemsObjectSpec, SimulatedBemsController } from './bems-controller';
import { BemsObjectType } from './bems-controller';
import type { SimulatedSite } from './site';

const CELSIUS = 62;
const PERCENT = 98;

export const CHILLED_WATER = { type: BemsObjectType.ANALOG_OUTPUT, instance: 1 } as const;
export const FAN_SPEED = { type: BemsObjectType.ANALOG_OUTPUT, instance: 2 } as const;
export const COMMON_ZONE = { type: BemsObjectType.ANALOG_VALUE, instance: 0 } as const;

export const OCCUPANCY_STATES = ['occupied', 'unoccupied', 'standby'] as const;

/** The unit number of a tenant account (T0012 is 12), or undefined for other accounts. */
export function unitNumber(accountId: string): number | undefined {
  const match = /^T(\d{1,7})$/.exec(accountId);
  if (!match) return undefined;
  const n = Number(match[1]);
  return n >= 1 && n <= 4194302 ? n : undefined;
}

/** The objects for a site whose tenant units are `accounts`. */
export function siteBemsObjects(accounts: Iterable<string>): BemsObjectSpec[] {
  const objects: BemsObjectSpec[] = [
    {
      ...CHILLED_WATER,
      name: 'CHW-SP',
      description: 'chilled-water supply setpoint',
      units: CELSIUS,
      relinquishDefault: 7,
      min: 4,
      max: 15,
    },
    {
      ...FAN_SPEED,
      name: 'AHU-FAN',
      description: 'air-handler supply fan speed',
      units: PERCENT,
      relinquishDefault: 100,
      min: 0,
      max: 100,
    },
    {
      ...COMMON_ZONE,
      name: 'COMMON-ZN-SP',
      description: 'common-area zone setpoint',
      units: CELSIUS,
      relinquishDefault: 24,
      min: 16,
      max: 32,
    },
  ];
  const numbers = [...accounts].map(unitNumber).filter((n): n is number => n !== undefined);
  for (const n of [...new Set(numbers)].sort((a, b) => a - b)) {
    const unit = `T${String(n).padStart(4, '0')}`;
    objects.push({
      type: BemsObjectType.ANALOG_VALUE,
      instance: n,
      name: `${unit}-ZN-SP`,
      description: `unit ${unit} zone setpoint`,
      units: CELSIUS,
      relinquishDefault: 24,
      min: 16,
      max: 32,
    });
  }
  for (const n of [...new Set(numbers)].sort((a, b) => a - b)) {
    const unit = `T${String(n).padStart(4, '0')}`;
    objects.push({
      type: BemsObjectType.MULTI_STATE_VALUE,
      instance: n,
      name: `${unit}-OCC`,
      description: `unit ${unit} occupancy mode`,
      relinquishDefault: 1,
      states: OCCUPANCY_STATES,
    });
  }
  return objects;
}

/** Lets the controller's present values drive the site's plant and units from now on. */
export function driveSite(site: SimulatedSite, controller: SimulatedBemsController): void {
  const byNumber = new Map<number, string>();
  for (const accountId of site.units.keys()) {
    const n = unitNumber(accountId);
    if (n !== undefined) byNumber.set(n, accountId);
  }
  controller.onPresentValue((type, instance, value) => {
    if (type === CHILLED_WATER.type && instance === CHILLED_WATER.instance) {
      site.hvac?.setChilledWater(value);
      for (const unit of site.units.values()) unit.setChilledWater(value);
    } else if (type === FAN_SPEED.type && instance === FAN_SPEED.instance) {
      site.hvac?.setFanSpeed(value);
      for (const unit of site.units.values()) unit.setFanSpeed(value);
    } else if (type === COMMON_ZONE.type && instance === COMMON_ZONE.instance) {
      site.hvac?.setZoneSetpoint(value);
    } else {
      const account = byNumber.get(instance);
      const unit = account === undefined ? undefined : site.units.get(account);
      if (!unit) return;
      if (type === BemsObjectType.ANALOG_VALUE) unit.setZoneSetpoint(value);
      else if (type === BemsObjectType.MULTI_STATE_VALUE) unit.setMode(value);
    }
  });
}
