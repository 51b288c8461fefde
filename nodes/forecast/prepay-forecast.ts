/**
 * prepay-forecast: days of credit left and top-up reminders. Learns each account's daily spend from the charges
 * it sees (wire the tariff's output here), and adds `daysLeft` to every account state passing through (wire the
 * ledger's second output here, and this node's first output on to the cutoff relay, the BACnet exporter and
 * history). Output 2: a reminder, once, when days left drop under the threshold, with a suggested top-up.
 * `msg.topic = "carbon"` answers carbon and money totals per account and period.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { daysLeft, reminderFor, type ReminderOptions } from '../core/forecast/days-left';
import { UsageHistory, type DayTotal, type SavedHistory } from '../core/forecast/usage-history';
import type { FriendlyWindows } from '../core/cutoff/policy';
import { TimeZone } from '../core/tariff/zone';
import { copy } from '../core/shapes';
import { runtimeClock } from '../shared/runtime-clock';
import { StateFile } from '../shared/state-file';
import { faultStatus, okStatus } from '../shared/status';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

interface ForecastNodeDef extends NodeDef {
  timeZone?: string;
  nightsFrom?: string;
  nightsTo?: string;
  weekends?: boolean;
  holidays?: string;
  cutoffThreshold?: string | number;
  debtPerDay?: string | number;
  thresholdDays?: string | number;
  coverDays?: string | number;
  roundTo?: string | number;
}

/** Version 1 kept a list of day objects per account; version 2 keeps two arrays of numbers (a fifth the size). */
type Saved =
  | { version: 1; accounts: Record<string, { days: DayTotal[]; armed: boolean }> }
  | { version: 2; accounts: Record<string, { history: SavedHistory; armed: boolean }> };

/**
 * Usage history is not money: written every 30 s at most (a crash loses at most that much of the forecast's
 * input), while a reminder's arming is written within a second (a restart must not send a reminder twice).
 */
const HISTORY_SAVE_MS = 30_000;
const ARMING_SAVE_MS = 1_000;

function num(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${field} must be a number from ${min} to ${max}`);
  return n;
}

function clockTime(value: string | undefined, field: string): number | undefined {
  if (!value || value.trim() === '') return undefined;
  const match = /^(\d{1,2}):(\d{2})$/.exec(value.trim());
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59) throw new Error(`${field} must be HH:MM`);
  return Number(match[1]) * 60 + Number(match[2]);
}

export = function register(RED: NodeAPI): void {
  function PrepayForecastNode(this: Node, config: ForecastNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock = runtimeClock(RED.settings);
    let zone: TimeZone;
    let friendly: FriendlyWindows;
    let reminders: ReminderOptions;
    let cutoffThreshold: number;
    let debtPerDay: number;
    try {
      const timeZone = (config.timeZone || 'UTC').trim();
      if (!TimeZone.isValid(timeZone)) throw new Error(`time zone "${timeZone}" is not known`);
      zone = TimeZone.get(timeZone);
      const from = clockTime(config.nightsFrom, 'friendly nights from');
      const to = clockTime(config.nightsTo, 'friendly nights to');
      const holidays = (config.holidays ?? '').split(/[\s,;]+/).filter(Boolean);
      for (const date of holidays)
        if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`holiday "${date}" must be YYYY-MM-DD`);
      friendly = {
        timeZone,
        weekends: config.weekends === true,
        holidays,
        ...(from !== undefined && to !== undefined ? { nights: { from, to } } : {}),
      };
      cutoffThreshold = num(config.cutoffThreshold, 0, 'cut-off threshold', -1e12, 1e12);
      debtPerDay = num(config.debtPerDay, 0, 'debt recovery per day', 0, 1e12);
      reminders = {
        thresholdDays: num(config.thresholdDays, 3, 'reminder threshold', 0, 365),
        hysteresisDays: 1,
        coverDays: num(config.coverDays, 14, 'days a top-up should cover', 1, 365),
        roundTo: num(config.roundTo, 1000, 'rounding of the suggested top-up', 1, 1e9),
      };
    } catch (error) {
      const message = (error as Error).message;
      node.status(faultStatus(message.slice(0, 60)));
      node.error(`prepay-forecast: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-forecast: ${message}`)),
      );
      return;
    }

    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const stateFile = new StateFile<Saved>(
      join(userDir, 'prepay', `forecast-${node.id}.json`),
      (value) => {
        const saved = value as Saved;
        if ((saved?.version !== 1 && saved?.version !== 2) || typeof saved.accounts !== 'object')
          throw new Error('not a forecast state file');
        return saved;
      },
      HISTORY_SAVE_MS,
    );
    const accounts = new Map<string, { history: UsageHistory; armed: boolean }>();
    const loaded = stateFile.load();
    if (loaded.problem) node.warn(`prepay-forecast: ${loaded.problem}`);
    for (const [accountId, saved] of Object.entries(loaded.value?.accounts ?? {}))
      accounts.set(accountId, {
        history: new UsageHistory('history' in saved ? saved.history : saved.days),
        armed: saved.armed,
      });
    const persist = (withinMs = HISTORY_SAVE_MS): void =>
      stateFile.save(
        () => ({
          version: 2,
          accounts: Object.fromEntries(
            [...accounts].map(([id, a]) => [id, { history: a.history.saved(), armed: a.armed }]),
          ),
        }),
        withinMs,
      );
    const account = (accountId: string) => {
      let found = accounts.get(accountId);
      if (!found) {
        found = { history: new UsageHistory(), armed: true };
        accounts.set(accountId, found);
      }
      return found;
    };
    let reminded = 0;
    const showStatus = (): void => node.status(okStatus(`${accounts.size} accounts · ${reminded} reminders`));
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      try {
        const p = msg.payload as Record<string, unknown> | undefined;
        if (msg.topic === 'carbon') {
          const from = String((p ?? {}).from ?? '');
          const to = String((p ?? {}).to ?? '');
          if (!/^\d{4}-\d{2}-\d{2}$/.test(from) || !/^\d{4}-\d{2}-\d{2}$/.test(to))
            throw new Error('from, to: must be local dates YYYY-MM-DD');
          const wanted = typeof p?.accountId === 'string' ? [p.accountId] : [...accounts.keys()];
          const totals = wanted.map((accountId) => ({
            accountId,
            from,
            to,
            ...(accounts.get(accountId)?.history.totals(from, to) ?? { amount: 0, carbonKg: 0, days: 0 }),
          }));
          // Money back in minor units for reports.
          send({ ...msg, payload: totals.map((t) => ({ ...t, amount: t.amount / 10_000 })) });
          done();
          return;
        }
        // A move-out's credit (the tariff's output, for the ledger): no spending to forecast from.
        if (p && p.kind === 'credit') {
          done();
          return;
        }
        if (
          p &&
          typeof p.readingId === 'string' &&
          typeof p.amount === 'number' &&
          Array.isArray(p.breakdown)
        ) {
          // A charge: its money (and carbon) belongs to the local day it was used in.
          if (typeof p.accountId === 'string' && p.accountId !== '') {
            const at = typeof p.to === 'number' ? p.to : clock.now();
            const parts = zone.wallParts(at);
            const date = `${parts.year}-${String(parts.month).padStart(2, '0')}-${String(parts.day).padStart(2, '0')}`;
            const entry = account(p.accountId);
            entry.history.add(date, parts.weekday, p.amount, typeof p.carbonKg === 'number' ? p.carbonKg : 0);
            entry.history.prune(date, 120);
            persist();
          }
          done();
          return;
        }
        if (
          p &&
          typeof p.accountId === 'string' &&
          typeof p.state === 'string' &&
          typeof p.available === 'number'
        ) {
          const entry = account(p.accountId);
          const left = daysLeft(entry.history, {
            available: p.available,
            cutoffThreshold,
            debtPerDay,
            now: clock.now(),
            timeZone: zone.name,
            friendly,
          });
          const state: Record<string, unknown> = copy(p);
          if (left.daysLeft !== undefined) state.daysLeft = left.daysLeft;
          else delete state.daysLeft;
          const armedBefore = entry.armed;
          const reminder =
            p.state === 'closed' ? undefined : reminderFor(entry, left, p.available, reminders);
          if (entry.armed !== armedBefore) persist(ARMING_SAVE_MS);
          const second: NodeMessage | null = reminder
            ? {
                topic: p.accountId,
                payload: {
                  accountId: p.accountId,
                  currency: p.currency,
                  available: p.available,
                  ...reminder,
                },
              }
            : null;
          if (reminder) reminded += 1;
          send([{ ...msg, payload: state }, second]);
          showStatus();
          done();
          return;
        }
        throw new Error(
          'payload: must be a charge (from the tariff), an account state (from the ledger) or a carbon request',
        );
      } catch (error) {
        done(new Error((error as Error).message));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      try {
        stateFile.flush();
      } catch (error) {
        node.error(`prepay-forecast: could not save state: ${(error as Error).message}`);
      }
      done();
    });
  }

  RED.nodes.registerType('prepay-forecast', PrepayForecastNode);
};
