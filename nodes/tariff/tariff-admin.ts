/**
 * Admin endpoints behind Node-RED's own authentication, used by the tariff node's edit dialog:
 * check a tariff set (every problem with its field), preview a price ("10 kWh at 18:30 on a
 * weekday costs ..."), and fetch the published JSON Schema.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { formatSubMinor } from '../core/money';
import { TariffEngine } from '../core/tariff/engine';
import { TariffSet, TariffSetError } from './tariff-set';

const SCHEMA_PATH = join(__dirname, '..', '..', '..', 'schemas', 'tariff.schema.json');
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/;

/** Apps already given the routes (a test runtime builds a fresh admin app per flow load). */
const registeredApps = new WeakSet<object>();

export interface PreviewRequest {
  tariffs: unknown;
  defaultTariff?: string;
  mapping?: unknown;
  tariff?: string;
  utility?: string;
  quantity: string | number;
  unit?: string;
  /** Local time in the tariff's zone, "YYYY-MM-DDTHH:MM". */
  at: string;
  minutes?: number;
}

/** Prices one consumption on a fresh engine; throws an Error with a readable message. */
export function previewPrice(request: PreviewRequest): { text: string; charge: unknown } {
  // As the node does: the valid tariffs price, an invalid one refuses with its problems.
  const set = TariffSet.build(
    { tariffs: request.tariffs, defaultTariff: request.defaultTariff, mapping: request.mapping },
    { partial: true },
  );
  const tariff = set.choose(request.tariff || undefined, undefined, request.utility);
  const match = LOCAL_TIME.exec(String(request.at ?? ''));
  if (!match) throw new Error('at: must be a local time "YYYY-MM-DDTHH:MM"');
  const [, y, mo, d, h, mi] = match.map(Number) as [number, number, number, number, number, number];
  const from = tariff.zone.wallToInstant(y, mo, d, h * 60 + mi);
  const minutes = Number(request.minutes ?? 60);
  if (!(minutes >= 0 && minutes <= 31 * 24 * 60)) throw new Error('minutes: must be between 0 and 44640');
  const unit = request.unit || tariff.conversion?.from || tariff.unit;
  const outcome = new TariffEngine().priceConsumption(
    tariff,
    {
      meterId: 'preview',
      readingId: 'preview',
      delta: request.quantity,
      unit,
      from,
      to: from + minutes * 60_000,
    },
    { now: Date.now() },
  );
  if (outcome.status !== 'priced') throw new Error('preview could not be priced');
  const charge = outcome.charge;
  const weekday = new Date(Date.UTC(y, mo - 1, d)).toLocaleDateString('en-GB', {
    weekday: 'long',
    timeZone: 'UTC',
  });
  const lines = charge.breakdown
    .map(
      (l) =>
        `${l.component} ${l.quantity} ${l.unit}${l.rate ? ` x ${l.rate}` : ''} = ${formatSubMinor(l.amount, charge.currency)}`,
    )
    .join('; ');
  const text =
    `${request.quantity} ${unit} from ${request.at} (${weekday}, ${tariff.zone.name}) over ${minutes} min ` +
    `costs ${formatSubMinor(charge.amount, charge.currency)} ${charge.currency} with tariff "${tariff.name}" (${lines})`;
  return { text, charge };
}

export function registerTariffAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('prepay-tariff.read');

  RED.httpAdmin.post('/prepay-tariff/check', permission, (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { tariffs?: unknown; defaultTariff?: string; mapping?: unknown };
    try {
      const set = TariffSet.build({
        tariffs: body.tariffs,
        defaultTariff: body.defaultTariff,
        mapping: body.mapping,
      });
      res.json({ ok: true, problems: [], warnings: set.warnings });
    } catch (error) {
      if (error instanceof TariffSetError) res.json({ ok: false, problems: error.problems });
      else res.status(500).json({ ok: false, error: (error as Error).message });
    }
  });

  RED.httpAdmin.post('/prepay-tariff/preview', permission, (req: Request, res: Response) => {
    try {
      res.json({ ok: true, ...previewPrice(req.body as PreviewRequest) });
    } catch (error) {
      const problems = error instanceof TariffSetError ? error.problems : undefined;
      res.status(400).json({ ok: false, error: (error as Error).message, problems });
    }
  });

  // A body over the admin API's limit fails in Node-RED's body parser before the routes: answer in words
  // the editor can show, not the framework's HTML page with a stack trace.
  RED.httpAdmin.use(
    '/prepay-tariff',
    (
      error: { type?: string; status?: number; limit?: number },
      _req: Request,
      res: Response,
      next: (e?: unknown) => void,
    ) => {
      if (error?.type !== 'entity.too.large') return next(error);
      res.status(413).json({
        ok: false,
        error:
          `the tariffs are too large for the editor's request limit (${error.limit ?? '?'} bytes, ` +
          "Node-RED's apiMaxLength setting): raise apiMaxLength in settings.js, or split the tariffs over nodes",
      });
    },
  );

  RED.httpAdmin.get('/prepay-tariff/schema', permission, (_req: Request, res: Response) => {
    try {
      res.type('application/schema+json').send(readFileSync(SCHEMA_PATH, 'utf8'));
    } catch (error) {
      res.status(500).json({ error: (error as Error).message });
    }
  });
}
