/**
 * prepay-tariff: prices consumption messages into charges, and raises standing and monthly charges
 * at local midnight. A thin Node-RED shell around the pure engine in core/tariff.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { Clock } from '../core/clock';
import { runtimeClock } from '../shared/runtime-clock';
import { Charge, Credit, Utility } from '../core/messages';
import { formatSubMinor } from '../core/money';
import { CarbonSignal, PriceSignal, TariffEngine } from '../core/tariff/engine';
import { emptyEngineState, parseEngineState, TariffEngineState } from '../core/tariff/state';
import { chargeReceipts } from '../shared/charge-receipts';
import { StartGate } from '../shared/start-gate';
import { StateFile } from '../shared/state-file';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import { CalendarScheduler } from './calendar-scheduler';
import { ChargeOutbox, ledgerReference, OutboxItem, SavedOutboxEntry } from './charge-outbox';
import { registerTariffAdminRoutes } from './tariff-admin';
import { readCarbonSignal, readConsumption, readOccupancy, readPriceSignal } from './tariff-messages';
import { TariffSet } from './tariff-set';

interface TariffNodeDef extends NodeDef {
  tariffs: string;
  defaultTariff: string;
  mapping: string;
  select: string;
  selectType: string;
  calendar: boolean;
  persist: boolean;
}

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/** What the node saves: the engine's state and the charges no ledger has confirmed yet. */
type TariffNodeState = TariffEngineState & { outbox?: SavedOutboxEntry[] };

/** A sent charge is asked after once it had this long to reach a ledger. */
const CONFIRM_AFTER_MS = 1000;
const CONFIRM_EVERY_MS = 2000;

/**
 * The message that posts an outbox item: a charge as it is, a credit as the ledger's `adjust` of the balance
 * (its reference makes it post once however often it is sent).
 */
function itemMessage(item: OutboxItem, replay = false): NodeMessage {
  const msg: NodeMessage & { replay?: boolean } =
    item.kind === 'credit'
      ? { topic: 'adjust', payload: creditPayload(item) }
      : { topic: 'charge', payload: item };
  if (replay) msg.replay = true;
  return msg;
}

function creditPayload(credit: Credit): object {
  return Object.assign({ command: 'adjust', register: 'balance' }, credit);
}

function evaluate(RED: NodeAPI, node: Node, value: string, type: string, msg: NodeMessage): Promise<unknown> {
  if (!value && type !== 'env') return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) =>
      err ? reject(err) : resolve(result),
    );
  });
}

export = function register(RED: NodeAPI): void {
  registerTariffAdminRoutes(RED);

  function PrepayTariffNode(this: Node, config: TariffNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock: Clock = runtimeClock(RED.settings);
    let priced = 0;

    let tariffSet: TariffSet;
    try {
      // One broken tariff does not stop the others: it is marked, and what it would price fails naming why.
      tariffSet = TariffSet.build(
        { tariffs: config.tariffs, defaultTariff: config.defaultTariff, mapping: config.mapping },
        { partial: true },
      );
    } catch (error) {
      node.status(faultStatus('invalid tariff'));
      node.error(`prepay-tariff: ${(error as Error).message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-tariff is not configured: ${(error as Error).message}`)),
      );
      return;
    }

    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    if (!userDir && config.persist !== false)
      node.warn('prepay-tariff: no user directory in settings; state is not persisted');
    const stateFile =
      config.persist === false || !userDir
        ? undefined
        : new StateFile<TariffNodeState>(
            join(userDir, 'prepay', `tariff-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`),
            (value) =>
              Object.assign(parseEngineState(value), {
                outbox: (value as { outbox?: SavedOutboxEntry[] }).outbox,
              }),
          );
    if (stateFile)
      stateFile.onWriteError = (error) =>
        node.error(`prepay-tariff: cannot save state (tried again shortly): ${error.message}`);
    let state: TariffNodeState = emptyEngineState();
    let degraded: string | undefined;
    if (tariffSet.invalid.size > 0) {
      const names = [...tariffSet.invalid.keys()];
      degraded = `${names.length} tariff(s) invalid: ${names.join(', ')}`.slice(0, 60);
      for (const [name, broken] of tariffSet.invalid) {
        node.error(
          `prepay-tariff: tariff "${name}" is invalid and prices nothing (the others do): ` +
            broken.problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; '),
        );
      }
    }
    for (const warning of tariffSet.warnings)
      node.warn(`prepay-tariff: tariff "${warning.tariff}" ${warning.path}: ${warning.message}`);
    if (stateFile) {
      const loaded = stateFile.load();
      if (loaded.value) state = loaded.value;
      if (loaded.problem) {
        degraded = degraded ? `state restored with problems; ${degraded}` : 'state restored with problems';
        node.warn(`prepay-tariff: ${loaded.problem}`);
      }
    }
    const outbox = new ChargeOutbox();
    outbox.load(state.outbox);
    delete state.outbox;
    const engine = new TariffEngine(state);
    engine.adoptLegacy(tariffSet.tariffs);
    const prices = new Map<string, PriceSignal>();
    let carbon: CarbonSignal | undefined;
    // Start-up catch-up and re-sends wait until every node of the deploy exists.
    const gate = new StartGate(RED);

    const persist = (): void =>
      stateFile?.save(() => Object.assign({}, engine.snapshot(), { outbox: outbox.snapshot() }));
    // Every charge changes the count: shown at most a few times a second.
    const status = throttledStatus(node);
    const renderStatus = (last?: Charge): NodeStatus => {
      if (degraded && !last) return degradedStatus(degraded);
      if (degraded && last) return degradedStatus(`${priced} priced · ${degraded}`.slice(0, 60));
      const text = last
        ? `${priced} priced · last ${formatSubMinor(last.amount, last.currency)
            .replace(/(\.\d*?)0+$/, '$1')
            .replace(/\.$/, '')} ${last.currency}`
        : `${tariffSet.tariffs.size} tariff(s) ready`;
      return okStatus(text);
    };
    const showStatus = (last?: Charge): void => status.show(() => renderStatus(last));
    showStatus();

    const emitCalendar = (charges: Charge[], credits: Credit[] = []): void => {
      const now = clock.now();
      const items: OutboxItem[] = [...charges, ...credits];
      for (const item of items) outbox.add(item, now, Date.now());
      persist();
      gate.run(() => {
        for (const item of items) node.send(itemMessage(item));
      });
    };

    // --- the outbox: charges sent again after a restart until a ledger confirms it holds them ---------------
    let confirming = false;
    const confirm = async (): Promise<void> => {
      if (confirming) return;
      confirming = true;
      try {
        let changed = outbox.expire(clock.now(), Date.now()) > 0;
        if (chargeReceipts.receivers > 0 && outbox.size > 0) {
          const due = outbox.due(Date.now(), CONFIRM_AFTER_MS, 20_000);
          if (outbox.confirm(await chargeReceipts.held(due)) > 0) changed = true;
          // A ledger is here and does not hold these: lost on the way, or refused (then it says why again).
          const again = gate.open ? outbox.resendDue(Date.now()) : [];
          if (again.length > 0) {
            changed = true;
            node.send([again.map((item) => itemMessage(item, true))]);
          }
        }
        if (changed) persist();
      } finally {
        confirming = false;
      }
    };
    const confirmTimer = setInterval(() => void confirm(), CONFIRM_EVERY_MS);
    confirmTimer.unref?.();
    gate.run(() => {
      // After a restart: what no ledger confirmed before the stop goes again (a ledger that has it ignores
      // it); asking first spares the ledger the ones it is known to hold.
      const waiting = outbox.charges();
      if (waiting.length === 0) return;
      const resend = (held: ReadonlySet<string>): void => {
        const again = waiting.filter((item) => !held.has(ledgerReference(item)));
        outbox.confirm(held);
        for (const item of again) node.send(itemMessage(item, true));
        if (again.length > 0) node.log(`prepay-tariff: ${again.length} unconfirmed charge(s) sent again`);
      };
      if (chargeReceipts.receivers === 0) return resend(new Set());
      chargeReceipts.held(waiting.map(ledgerReference)).then(resend, () => resend(new Set()));
    });
    const scheduler =
      config.calendar === false
        ? undefined
        : new CalendarScheduler(clock, engine, () => tariffSet.tariffs, emitCalendar);
    scheduler?.start();

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      handle(msg, send).then(
        () => done(),
        (error: Error) => {
          node.status(faultStatus(error.message.slice(0, 60)));
          done(error);
        },
      );
    });

    async function handle(msg: NodeMessageInFlow, send: Send): Promise<void> {
      const now = clock.now();
      if (msg.topic === 'price') {
        const name = (msg.payload as { tariff?: string } | undefined)?.tariff;
        const targets = [...tariffSet.tariffs.values()].filter(
          (t) => t.energy.type === 'dynamic' && (name === undefined || t.name === name),
        );
        if (targets.length === 0)
          throw new Error(`price signal: no dynamic tariff${name ? ` named "${name}"` : ''} in this node`);
        for (const tariff of targets) prices.set(tariff.name, readPriceSignal(msg.payload, tariff, now));
        node.status(okStatus(`price signal for ${targets.map((t) => t.name).join(', ')}`));
        return;
      }
      if (msg.topic === 'carbon') {
        carbon = readCarbonSignal(msg.payload, now);
        return;
      }
      if (msg.topic === 'calendar') {
        const date = (msg.payload as { date?: unknown } | undefined)?.date;
        if (date !== undefined && (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date))) {
          throw new Error('calendar: payload.date must be a local date "YYYY-MM-DD"');
        }
        if (!scheduler) throw new Error('calendar charges are turned off in this node');
        scheduler.runDue(date as string | undefined);
        return;
      }
      if (msg.topic === 'move-in' || msg.topic === 'move-out') {
        occupancy(msg.topic, msg.payload);
        return;
      }

      const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
      const requested = await evaluate(RED, node, config.select, config.selectType, msg);
      const out: NodeMessage[] = [];
      let last: Charge | undefined;
      try {
        items.forEach((item: unknown, index) => {
          const where = items.length > 1 ? `payload[${index}].` : '';
          let input;
          try {
            input = readConsumption(item);
            // Declared quantities may ride on the message instead (set by a change node from the site's table).
            if (input.declared === undefined && msg.declared !== undefined)
              input = readConsumption(Object.assign({}, item, { declared: msg.declared }));
          } catch (error) {
            throw new Error(`${where}${(error as Error).message}`);
          }
          const name = typeof requested === 'string' && requested !== '' ? requested : input.tariff;
          const tariff = tariffSet.choose(name, input.accountId, input.utility);
          const outcome = engine.priceConsumption(tariff, input, {
            now,
            prices: prices.get(tariff.name),
            carbon,
          });
          if (outcome.status === 'priced') {
            priced += 1;
            last = outcome.charge;
            outbox.add(outcome.charge, now, Date.now());
            out.push({ topic: 'charge', payload: outcome.charge });
          } else if (outcome.charge ?? outbox.find(outcome.readingId)) {
            // A replay: the original charge again, so a ledger that missed it can still post it.
            out.push({
              topic: 'charge',
              payload: outcome.charge ?? outbox.find(outcome.readingId),
              replay: true,
            });
          } else {
            node.debug(`reading ${outcome.readingId} of meter ${input.meterId} was priced before; ignored`);
          }
        });
      } finally {
        if (out.length > 0) persist();
        if (items.length === 1 && out.length === 1) {
          // One in, one out: keep the message's other properties, as core nodes do.
          const one = Object.assign(msg, out[0]);
          gate.run(() => send(one));
        } else if (out.length > 0) {
          gate.run(() => send([out]));
        }
      }
      showStatus(last);
    }

    /**
     * A move-in or move-out of an account, for one utility or (without one) every utility this node prices for
     * it. A move-out raises the final items at once when its last day has been raised (else at that midnight).
     */
    function occupancy(topic: 'move-in' | 'move-out', payload: unknown): void {
      const { accountId, utility, date } = readOccupancy(payload, topic);
      const known = engine
        .knownAccounts()
        .filter((a) => a.account === accountId && (utility === undefined || a.utility === utility));
      const targets: Array<{ utility?: Utility; tariff?: string }> =
        known.length > 0 ? known : topic === 'move-in' ? [{ utility, tariff: undefined }] : [];
      if (targets.length === 0)
        throw new Error(
          `move-out: account "${accountId}" has no ${utility ?? ''} consumption priced by this node`,
        );
      const charges: Charge[] = [];
      for (const target of targets) {
        const tariff =
          (target.tariff === undefined ? undefined : tariffSet.tariffs.get(target.tariff)) ??
          tariffSet.choose(undefined, accountId, target.utility);
        const meta = { accountId, utility: target.utility ?? tariff.utility };
        if (topic === 'move-in') engine.moveIn(tariff, accountId, date, meta.utility);
        else charges.push(...engine.moveOut(tariff, accountId, date, meta));
      }
      // Whatever is due now (the days up to today, a move-out's final items) goes at once.
      const due = scheduler ? [] : engine.takeCredits();
      emitCalendar(charges, due);
      scheduler?.runDue();
      node.status(okStatus(`${topic} ${accountId} ${date}`));
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      scheduler?.stop();
      gate.close();
      clearInterval(confirmTimer);
      status.stop();
      try {
        stateFile?.flush();
      } catch (error) {
        node.error(`prepay-tariff: could not save state: ${(error as Error).message}`);
      }
      done();
    });
  }

  RED.nodes.registerType('prepay-tariff', PrepayTariffNode);
};
