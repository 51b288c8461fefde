/**
 * prepay-savings: the savings evidence of load control (README "Load control" > "Savings evidence"). Counts the
 * meter readers' consumption per unit inside and outside its occupancy schedule, keeps the outdoor temperature,
 * and reports per day (output 1, at the site's midnight) and per month (output 2, on the 1st), with measured
 * savings against the baseline period. The tallies live in the SavingsRecorder under the user directory; this
 * node only feeds it, schedules its reports and answers report requests (messages and the admin route).
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { TimerHandle } from '../core/clock';
import { readLoadControlAction } from '../core/loadcontrol/savings-actions';
import type { SavingsReport } from '../core/loadcontrol/savings-report';
import {
  addDays,
  joinCsv,
  reportPeriod,
  siteTotals,
  type ReportPeriod,
} from '../core/loadcontrol/savings-request';
import { isoDate, TimeZone } from '../core/tariff/zone';
import { runtimeClock } from '../shared/runtime-clock';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import { activeSavings, registerSavingsAdminRoutes } from './savings-admin';
import { checkSettings, type CheckedSettings, type SavingsNodeSettings } from './savings-config';
import { SavingsRecorder } from './savings-recorder';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | null>) => void;

const TEMPERATURE_TOPIC = 'outdoor-temperature';
/** prepay-loadcontrol's third output: actions are kept, the rest of its reports ignored. */
const LOAD_CONTROL_TOPICS = new Set([
  'setback',
  'demand-decision',
  'demand-window',
  'demand-state',
  'demand-tariff',
]);

export = function register(RED: NodeAPI): void {
  registerSavingsAdminRoutes(RED);

  function PrepaySavingsNode(this: Node, config: NodeDef & SavingsNodeSettings): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock = runtimeClock(RED.settings);
    let settings: CheckedSettings;
    let recorder: SavingsRecorder;
    try {
      settings = checkSettings(config);
      const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
      recorder = new SavingsRecorder({
        ...settings,
        directory: join(userDir, 'prepay', `savings-${node.id}`),
      });
    } catch (error) {
      const message = (error as Error).message;
      node.status(faultStatus(message.slice(0, 60)));
      node.error(`prepay-savings: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-savings: ${message}`)),
      );
      return;
    }
    const zone = TimeZone.get(settings.timeZone);
    const unitIds = settings.units.map((u) => u.unit);
    const counts = { counted: 0, duplicates: 0, ignored: 0, temperatures: 0, actions: 0 };
    let lastTemperature: string | null = null;
    const status = throttledStatus(node);
    let reportedProblems = 0;
    const showStatus = (): void => {
      for (; reportedProblems < recorder.problems.length; reportedProblems += 1)
        node.warn(`prepay-savings: ${recorder.problems[reportedProblems]}`);
      const text =
        `${unitIds.length} units · ${counts.counted} counted` +
        (counts.actions > 0 ? ` · ${counts.actions} actions` : '') +
        (lastTemperature === null ? '' : ` · ${lastTemperature}`);
      status.show(() =>
        recorder.problems.length > 0 ? degradedStatus(`${text} · see warnings`) : okStatus(text),
      );
    };
    showStatus();

    const today = (): string => {
      const p = zone.wallParts(clock.now());
      return isoDate(p.year, p.month, p.day);
    };

    /** The message of one period's report: every unit's report and the site's totals, or CSV. */
    const reportMessage = (period: ReportPeriod, format: unknown, unit?: unknown): NodeMessage => {
      if (format !== undefined && format !== 'json' && format !== 'csv')
        throw new RangeError(`format: "${String(format)}" is not json or csv`);
      if (unit !== undefined && (typeof unit !== 'string' || !unitIds.includes(unit)))
        throw new RangeError(`unit: "${String(unit)}" is not in the units table`);
      const units = unit === undefined ? unitIds : [unit as string];
      const reports: SavingsReport[] = units.map((u) =>
        recorder.report(u, period.from, period.to, clock.now()),
      );
      const topic = `savings/${period.period}`;
      if (format === 'csv') {
        return {
          topic,
          payload: joinCsv(reports.map((r) => recorder.csv(r))),
          filename: `savings-${period.label}.csv`,
        } as NodeMessage;
      }
      return {
        topic,
        payload: {
          period: period.period,
          label: period.label,
          from: period.from,
          to: period.to,
          // The site's local date when the report was made: days after it have nothing yet.
          asOf: today(),
          site: siteTotals(reports),
          units: reports,
        },
      };
    };

    const answer = (request: Record<string, unknown>): { csv: string; label: string } | { json: unknown } => {
      let period: ReportPeriod;
      if (request.period === 'month-to-date') {
        const yesterday = addDays(today(), -1);
        period = {
          period: 'range',
          from: `${yesterday.slice(0, 7)}-01`,
          to: yesterday,
          label: yesterday.slice(0, 7),
        };
      } else period = reportPeriod(request, today());
      const msg = reportMessage(period, request.format, request.unit);
      return request.format === 'csv'
        ? { csv: msg.payload as string, label: period.label }
        : { json: msg.payload };
    };
    activeSavings.set(node.id, { answer });

    // At each local midnight: yesterday's report, and on the 1st last month's.
    let timer: TimerHandle | undefined;
    const arm = (): void => {
      const now = clock.now();
      const p = zone.wallParts(now);
      const next = zone.wallToInstant(p.year, p.month, p.day + 1);
      timer = clock.setTimeout(
        () => {
          timer = undefined;
          const date = today();
          const yesterday = addDays(date, -1);
          try {
            node.send([reportMessage(reportPeriod({ period: 'day', date: yesterday }, date), 'json'), null]);
            if (date.endsWith('-01'))
              node.send([
                null,
                reportMessage(reportPeriod({ period: 'month', month: yesterday.slice(0, 7) }, date), 'json'),
              ]);
          } catch (error) {
            node.error(`prepay-savings: the report of ${yesterday} failed: ${(error as Error).message}`);
          }
          arm();
        },
        Math.max(1000, next - now + 1000),
      );
    };
    arm();

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      try {
        if (msg.topic === TEMPERATURE_TOPIC) {
          const m = msg as NodeMessageInFlow & { ts?: unknown; unit?: unknown };
          const outcome = recorder.recordTemperature({
            ts: m.ts ?? clock.now(),
            value: msg.payload,
            unit: m.unit ?? settings.temperatureUnit,
          });
          if (!outcome.ok) throw new Error(`outdoor temperature: ${outcome.reason}`);
          counts.temperatures += 1;
          lastTemperature = `${String(msg.payload)} ${String(m.unit ?? settings.temperatureUnit)}`;
          showStatus();
          done();
          return;
        }
        if (msg.topic === 'report') {
          const request = (msg.payload ?? {}) as Record<string, unknown>;
          if (typeof request !== 'object')
            throw new Error('report: payload must be {period, date|month|from,to, format?, unit?}');
          const period = reportPeriod(request, today());
          const out = reportMessage(period, request.format, request.unit);
          send(period.period === 'day' ? [{ ...msg, ...out }, null] : [null, { ...msg, ...out }]);
          done();
          return;
        }
        if (LOAD_CONTROL_TOPICS.has(String(msg.topic))) {
          // prepay-loadcontrol's output 3: its setbacks and demand steps, attributed per unit and day.
          const action = readLoadControlAction(msg.topic, msg.payload);
          const outcome = action ? recorder.recordAction(action) : undefined;
          if (outcome?.counted) counts.actions += 1;
          else if (outcome?.duplicate) counts.duplicates += 1;
          else counts.ignored += 1; // a window report, a plant step, a unit not in the table
          showStatus();
          done();
          return;
        }
        const p = msg.payload as Record<string, unknown> | undefined;
        if (!p || typeof p !== 'object' || typeof p.meterId !== 'string')
          throw new Error(
            `payload: must be a consumption from the meter reader, or msg.topic "${TEMPERATURE_TOPIC}" or "report"`,
          );
        if (p.delta === undefined) {
          // A reading (the meter reader's second output): its consumption comes on the first.
          counts.ignored += 1;
          done();
          return;
        }
        const outcome = recorder.recordConsumption(p);
        if (outcome.counted) counts.counted += 1;
        else if (outcome.duplicate) counts.duplicates += 1;
        else if (outcome.unit === undefined)
          counts.ignored += 1; // a meter in no unit: not the savings' business
        else throw new Error(`${p.meterId}: ${outcome.reason}`);
        showStatus();
        done();
      } catch (error) {
        done(new Error(`prepay-savings: ${(error as Error).message}`));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (timer) clock.clearTimeout(timer);
      status.stop();
      if (activeSavings.get(node.id)?.answer === answer) activeSavings.delete(node.id);
      try {
        recorder.close();
      } catch (error) {
        node.error(`prepay-savings: could not save the tallies: ${(error as Error).message}`);
      }
      done();
    });
  }

  RED.nodes.registerType('prepay-savings', PrepaySavingsNode);
};
