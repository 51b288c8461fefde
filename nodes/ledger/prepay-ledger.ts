/**
 * prepay-ledger: the prepaid accounts. Takes commands (topup, refund, adjust, reverse, open, close,
 * bind, unbind, emergency, balance, statement, summary, verify; tenant-token for the tenant API's access
 * tokens) and charges from the tariff node; answers each on output 1 once it is durably stored, sends account
 * states on output 2, and alarms on output 3.
 *
 * Accepted means durable: a posting is in the node's intake journal (on local disk, fsynced) before the
 * ledger works on it, and stays there until the store has it; a stop, crash or power cut inside a store
 * outage loses nothing, and the journal is posted again, in order, at the next start.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { Clock, type TimerHandle } from '../core/clock';
import { ReferenceConflict } from '../core/ledger/idempotency';
import { Ledger, LedgerResponse } from '../core/ledger/ledger';
import { readRequest } from '../core/ledger/requests';
import { AccountState } from '../core/messages';
import { chargeReceipts, daySummaryReceipts, type ChargeReceiver } from '../shared/charge-receipts';
import { runtimeClock, wallClock } from '../shared/runtime-clock';
import { StartGate } from '../shared/start-gate';
import type { TenantAccess } from '../core/tenant/access-tokens';
import { isAccessTokenCommand, runAccessTokenCommand, tenantAccess } from './access-token-command';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import { StoreNode } from '../store/store-config';
import { IntakeJournal } from './intake-journal';
import { readLedgerSettings, LedgerNodeSettings } from './ledger-config';
import { LedgerJobs } from './ledger-jobs';
import { localDate } from '../tariff/calendar-scheduler';
import { activeLedgers, activeReconciliations, registerLedgerAdminRoutes } from './ledger-admin';
import { JournalAlarms } from './journal-alarms';
import { LedgerIntake, type PostingRequest } from './ledger-intake';
import { operatorLedgers, registerLedgerOperatorRoutes } from './ledger-operator';
import { LedgerReconciliation } from './ledger-reconciliation';
import {
  isMeterDay,
  isOtherMeterEvent,
  isReconcileRequest,
  readMeterDay,
  readReconcileRequest,
  readSummaryReceipt,
} from './reconciliation-messages';
import type { ReconciliationReport } from '../core/ledger/reconcile';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

export = function register(RED: NodeAPI): void {
  registerLedgerAdminRoutes(RED);
  registerLedgerOperatorRoutes(RED);

  function PrepayLedgerNode(this: Node, config: NodeDef & LedgerNodeSettings): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock: Clock = runtimeClock(RED.settings);
    const storeNode = RED.nodes.getNode(config.store) as unknown as StoreNode | null;
    const fail = (message: string): void => {
      node.status(faultStatus(message));
      node.error(`prepay-ledger: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-ledger: ${message}`)),
      );
    };
    if (!storeNode?.store) return fail('no store configured');
    let options;
    try {
      options = readLedgerSettings(config);
    } catch (error) {
      return fail((error as Error).message);
    }
    const settings = options;
    let postings = 0;
    let health: { up: boolean; queued: number; error?: string } = { up: true, queued: 0 };
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    let journal: IntakeJournal;
    try {
      // settings.js `prepay: { journalReserveMiB }`: the disk space held ready for postings (default 16 MiB).
      const reserveMiB = Number(
        (RED.settings as unknown as { prepay?: { journalReserveMiB?: number } }).prepay?.journalReserveMiB ??
          16,
      );
      journal = new IntakeJournal(
        join(userDir, 'prepay', `ledger-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.journal`),
        {
          reserveBytes: Math.max(64 * 1024, Math.round(reserveMiB * 2 ** 20)),
          // Postings are counted per local day of receipt, for the reconciliation.
          dayOf: (t) => localDate(settings.zone, t),
        },
      );
    } catch (error) {
      return fail(`cannot open the intake journal: ${(error as Error).message}`);
    }
    // States, snapshots and answers to journaled postings wait until every node of the deploy exists.
    const gate = new StartGate(RED);
    const emit = (msg: Array<NodeMessage | null>): void => gate.run(() => node.send(msg));
    const alarms = new JournalAlarms((alarm) => {
      emit([null, null, { topic: 'alarm', payload: alarm }]);
      if (alarm.alarm) node.warn(`prepay-ledger: ${alarm.text}`);
    });

    // Every posting changes the count: shown at most a few times a second.
    const status = throttledStatus(node);
    const renderStatus = (): NodeStatus => {
      const backlog = intake.backlog;
      if (journal.growthProblem && journal.reserveLeft < 1 << 20)
        return faultStatus(`journal nearly full: ${backlog} waiting`);
      if (!health.up)
        return faultStatus(`store down, ${backlog} journaled: ${(health.error ?? '').slice(0, 40)}`);
      if (backlog > 100) return degradedStatus(`${backlog} journaled, waiting for the store`);
      return okStatus(`${postings} posted · ${storeNode.describe()}`);
    };
    const showStatus = (): void => {
      alarms.check(intake.backlog, journal);
      status.show(renderStatus);
    };

    const emitState = (state: AccountState): void => {
      emit([null, { topic: state.accountId, payload: state }, null]);
    };

    const ledger = new Ledger(storeNode.store, {
      clock,
      defaults: settings.defaults,
      rounding: settings.rounding,
      maxQueue: settings.maxQueue,
      onState: (state, _account, changed) => {
        if (changed || settings.stateOutput === 'posting') emitState(state);
      },
      onHealth: (h) => {
        health = h;
        showStatus();
      },
    });
    activeLedgers.set(node.id, ledger);

    const reconciliation = new LedgerReconciliation(
      ledger,
      journal,
      settings.zone,
      join(userDir, 'prepay', `ledger-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}-reconciliation.json`),
      (text) => node.warn(`prepay-ledger: ${text}`),
    );
    activeReconciliations.set(node.id, reconciliation);
    /** A report goes out on output 3; anything unexplained is an alarm. */
    const announce = (report: ReconciliationReport): void => {
      emit([null, null, { topic: 'reconciliation', payload: report, alarm: !report.ok }]);
      if (!report.ok)
        node.warn(
          `prepay-ledger: reconciliation of ${report.period.label}: ${report.unexplained} unexplained finding(s): ${report.findings
            .filter((f) => !f.explained)
            .slice(0, 3)
            .map((f) => `${f.subject}: ${f.text}`)
            .join('; ')}`,
        );
    };

    /** A charge that came again priced otherwise: a duplicate (the original stands), worth a word in the log. */
    const warnRepriced = (response: LedgerResponse, reference: string): void => {
      if (response.repriced)
        node.warn(
          `prepay-ledger: ${reference} came again priced at ${response.repriced.attempted} sub-minor units; it was posted at ${response.repriced.original}, which stands`,
        );
    };

    const intake = new LedgerIntake(ledger, journal, {
      // Room for the ledger's own jobs (debt recovery) beside the postings fed to it.
      window: Math.max(1, settings.maxQueue - 100),
      onPosted: (response: LedgerResponse, request: PostingRequest) => {
        if (!response.duplicate) postings += 1;
        warnRepriced(response, request.reference);
      },
      onRefused: (error: Error, request: PostingRequest | undefined, seq: number) => {
        // Nobody waits for this one any more (it came from the journal): Catch nodes get it.
        const conflict = error instanceof ReferenceConflict ? error.details() : undefined;
        if (conflict) node.warn(`prepay-ledger: ${error.message}`);
        node.error(
          `prepay-ledger: journaled posting ${request?.reference ?? `#${seq}`} refused: ${error.message}`,
          {
            topic: 'refused',
            payload: { reference: request?.reference, command: request?.command, error: error.message },
            ...(conflict ? { conflict } : {}),
          },
        );
      },
      onChange: showStatus,
      onRefusal: (request, error, receivedAt) => reconciliation.recordRefusal(request, error, receivedAt),
    });
    // Operators' postings from the admin API take the same way as the input's: journal, then ledger. Each is
    // followed by the account's state, whatever the state output mode (few; the dashboard and the BEMS should
    // show a desk top-up at once).
    operatorLedgers.set(node.id, {
      submit: (request, payload, from) =>
        intake.submit(request, request.command, payload, clock.now(), {
          answer: (response) => {
            if (!response.duplicate) postings += 1;
            showStatus();
            from.answer(response);
          },
          fail: (error) => {
            showStatus();
            from.fail(error);
          },
          release: () => from.release(),
        }),
      announce: (accountId) =>
        ledger.execute({ command: 'balance', accountId }).then(
          ({ result }) => {
            const { ok: _ok, command: _command, ...state } = result as Record<string, unknown>;
            emitState(state as unknown as AccountState);
          },
          (error: Error) => node.warn(`prepay-ledger: no state for ${accountId}: ${error.message}`),
        ),
    });
    const replayed = intake.start();
    if (replayed > 0)
      node.log(`prepay-ledger: ${replayed} journaled posting(s) from before the stop are posted again`);

    // Producers of charges (tariff nodes) learn here which of their charges this ledger holds for good.
    const receiver: ChargeReceiver = {
      holds: async (references) => {
        const held = new Set<string>();
        const unknown: string[] = [];
        for (const reference of references) {
          if (journal.holds(reference)) held.add(reference);
          else unknown.push(reference);
        }
        for (const reference of await ledger.existingReferences(unknown)) held.add(reference);
        return held;
      },
    };
    chargeReceipts.add(receiver);
    // Meter readers learn here which of their day summaries this ledger holds on disk.
    const summaryReceiver: ChargeReceiver = {
      holds: (receipts) => Promise.resolve(reconciliation.holds(receipts)),
    };
    daySummaryReceipts.add(summaryReceiver);

    const jobs = new LedgerJobs(
      clock,
      ledger,
      settings.zone,
      settings.snapshotMs,
      (states) => states.forEach(emitState),
      (error) => node.error(`prepay-ledger: periodic job failed: ${error.message}`),
      (date) => reconciliation.runDay(date, clock.now()).then(announce),
    );
    jobs.start();
    // Days whose reconciliation a stopped Node-RED missed (up to a week) run half an hour of building time after
    // the start, when the meter readers' day summaries of those days have come in.
    const missed = reconciliation.missedDays(clock.now(), 7);
    let catchUp: TimerHandle | undefined;
    if (missed.length > 0)
      catchUp = clock.setTimeout(() => {
        missed
          .reduce<Promise<unknown>>(
            (chain, date) => chain.then(() => reconciliation.runDay(date, clock.now()).then(announce)),
            Promise.resolve(),
          )
          .catch((error: Error) => node.error(`prepay-ledger: reconciliation failed: ${error.message}`));
      }, 30 * 60_000);
    storeNode.store.init().then(
      () => {
        showStatus();
        jobs.snapshotNow();
      },
      (error: Error) => {
        health = { up: false, queued: ledger.queued, error: error.message };
        showStatus();
      },
    );

    let access: TenantAccess | undefined;
    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (isAccessTokenCommand(msg)) {
        try {
          access ??= tenantAccess(storeNode.store, wallClock(RED.settings));
        } catch (error) {
          return done(error as Error);
        }
        runAccessTokenCommand(access, msg).then((result) => {
          msg.payload = result;
          gate.run(() => send([msg, null, null]));
          done();
        }, done);
        return;
      }
      let request;
      const receivedAt = clock.now();
      // The reconciliation's inputs and requests: a meter reader's day summary, or "reconcile now".
      if (isMeterDay(msg.topic, msg.payload)) {
        try {
          // Kept on disk before it is confirmed to its reader; the same summary again changes nothing.
          reconciliation.addMeterDay(readMeterDay(msg.payload), readSummaryReceipt(msg.payload));
          return done();
        } catch (error) {
          return done(error as Error);
        }
      }
      if (isOtherMeterEvent(msg.payload)) return done();
      if (isReconcileRequest(msg.topic, msg.payload)) {
        let asked;
        try {
          asked = readReconcileRequest(msg.payload);
        } catch (error) {
          return done(error as Error);
        }
        const yesterday = reconciliation.localDate(receivedAt - 86_400_000);
        const running =
          asked.from !== undefined && asked.to !== undefined
            ? reconciliation.run(
                {
                  from: asked.from,
                  to: asked.to,
                  label: `${new Date(asked.from).toISOString()}/${new Date(asked.to).toISOString()}`,
                },
                receivedAt,
              )
            : reconciliation.runDay(asked.date ?? yesterday, receivedAt);
        running.then(
          (report) => {
            announce(report);
            msg.payload =
              asked.format === 'csv'
                ? Object.assign({}, report, { csv: reconciliation.csv(report) })
                : report;
            send([msg, null, null]);
            done();
          },
          (error: Error) => done(error),
        );
        return;
      }
      try {
        request = readRequest(msg.topic, msg.payload, receivedAt);
      } catch (error) {
        return done(error as Error);
      }
      const answer = (response: LedgerResponse): void => {
        showStatus();
        msg.payload = response.result;
        (msg as NodeMessage).duplicate = response.duplicate;
        gate.run(() => send([msg, null, null]));
        done();
      };
      if (!('reference' in request)) {
        // Reading commands (balance, statement, summary, verify) change nothing: no journal.
        ledger.execute(request).then(answer, (error: Error) => done(error));
        return;
      }
      intake.submit(request, msg.topic, msg.payload, receivedAt, {
        answer: (response) => {
          if (!response.duplicate) postings += 1;
          warnRepriced(response, request.reference);
          answer(response);
        },
        fail: (error) => {
          showStatus();
          if (error instanceof ReferenceConflict) {
            // A reference reused for other content is never a retry: both postings go to the Catch node (for an
            // HTTP answer), and a warning goes to the log whether or not a Catch node handles the error.
            (msg as NodeMessage & { conflict?: unknown }).conflict = error.details();
            node.warn(`prepay-ledger: ${error.message}`);
          }
          done(error);
        },
        release: () => done(),
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      jobs.stop();
      if (catchUp) clock.clearTimeout(catchUp);
      status.stop();
      gate.close();
      intake.stop();
      chargeReceipts.remove(receiver);
      daySummaryReceipts.remove(summaryReceiver);
      ledger.close();
      activeLedgers.delete(node.id);
      operatorLedgers.delete(node.id);
      activeReconciliations.delete(node.id);
      try {
        reconciliation.flush();
      } catch (error) {
        node.error(`prepay-ledger: could not save the reconciliation state: ${(error as Error).message}`);
      }
      try {
        journal.close();
      } catch (error) {
        node.error(`prepay-ledger: could not close the intake journal: ${(error as Error).message}`);
      }
      done();
    });
  }

  RED.nodes.registerType('prepay-ledger', PrepayLedgerNode);
};
