/**
 * Demand limiting's windows and target from a tariff document: the demand charge's interval (15 or 30
 * minutes) and its charged periods, as the tariff engine bills them, and a target given beside the document.
 * The node's own window and target stay the fallback. Pure.
 */
import { compileTariff, TariffValidationError } from '../tariff/compile';
import { demandWindowOf, type DemandWindow } from './demand-window';

export interface TariffDemand {
  window: DemandWindow;
  /** The target given with the document (undefined: the node's own target stays). */
  targetKw?: number;
  /** The tariff's name and its demand interval, for reports. */
  tariff: string;
  intervalMinutes: number;
  periods?: string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads `{tariff: <document>, targetKw?}` or a bare tariff document (a JSON text is parsed). Throws with a
 * message naming the fault: not a valid tariff (its problems listed), or a tariff with no demand charge.
 */
export function demandFromTariff(input: unknown, fallbackName = 'tariff'): TariffDemand {
  let payload = input;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload) as unknown;
    } catch (error) {
      throw new Error(`tariff: not JSON (${(error as Error).message})`);
    }
  }
  if (!isObject(payload)) throw new Error('tariff: must be a tariff document, or {tariff, targetKw}');
  const wrapped = isObject(payload.tariff);
  const document = wrapped ? (payload.tariff as Record<string, unknown>) : payload;
  let targetKw: number | undefined;
  if (wrapped && payload.targetKw !== undefined && payload.targetKw !== null && payload.targetKw !== '') {
    targetKw = Number(payload.targetKw);
    if (!Number.isFinite(targetKw) || !(targetKw > 0))
      throw new Error(`targetKw: "${String(payload.targetKw)}" is not a demand in kW above 0`);
  }
  const name = typeof document.name === 'string' && document.name !== '' ? document.name : fallbackName;
  let compiled;
  try {
    compiled = compileTariff(document, name);
  } catch (error) {
    if (error instanceof TariffValidationError)
      throw new Error(
        `tariff "${name}" is not valid: ${error.problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; ')}`,
      );
    throw error;
  }
  const window = demandWindowOf(compiled);
  if (!window)
    throw new Error(
      `tariff "${name}" has no demand charge (demand.intervalMinutes): the node keeps its own demand window and target`,
    );
  const demand = (document as { demand?: { periods?: string[] } }).demand;
  const result: TariffDemand = { window, tariff: name, intervalMinutes: window.intervalMs / 60_000 };
  if (demand?.periods) result.periods = [...demand.periods];
  if (targetKw !== undefined) result.targetKw = targetKw;
  return result;
}
