/**
 * prepay-meter: turns meter registers into consumption. Polls a table of meters over a shared prepay-modbus
 * link (polls spread over the interval), or takes readings from upstream nodes, and runs every value through
 * the delta engine. Output 1: consumption (to the tariff). Output 2: readings with every profile value (for
 * dashboards, history, BACnet). Output 3: meter events and alarms (comm loss, suspect values, rollover...).
 *
 * A Modbus exception is an answer, not communication loss: the poller narrows what it asks a partial device
 * for, a refused optional value is reported once and dropped, a refused counter is an alarm of its own. Only
 * silence (timeouts, a link down, a gateway saying the device did not answer) becomes comm loss.
 *
 * Nothing is lost or counted twice across a crash: the engine's state is written to disk (atomically)
 * before the consumption it produced is sent, and each meter's last consumption is sent again after a
 * restart with the same reading id, which downstream nodes recognise and ignore if they have it already.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { Clock, TimerHandle } from '../core/clock';
import {
  DeltaEngine,
  event as meterEvent,
  type DeltaOutcome,
  type MeterEvent,
  type MeterInfo,
  type MeterState,
} from '../core/meter/delta-engine';
import type { Span } from '../core/meter/block-plan';
import type { Utility } from '../core/messages';
import type { ModbusConfigNode } from '../modbus/link-config';
import { describeException } from '../modbus/transport';
import { IncrementalRecordJson } from '../shared/incremental-json';
import { StartGate } from '../shared/start-gate';
import { daySummaryReceipts } from '../shared/charge-receipts';
import { DayTallies, type DaySummary } from '../core/meter/day-tally';
import { nextLocalMidnight } from '../tariff/calendar-scheduler';
import { StateFile } from '../shared/state-file';
import { meterStateWrites } from '../shared/write-budget';
import { runtimeClock } from '../shared/runtime-clock';
import { degradedStatus, faultStatus, okStatus } from '../shared/status';
import {
  readMeterSettings,
  type ConfiguredMeter,
  type MeterNodeDef,
  type MeterSettings,
} from './meter-config';
import { readRebaseline, readReplace, readUpstreamReading, MeterInputError } from './meter-messages';
import { MeterPoller, type PollResult } from './meter-poller';
import { meterReaders, registerMeterAdminRoutes, type RebaselineAnswer } from './meter-admin';
import { appendOperatorLog } from '../shared/operator-log';
import { copy, extend } from '../core/shapes';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/**
 * Consumption sent within this much wall time goes out again after a restart: what a tariff node priced from
 * it may not have reached its state file yet (it saves within a second).
 */
const RESEND_MS = 10_000;

/** Polls are started in groups at most this often (building time): one timer per group, not per meter. */
const POLL_TICK_MS = 1000;

/** How often (wall time) a ledger is asked which day summaries it holds, and what it lacks is sent again. */
const RECEIPTS_EVERY_MS = 60_000;

/** The longest consumption waits for the shared state-write budget before its write goes ahead anyway. */
const MAX_CONSUMPTION_WAIT_MS = 1000;

/**
 * While this reader's polls are in flight, readings leave in groups at most this long after the first answer of
 * the group (the last poll's at once). Sent one by one, each reading's delivery through Node-RED and the next
 * node's work come between a request and the read of its answer, interleaved with the socket work; sent in a
 * group they run back to back and cost less (a 100-meter cycle on one link: about 40% less CPU above the raw
 * Modbus loop's).
 */
const READINGS_GROUP_MS = 2;

/** A meter the node polls, and its poll's state. */
interface PolledMeter {
  meter: ConfiguredMeter;
  /** Being polled now (a poll due meanwhile is skipped). */
  inFlight: boolean;
  /** Polls in a row the device did not answer. */
  failures: number;
}

interface SavedState {
  version: 1;
  meters: Record<string, MeterState>;
}

function parseSaved(value: unknown): SavedState {
  const saved = value as SavedState;
  if (saved?.version !== 1 || typeof saved.meters !== 'object' || saved.meters === null)
    throw new Error('not a meter state file');
  return saved;
}

export = function register(RED: NodeAPI): void {
  registerMeterAdminRoutes(RED);

  function PrepayMeterNode(this: Node, config: NodeDef & MeterNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock: Clock = runtimeClock(RED.settings);
    const fail = (message: string): void => {
      node.status(faultStatus(message.slice(0, 60)));
      node.error(`prepay-meter: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-meter: ${message}`)),
      );
    };
    let settings: MeterSettings;
    try {
      settings = readMeterSettings(config);
    } catch (error) {
      return fail((error as Error).message);
    }
    const linkNode =
      settings.source === 'modbus' ? (RED.nodes.getNode(config.link ?? '') as ModbusConfigNode | null) : null;
    if (settings.source === 'modbus') {
      if (!linkNode) return fail('no Modbus link configured');
      if (!linkNode.link) return fail(`Modbus link is not usable: ${linkNode.problem ?? 'unknown problem'}`);
    }
    const link = linkNode?.link;
    const meters = new Map<string, ConfiguredMeter>(
      settings.meters.map((meter) => [meter.row.meterId, meter]),
    );
    const engine = new DeltaEngine({
      sliceMs: settings.sliceMs,
      billEveryMs: settings.billEveryMs,
      now: () => clock.now(),
      futureToleranceMs: settings.futureToleranceMs,
    });
    // Re-sends at start, and anything polled before every node of the deploy exists, wait for the flows.
    const gate = new StartGate(RED);
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const stateFile = new StateFile<SavedState>(
      join(userDir, 'prepay', `meter-${node.id}.json`),
      parseSaved,
      0,
    );
    const loaded = stateFile.load();
    if (loaded.problem) node.warn(`prepay-meter: ${loaded.problem}`);
    if (loaded.value) engine.restore(loaded.value.meters);
    if (settings.source === 'modbus') engine.retain(new Set(meters.keys()));
    // Every engine call changes one meter's state and goes through deliver(), which marks it changed.
    const savedMeters = new IncrementalRecordJson((meterId) => engine.state(meterId));
    for (const meterId of Object.keys(engine.snapshot())) savedMeters.markChanged(meterId);
    const saveState = (): void =>
      meterStateWrites.spend(() => stateFile.writeText(`{"version":1,"meters":${savedMeters.text()}}`));

    /**
     * Sends each message on its own: Node-RED clones every message after the first of one send() call, and
     * these messages are new objects nobody else holds (a reading with its values cost more to clone than to
     * make).
     */
    const sendEach = (outputs: [NodeMessage[], NodeMessage[], NodeMessage[]]): void => {
      outputs.forEach((messages, port) => {
        for (const message of messages) {
          const out: Array<NodeMessage | null> = [null, null, null];
          out[port] = message;
          node.send(out);
        }
      });
    };

    // --- output: readings within a few ms; consumption once its state is on disk -------------------------
    let pending: { consumption: NodeMessage[]; events: NodeMessage[] } = { consumption: [], events: [] };
    /** When the oldest consumption now pending was computed (performance.now()). */
    let pendingSince = 0;
    let readings: NodeMessage[] = [];
    let events: NodeMessage[] = [];
    /** Cancels the send of readings and events now scheduled (an immediate, or a group's timer). */
    let cancelSend: (() => void) | undefined;
    /** How many meters are being polled now. */
    let inFlight = 0;
    let flushTimer: NodeJS.Timeout | undefined;
    let closed = false;
    const counts = {
      polls: 0,
      failures: 0,
      consumption: 0,
      suspect: 0,
      requests: 0,
      /** How long consumption waited for its state write before it was sent, ms (the last and the longest). */
      consumptionWait: { lastMs: 0, maxMs: 0 },
    };
    const lastSeen = new Map<string, number>();

    // Readings (output 2) and events carry no money and need no state on disk: they leave at once (in the
    // event-loop turn of their answer, with whatever else answered in it), or, while polls are in flight, in
    // groups at most READINGS_GROUP_MS after their answer. Day summaries are the exception: they go with
    // consumption, so a summary never overtakes what it sums.
    const sendNow = (): void => {
      cancelSend?.();
      cancelSend = undefined;
      const batch = readings;
      const said = events;
      readings = [];
      events = [];
      if (batch.length + said.length > 0) gate.run(() => sendEach([[], batch, said]));
    };
    const soon = (): void => {
      if (cancelSend || closed) return;
      if (inFlight > 0) {
        const timer = setTimeout(sendNow, READINGS_GROUP_MS);
        cancelSend = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(sendNow);
        cancelSend = () => clearImmediate(immediate);
      }
    };

    const flush = (): void => {
      flushTimer = undefined;
      // Consumption waits until the meter states are on disk, and those writes share a tenth of the process's
      // time with the other meter readers': when a site's meters cross a billing boundary together, each
      // write takes a bigger group. The wait is bounded: past MAX_CONSUMPTION_WAIT_MS the write goes ahead
      // of the budget. Events wait with consumption, so a day summary never overtakes what it sums.
      if (pending.consumption.length > 0 && !closed) {
        const left = MAX_CONSUMPTION_WAIT_MS - (performance.now() - pendingSince);
        const wait = Math.min(meterStateWrites.waitMs(), left);
        if (wait > 0) return scheduleFlush(Math.ceil(wait));
      }
      const batch = pending;
      pending = { consumption: [], events: [] };
      if (batch.consumption.length + batch.events.length === 0) return;
      if (batch.consumption.length > 0) {
        try {
          saveState();
          const waited = Math.round(performance.now() - pendingSince);
          counts.consumptionWait.lastMs = waited;
          counts.consumptionWait.maxMs = Math.max(counts.consumptionWait.maxMs, waited);
        } catch (error) {
          // Sending consumption whose baseline is not on disk could bill it twice after a crash; hold it.
          setStatus(faultStatus(`cannot save state: ${(error as Error).message}`.slice(0, 60)));
          node.error(
            `prepay-meter: cannot save meter state, consumption held until it can: ${(error as Error).message}`,
          );
          pending.consumption.unshift(...batch.consumption);
          pendingSince = performance.now();
          batch.consumption = [];
          retryFlush(1000);
        }
      }
      if (batch.consumption.length + batch.events.length > 0)
        gate.run(() => sendEach([batch.consumption, [], batch.events]));
    };
    /** Consumption is grouped for 50 ms (one state write for what answered meanwhile); events alone go at once. */
    const scheduleFlush = (delay = pending.consumption.length > 0 ? 50 : 0): void => {
      if (!flushTimer && !closed) flushTimer = setTimeout(flush, delay);
    };
    const retryFlush = (delay: number): void => {
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = undefined;
      scheduleFlush(delay);
    };

    const raise = (event: MeterEvent): void => {
      if (event.type === 'suspect') counts.suspect += 1;
      if (event.alarm) node.warn(`prepay-meter: ${event.meterId}: ${event.text}`);
      if (event.type === 'day-summary') {
        pending.events.push({ topic: event.type, payload: event });
        scheduleFlush();
      } else {
        events.push({ topic: event.type, payload: event });
        soon();
      }
    };
    // --- day summaries for the ledger's reconciliation, and consumption kept to send again ---------------
    const tallies = new DayTallies(settings.zone);
    const summarise = (subject: MeterInfo, state: MeterState, date: string): void => {
      const summary = tallies.summarise(subject, state, date, clock.now(), Date.now());
      if (summary) raise(summary);
    };
    /** A summary no ledger confirmed, sent again (with consumption, so it never overtakes what it sums). */
    const raiseAgain = (summary: DaySummary): void => {
      pending.events.push({ topic: summary.type, payload: summary, replay: true } as NodeMessage);
      scheduleFlush();
    };
    // --- day summaries wait for a ledger's receipt ------------------------------------------------------
    // Each stays in the meter's state until a ledger in this runtime says it holds it on disk, and goes again
    // at start and after 1, 2, 4... minutes (at most hourly) until then; with no ledger in the runtime nothing
    // waits. Bounded per meter (see core/meter/day-tally).
    const startedAt = Date.now();
    let checking = false;
    const checkReceipts = async (restart: boolean): Promise<void> => {
      // Not before the flows have started: a ledger built later in the deploy is not registered yet.
      if (checking || closed || !gate.open) return;
      checking = true;
      try {
        let changed = false;
        if (daySummaryReceipts.size === 0) {
          for (const [meterId, state] of engine.states())
            if (tallies.release(state, clock.now()) > 0) {
              savedMeters.markChanged(meterId);
              changed = true;
            }
        } else {
          const asked: string[] = [];
          for (const [, state] of engine.states()) asked.push(...tallies.awaiting(state));
          if (asked.length === 0) return;
          const held = await daySummaryReceipts.held(asked);
          if (closed) return;
          for (const [meterId, state] of engine.states()) {
            let touched = tallies.confirm(state, held, clock.now()) > 0;
            const again = tallies.resendDue(
              meterId,
              state,
              clock.now(),
              Date.now(),
              restart ? startedAt : undefined,
            );
            for (const summary of again) raiseAgain(summary);
            if (again.length > 0) touched = true;
            if (touched) {
              savedMeters.markChanged(meterId);
              changed = true;
            }
          }
        }
        if (changed) saveState();
      } catch (error) {
        node.warn(`prepay-meter: cannot save the day summaries' receipts: ${(error as Error).message}`);
      } finally {
        checking = false;
      }
    };
    const receiptTimer = setInterval(() => void checkReceipts(false), RECEIPTS_EVERY_MS);
    receiptTimer.unref?.();
    /** What changed a meter's days, and what it sent (kept a few seconds, sent again after a restart). */
    const keep = (outcome: DeltaOutcome): void => {
      const reading = outcome.reading;
      const state = engine.state(reading.meterId);
      if (!state) return;
      for (const late of tallies.record(state, outcome)) summarise(reading, state, late);
      if (outcome.consumptions.length === 0) return;
      const wall = Date.now();
      const kept = (state.resend ?? []).filter(([at]) => wall - at < RESEND_MS);
      kept.push([wall, outcome.consumptions]);
      state.resend = kept;
    };
    /** Summaries of every day that has ended; `midnight` also gives a day to meters that billed nothing. */
    const closeDays = (now: number, midnight?: number): void => {
      for (const [meterId, state] of engine.states()) {
        const subject = meters.get(meterId)?.info ?? upstreamInfo.get(meterId);
        if (!subject) continue;
        if (midnight !== undefined) tallies.ensureDay(state, midnight);
        const due = tallies.due(state, now);
        for (const tally of due) summarise(subject, state, tally.date);
        if (due.length > 0) savedMeters.markChanged(meterId);
      }
      scheduleFlush();
    };
    let dayTimer: TimerHandle | undefined;
    const armDays = (): void => {
      const now = clock.now();
      const midnight = nextLocalMidnight(settings.zone, now);
      dayTimer = clock.setTimeout(
        () => {
          if (closed) return;
          closeDays(clock.now(), midnight);
          armDays();
        },
        midnight - now + 1000,
      );
    };

    const deliver = (outcome: DeltaOutcome, values?: Record<string, number>): void => {
      savedMeters.markChanged(outcome.reading.meterId);
      // The account's declared quantities (the table's declared column) ride on each consumption, kept ones too.
      const declared = meters.get(outcome.reading.meterId)?.row.declared;
      if (declared)
        for (const consumption of outcome.consumptions) consumption.declared = Object.assign({}, declared);
      keep(outcome);
      for (const consumption of outcome.consumptions) {
        counts.consumption += 1;
        if (pending.consumption.length === 0) pendingSince = performance.now();
        pending.consumption.push({ topic: consumption.meterId, payload: consumption });
      }
      const reading: Record<string, unknown> = copy(outcome.reading);
      if (values) reading.values = values;
      readings.push({ topic: outcome.reading.meterId, payload: reading });
      soon();
      for (const event of outcome.events) raise(event);
      if (pending.consumption.length + pending.events.length > 0) scheduleFlush();
    };

    // A baseline saved ahead of the clock (by a version that adopted such time stamps) freezes a meter: alarmed
    // at start, with the way out (rebaseline or replace). Sent with the first batch, once the flows have started.
    for (const alarm of engine.aheadAlarms((meterId) => meters.get(meterId)?.info ?? { meterId }))
      raise(alarm);

    // --- status ---------------------------------------------------------------------------------------
    // Looked at every 2 s, sent only when it changed: each status goes to every open editor.
    let shownStatus = '';
    const setStatus = (status: NodeStatus): void => {
      const key = `${status.fill}|${status.shape}|${status.text}`;
      if (key === shownStatus) return;
      shownStatus = key;
      node.status(status);
    };
    const showStatus = (): void => {
      let lost = 0;
      let suspect = 0;
      let cannotBill = 0;
      let clockAlarms = 0;
      let known = 0;
      const now = clock.now();
      for (const [, state] of engine.states()) {
        known += 1;
        if (state.status === 'comm-loss') lost += 1;
        else if (state.status === 'suspect') suspect += 1;
        else if (state.status === 'device-fault') cannotBill += 1;
        else if (state.timeRun?.alarm || engine.baselineAhead(state, now)) clockAlarms += 1;
      }
      const total = Math.max(meters.size, known);
      const linkDown = link && link.stats().state === 'down';
      if (linkDown) setStatus(faultStatus(`link down: ${(link.stats().lastError ?? '').slice(0, 40)}`));
      else if (total > 0 && lost === total) setStatus(faultStatus(`all ${lost} meters in comm loss`));
      else if (lost + suspect + cannotBill + clockAlarms > 0) {
        const ok = total - lost - suspect - cannotBill - clockAlarms;
        let text = `${ok} ok, ${lost} comm loss, ${suspect} suspect`;
        if (cannotBill > 0) text += `, ${cannotBill} cannot bill`;
        if (clockAlarms > 0) text += `, ${clockAlarms} time alarm`;
        setStatus(degradedStatus(text));
      } else setStatus(okStatus(`${total || lastSeen.size} meters · ${counts.consumption} deltas`));
    };
    const statusTimer = setInterval(showStatus, 2000);
    statusTimer.unref?.();
    showStatus();

    // --- Modbus polling -------------------------------------------------------------------------------
    const poller = new MeterPoller({ maxGap: linkNode?.settings?.maxGap ?? 64 });
    /** Meters with an open device-exception alarm (cleared when a poll answers without one). */
    const deviceAlarms = new Set<string>();
    // Each polled meter's poll state sits on an object of its own, not in maps keyed by meter id.
    const order: PolledMeter[] = [...meters.values()].map((meter) => ({
      meter,
      inFlight: false,
      failures: 0,
    }));
    const polled = new Map(order.map((entry) => [entry.meter.row.meterId, entry]));
    let cursor = 0;
    let cycleStart = clock.now();
    let pollTimer: TimerHandle | undefined;

    const pollMeter = async (entry: PolledMeter): Promise<void> => {
      if (!link || entry.inFlight) return;
      const meter = entry.meter;
      entry.inFlight = true;
      inFlight += 1;
      counts.polls += 1;
      try {
        const result = await poller.poll(link, meter.row.unitId, meter.profile, clock.now());
        counts.requests += result.requests;
        if (closed) return;
        entry.failures = 0;
        answered(meter, result, clock.now());
      } catch (error) {
        if (closed) return;
        counts.failures += 1;
        entry.failures += 1;
        if (entry.failures >= settings.commLossPolls) {
          deliver(engine.commLoss(meter.info, clock.now(), (error as Error).message));
        }
      } finally {
        entry.inFlight = false;
        inFlight -= 1;
        // The last poll in flight answered: what it and its group read goes now.
        if (inFlight === 0 && cancelSend) sendNow();
      }
    };

    /** The device answered: bill its counter, or say why not; report what it refused. */
    const answered = (meter: ConfiguredMeter, result: PollResult, now: number): void => {
      const { info, row, profile } = meter;
      const where = (span: Span): string =>
        `function ${span.function}, address ${span.address}, ${span.length} ${span.function <= 2 ? 'bits' : 'registers'}`;
      const counterName = profile.counter?.name;
      for (const refused of result.dropped)
        raise(
          meterEvent(
            info,
            'value-unavailable',
            false,
            now,
            `unit ${row.unitId} refused ${refused.value.name} (${where(refused.span)}) with ${describeException(refused.code)}: dropped from this meter's reads, tried again daily; the counter is billed as before`,
            registerDetail(refused.value.name, refused.span, refused.code),
          ),
        );
      for (const value of result.restored)
        raise(
          meterEvent(
            info,
            'value-available',
            false,
            now,
            `unit ${row.unitId} serves ${value.name} (function ${value.function}, address ${value.address}) again: read from now on`,
            { valueName: value.name, function: value.function, address: value.address },
          ),
        );
      const faults = result.faults.filter((fault) => !counterName || !fault.values.includes(counterName));
      if (faults.length > 0 && !deviceAlarms.has(info.meterId)) {
        deviceAlarms.add(info.meterId);
        const fault = faults[0]!;
        raise(
          meterEvent(
            info,
            'device-exception',
            true,
            now,
            `unit ${row.unitId} refused a read (${where(fault.span)}) with ${describeException(fault.code)}: ${fault.values.join(', ')} not read; the device answers, so this is no communication loss`,
            registerDetail(fault.values.join(','), fault.span, fault.code),
          ),
        );
      } else if (faults.length === 0 && deviceAlarms.delete(info.meterId)) {
        raise(
          meterEvent(info, 'device-exception', false, now, `cleared: unit ${row.unitId} answers every read`),
        );
      }
      if (result.counter !== undefined) {
        deliver(engine.reading(info, result.counter, now), result.values);
        return;
      }
      const refused = result.counterRefused;
      const why = refused
        ? `unit ${row.unitId} refused the billed counter ${counterName} (${where(refused.span)}) with ${describeException(refused.code)}`
        : `unit ${row.unitId} did not give the billed counter ${counterName}`;
      deliver(
        engine.counterUnavailable(
          info,
          now,
          `${why}; the device answers, so this is no communication loss: check the unit id and that the profile fits the device`,
          refused ? registerDetail(counterName ?? '', refused.span, refused.code) : {},
        ),
        result.values,
      );
    };

    // Polls are spread evenly over the interval: meter i of n is due at cycleStart + i * interval / n. The
    // timer fires at most once per POLL_TICK_MS and polls every meter due by then, back to back: 200 meters
    // every 15 s are 15 groups of 13 a second, not a timer and a wake-up of their own each.
    let lastTick = -Infinity;
    const scheduleNext = (): void => {
      if (closed || order.length === 0) return;
      const slot = settings.intervalMs / order.length;
      const due = Math.max(cycleStart + cursor * slot, lastTick + POLL_TICK_MS);
      pollTimer = clock.setTimeout(tick, Math.max(0, due - clock.now()));
    };
    const tick = (): void => {
      pollTimer = undefined;
      if (closed) return;
      const now = clock.now();
      lastTick = now;
      const slot = settings.intervalMs / order.length;
      // Catch up on every meter that is due (timers are coarse; a busy event loop fires late).
      while (cycleStart + cursor * slot <= now) {
        void pollMeter(order[cursor]!);
        cursor += 1;
        if (cursor >= order.length) {
          cursor = 0;
          cycleStart += settings.intervalMs;
          if (cycleStart + settings.intervalMs < now) cycleStart = now; // far behind: start afresh
        }
      }
      scheduleNext();
    };
    if (link) {
      link.acquire();
      scheduleNext();
    }

    // --- readings from upstream: comm-loss watchdog --------------------------------------------------
    const infoFor = (meterId: string, utility?: Utility, unit?: string, accountId?: string): MeterInfo => {
      const configured = meters.get(meterId);
      if (configured) return accountId ? extend(configured.info, { accountId }) : configured.info;
      if (!utility)
        throw new MeterInputError(
          'utility',
          `is required for meter "${meterId}", which is not in the meter table`,
        );
      if (!unit)
        throw new MeterInputError(
          'unit',
          `is required for meter "${meterId}", which is not in the meter table`,
        );
      const info: MeterInfo = { meterId, utility, unit };
      if (accountId) info.accountId = accountId;
      return info;
    };
    const upstreamInfo = new Map<string, MeterInfo>();

    // --- operator rebaselines from the admin API: recorded, on disk, then answered --------------------
    const operatorLogName = `prepay/meter-${node.id}-operator.jsonl`;
    const operatorLog = join(userDir, operatorLogName);
    const rebaseline = (payload: unknown, by: string): RebaselineAnswer => {
      const meterId = String((payload as { meterId?: unknown })?.meterId ?? '');
      try {
        const command = readRebaseline(payload);
        const info = meters.get(command.meterId)?.info ?? upstreamInfo.get(command.meterId);
        if (!info) throw new MeterInputError('meterId', `unknown meter "${command.meterId}"`);
        const ts = command.ts ?? clock.now();
        const previous = engine.state(command.meterId)?.baseline;
        if (previous && ts <= previous.ts)
          throw new MeterInputError(
            'ts',
            `${new Date(ts).toISOString()} is not after the meter's last reading`,
          );
        appendOperatorLog(operatorLog, {
          at: clock.now(),
          action: 'rebaseline',
          meterId: command.meterId,
          value: command.value,
          previous: previous?.value,
          ts,
          reason: command.reason,
          by,
        });
        const outcome = engine.rebaseline(info, command.value, ts, command.reason);
        for (const event of outcome.events) event.by = by;
        deliver(outcome);
        saveState(); // the new baseline is on disk before the operator is told it is applied
        const answer: RebaselineAnswer = {
          ok: true,
          outcome: 'applied',
          meterId: command.meterId,
          value: command.value,
          ts,
          reason: command.reason,
          by,
          reader: { id: node.id, name: node.name || node.id },
          log: operatorLogName,
        };
        if (previous) answer.previous = previous.value;
        return answer;
      } catch (error) {
        const field = error instanceof MeterInputError ? error.field : undefined;
        return {
          ok: false,
          outcome: 'refused',
          meterId,
          code: 'invalid',
          error: (error as Error).message,
          ...(field ? { field } : {}),
        };
      }
    };
    meterReaders.add({
      id: node.id,
      name: node.name || node.id,
      has: (meterId) => meters.has(meterId) || upstreamInfo.has(meterId),
      rebaseline,
    });
    // Checked on the building clock, so a fast clock (simulation) detects silence in building time too.
    let watchdog: TimerHandle | undefined;
    const watchEvery = Math.min(60_000, settings.commLossMs / 4);
    const watch = (): void => {
      watchdog = undefined;
      if (closed) return;
      const now = clock.now();
      for (const [meterId, seen] of lastSeen) {
        if (now - seen < settings.commLossMs) continue;
        const info = upstreamInfo.get(meterId);
        if (info && engine.state(meterId)?.status !== 'comm-loss')
          deliver(engine.commLoss(info, now, `no reading for ${Math.round((now - seen) / 60_000)} min`));
      }
      watchdog = clock.setTimeout(watch, watchEvery);
    };
    if (settings.source === 'messages') watchdog = clock.setTimeout(watch, watchEvery);

    // --- after a restart: send each meter's recent consumption again ---------------------------------
    // Taken now, before any new input changes it; sent once the flow is wired. A downstream node that has a
    // consumption (by its reading id) ignores it; one whose state was not saved before the stop prices it.
    const replays: NodeMessage[] = [];
    for (const state of Object.values(engine.snapshot())) {
      const seen = new Set<string>();
      for (const consumption of [
        ...(state.resend ?? []).flatMap(([, out]) => out),
        ...(state.lastOut ?? []),
      ]) {
        if (seen.has(consumption.readingId)) continue;
        seen.add(consumption.readingId);
        replays.push({ topic: consumption.meterId, payload: consumption, replay: true } as NodeMessage);
      }
    }
    if (replays.length > 0) gate.run(() => sendEach([replays, [], []]));
    // Days that ended while Node-RED was stopped are summarised now (sent once the flows have started).
    closeDays(clock.now());
    armDays();
    // Then the summaries no ledger confirmed before the stop go again (those a ledger holds are confirmed).
    gate.run(() => void checkReceipts(true));

    node.on('input', (msg: NodeMessageInFlow, _send: Send, done: Done) => {
      try {
        const topic = typeof msg.topic === 'string' ? msg.topic : '';
        if (topic === 'replace') {
          const command = readReplace(msg.payload);
          const info = meters.get(command.meterId)?.info ?? upstreamInfo.get(command.meterId);
          if (!info) throw new MeterInputError('meterId', `unknown meter "${command.meterId}"`);
          deliver(engine.replace(info, command.oldFinal, command.newStart, command.ts ?? clock.now()));
        } else if (topic === 'rebaseline') {
          const command = readRebaseline(msg.payload);
          const info = meters.get(command.meterId)?.info ?? upstreamInfo.get(command.meterId);
          if (!info) throw new MeterInputError('meterId', `unknown meter "${command.meterId}"`);
          deliver(engine.rebaseline(info, command.value, command.ts ?? clock.now(), command.reason));
        } else if (topic === 'poll') {
          if (!link) throw new MeterInputError('topic', '"poll" needs the Modbus source');
          const wanted = (msg.payload as { meterId?: unknown } | undefined)?.meterId;
          const list = typeof wanted === 'string' ? [polled.get(wanted)] : order;
          if (list[0] === undefined)
            throw new MeterInputError('meterId', `unknown meter "${String(wanted)}"`);
          // The first meter's request goes on the wire (modbus-serial writes in a microtask) before the other
          // polls are queued behind it: queueing a few hundred takes a while.
          void pollMeter(list[0]!);
          queueMicrotask(() => {
            for (let i = 1; i < list.length; i += 1) void pollMeter(list[i]!);
          });
        } else if (topic === 'stats') {
          _send({
            // A message (not per reading): the spread keeps a user's msg as it was.
            // eslint-disable-next-line no-restricted-syntax
            ...msg,
            payload: extend(counts, { link: link?.stats(), meters: meters.size || lastSeen.size }),
          });
        } else {
          if (settings.source !== 'messages')
            throw new MeterInputError(
              'topic',
              `unknown command "${topic}" (replace, rebaseline, poll, stats); readings from messages need the "messages" source`,
            );
          const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
          // Check every reading first so a bad one in a batch changes nothing.
          const readings = items.map((item, index) =>
            readUpstreamReading(item, msg.topic, items.length > 1 ? `payload[${index}].` : ''),
          );
          const infos = readings.map((reading) =>
            infoFor(reading.meterId, reading.utility, reading.unit, reading.accountId),
          );
          readings.forEach((reading, index) => {
            const info = infos[index]!;
            upstreamInfo.set(reading.meterId, info);
            const now = clock.now();
            // Silence is judged by when readings arrive: a time stamp from the sender may be anything.
            lastSeen.set(reading.meterId, now);
            deliver(engine.reading(info, reading.value, reading.ts ?? now));
          });
        }
        done();
      } catch (error) {
        // A plain Error: Catch nodes show "field: problem", not the class name in front of it.
        done(new Error((error as Error).message));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      meterReaders.remove(node.id);
      if (pollTimer) clock.clearTimeout(pollTimer);
      clearInterval(statusTimer);
      if (watchdog) clock.clearTimeout(watchdog);
      if (dayTimer) clock.clearTimeout(dayTimer);
      clearInterval(receiptTimer);
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = undefined;
      // Whatever is computed is saved and sent before the node goes (if the flows ever started).
      sendNow();
      flush();
      gate.close();
      try {
        saveState();
      } catch (error) {
        node.error(`prepay-meter: could not save state: ${(error as Error).message}`);
      }
      if (link)
        link.release().then(
          () => done(),
          () => done(),
        );
      else done();
    });
  }

  RED.nodes.registerType('prepay-meter', PrepayMeterNode);
};

/** An event's naming of a register and the exception the device answered. */
function registerDetail(valueName: string, span: Span, code: number): Record<string, unknown> {
  return { valueName, function: span.function, address: span.address, registers: span.length, code };
}
