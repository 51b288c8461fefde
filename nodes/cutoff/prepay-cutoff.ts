/**
 * prepay-cutoff: safe, policy-driven disconnect, limit and reconnect. Takes account states from the ledger and
 * the meter reader's news, decides per meter by an explicit policy (nodes/core/cutoff/policy.ts), drives the
 * relays through a shared prepay-modbus link with read-back (or only emits relay commands for other actuators),
 * and writes every command and override to the supply audit log in the ledger store.
 * Load-control limits (topic "limit", from prepay-loadcontrol's demand limiting) limit a tenant's supply where the
 * policy wants it connected (nodes/core/cutoff/policy.ts rule 6).
 * Output 1: relay commands as carried out. Output 2: alarms, warnings, override and limit answers.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { TimerHandle } from '../core/clock';
import { CutoffController, type Outcome, type SavedMeter } from '../core/cutoff/controller';
import { loadLimitRefusal, overrideRefusal, type Override } from '../core/cutoff/policy';
import type { AuditRecord, LedgerStore } from '../core/ledger/store';
import type { ModbusConfigNode } from '../modbus/link-config';
import { runtimeClock } from '../shared/runtime-clock';
import { StartGate } from '../shared/start-gate';
import { StateFile } from '../shared/state-file';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import type { StoreNode } from '../store/store-config';
import { readCutoffSettings, type CutoffNodeDef, type CutoffSettings } from './cutoff-config';
import {
  CutoffInputError,
  readCutoffInput,
  type LoadLimitAnswer,
  type LoadLimitInput,
} from './cutoff-messages';
import {
  cutoffRelays,
  registerCutoffAdminRoutes,
  type OverrideAnswer,
  type RelayOutcome,
} from './cutoff-admin';
import { RelayDriver, relayTarget, type RelayTarget } from './relay-driver';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

interface SavedState {
  version: 1;
  meters: Record<string, SavedMeter>;
}

/** A relay that disagrees with its command for longer than this is a fault. */
const FAULT_AFTER_MS = 5000;
/** How long, after a start, a meter without any account state yet holds before it raises an alarm. */
const START_QUIET_MS = 120_000;

export = function register(RED: NodeAPI): void {
  registerCutoffAdminRoutes(RED);

  function PrepayCutoffNode(this: Node, config: NodeDef & CutoffNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock = runtimeClock(RED.settings);
    const fail = (message: string): void => {
      node.status(faultStatus(message.slice(0, 60)));
      node.error(`prepay-cutoff: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-cutoff: ${message}`)),
      );
    };
    let settings: CutoffSettings;
    const targets = new Map<string, RelayTarget>();
    try {
      settings = readCutoffSettings(config);
      if (settings.mode === 'modbus') {
        for (const row of settings.rows) {
          const target = relayTarget(row, settings.profiles, settings.relayModuleProfile);
          if (!target)
            throw new Error(`meter ${row.meterId}: its profile "${row.profile}" has no relay ("builtin")`);
          targets.set(row.meterId, target);
        }
      }
    } catch (error) {
      return fail((error as Error).message);
    }
    const linkNode =
      settings.mode === 'modbus' ? (RED.nodes.getNode(config.link ?? '') as ModbusConfigNode | null) : null;
    if (settings.mode === 'modbus' && !linkNode?.link)
      return fail(linkNode ? `Modbus link is not usable: ${linkNode.problem}` : 'no Modbus link configured');
    const link = linkNode?.link;
    const driver = link ? new RelayDriver(link) : undefined;
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as unknown as StoreNode | null) : null;
    const store: LedgerStore | undefined = storeNode?.store;

    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const stateFile = new StateFile<SavedState>(
      join(userDir, 'prepay', `cutoff-${node.id}.json`),
      (value) => {
        const saved = value as SavedState;
        if (saved?.version !== 1 || typeof saved.meters !== 'object')
          throw new Error('not a cutoff state file');
        return saved;
      },
      0,
    );
    const loaded = stateFile.load();
    if (loaded.problem) node.warn(`prepay-cutoff: ${loaded.problem}`);
    // At start the ledger's first account states are awaited quietly (holding) for up to two minutes.
    const controller = new CutoffController(
      settings.policy,
      clock.now() + Math.min(settings.policy.maxStateAgeMs, START_QUIET_MS),
    );
    for (const row of settings.rows) {
      controller.addMeter(
        {
          meterId: row.meterId,
          accountId: row.accountId!,
          utility: row.utility,
          canLimit: settings.canLimit,
        },
        loaded.value?.meters[row.meterId],
      );
    }
    const persist = (): void => {
      try {
        stateFile.save(() => ({ version: 1, meters: controller.snapshot() }));
        stateFile.flush();
      } catch (error) {
        node.error(`prepay-cutoff: cannot save state: ${(error as Error).message}`);
      }
    };

    // Decisions taken at start (and on the timers of a fast clock) wait until every node of the deploy exists.
    const gate = new StartGate(RED);
    const emit = (msg: Array<NodeMessage | null>): void => gate.run(() => node.send(msg));

    // What every relay was last commanded, from the state file, once at start: displays, the BEMS and history
    // start from the relays as they are (a restart sends no new command, so they would not hear of it).
    // Marked `restored`: not a new command, nothing is audited.
    for (const row of settings.rows) {
      const view = controller.view(row.meterId);
      if (!view?.commanded) continue;
      emit([
        {
          topic: row.meterId,
          payload: {
            meterId: row.meterId,
            accountId: row.accountId,
            utility: row.utility,
            action: view.commanded,
            ...(view.commanded === 'limit' ? { limitW: view.commandedLimitW ?? settings.policy.limitW } : {}),
            at: view.commandedAt,
            reason: 'as commanded before the start',
            policy: settings.policy.name,
            restored: true,
          },
        },
        null,
      ]);
    }

    // --- audit ----------------------------------------------------------------------------------------
    /** Resolves true once the entry is in the store, false (after an error for Catch nodes) if it is not. */
    const audit = (record: AuditRecord): Promise<boolean> => {
      if (!store) return Promise.resolve(false);
      return store.appendAudit([record]).then(
        () => true,
        (error: Error) => {
          node.error(`prepay-cutoff: audit entry ${record.reference} not written: ${error.message}`, {
            payload: record,
          });
          return false;
        },
      );
    };
    /** The audit entry of a relay command, with the operator whose override it obeys. */
    const commandRecord = (
      command: NonNullable<Outcome['command']>,
      at: number,
      detail?: Record<string, unknown>,
    ): AuditRecord => {
      const record: AuditRecord = {
        reference: `cmd:${command.meterId}:${at}`,
        at,
        kind: 'command',
        meterId: command.meterId,
        accountId: command.accountId,
        action: command.action,
        reason: command.reason,
        policy: command.policy,
      };
      if (command.by !== undefined) record.actor = command.by;
      const limited = command.limitW !== undefined ? { limitW: command.limitW } : undefined;
      if (detail || limited) record.detail = { ...limited, ...detail };
      return record;
    };

    // --- alarms and status -------------------------------------------------------------------------------
    const activeAlarms = new Map<string, string>();
    const alarm = (
      meterId: string,
      accountId: string | undefined,
      type: string,
      text: string,
      raised = true,
    ): void => {
      const key = `${meterId}:${type}`;
      if (raised) activeAlarms.set(key, text);
      else activeAlarms.delete(key);
      emit([
        null,
        {
          topic: type,
          payload: {
            type,
            meterId,
            accountId,
            alarm: raised,
            text,
            ts: clock.now(),
            policy: settings.policy.name,
          },
        },
      ]);
    };
    // Counted over every meter, so shown at most a few times a second however many states arrive.
    const status = throttledStatus(node);
    const renderStatus = (): NodeStatus => {
      const views = controller.meterIds().map((id) => controller.view(id)!);
      const off = views.filter((v) => v.commanded === 'disconnect').length;
      const limited = views.filter((v) => v.commanded === 'limit').length;
      const text = `${views.length - off - limited} on, ${off} off${limited ? `, ${limited} limited` : ''}`;
      if (link && link.stats().state === 'down') return faultStatus(`link down · ${text}`);
      if (activeAlarms.size > 0) return degradedStatus(`${activeAlarms.size} alarm(s) · ${text}`);
      return okStatus(text);
    };
    const showStatus = (): void => status.show(renderStatus);

    // --- carrying out decisions ----------------------------------------------------------------------------
    const inFlight = new Set<string>();
    let closed = false;
    /**
     * Carries out what the policy decided; says what the relay did (undefined: no command was due) and when the
     * command's audit entry is written. The relay is free for its next command at once: an audit write never
     * holds up the policy.
     */
    const carryOut = async (
      outcome: Outcome,
    ): Promise<{ relay: RelayOutcome; audited: Promise<boolean> } | undefined> => {
      if (outcome.alarm) alarm(outcome.meterId, outcome.accountId, 'policy', outcome.alarm);
      if (outcome.alarmCleared) alarm(outcome.meterId, outcome.accountId, 'policy', 'cleared', false);
      if (outcome.warn)
        emit([
          null,
          {
            topic: 'warning',
            payload: {
              type: 'warning',
              meterId: outcome.meterId,
              accountId: outcome.accountId,
              alarm: false,
              text: outcome.warn,
              ts: clock.now(),
            },
          },
        ]);
      const command = outcome.command;
      if (!command) return undefined;
      if (inFlight.has(command.meterId))
        return {
          relay: {
            action: command.action,
            text: `another command for this relay is being carried out: "${command.action}" follows within ${settings.checkMs / 1000} s`,
          },
          audited: Promise.resolve(false),
        };
      const at = clock.now();
      if (!driver) {
        controller.commanded(command.meterId, command.action, at, command.limitW);
        persist();
        emit([{ topic: command.meterId, payload: { ...command, at } }, null]);
        const record = commandRecord(command, at);
        return {
          relay: {
            action: command.action,
            auditReference: record.reference,
            text: `relay command "${command.action}" sent`,
          },
          audited: audit(record),
        };
      }
      const target = targets.get(command.meterId)!;
      inFlight.add(command.meterId);
      try {
        const on = command.action !== 'disconnect';
        const result = await driver.actuate(target, on);
        if (closed) return;
        const done = clock.now();
        if (result.confirmed) {
          controller.commanded(command.meterId, command.action, done, command.limitW);
          persist();
          if (activeAlarms.has(`${command.meterId}:relay-not-confirming`))
            alarm(command.meterId, command.accountId, 'relay-not-confirming', 'relay confirmed', false);
          emit([
            {
              topic: command.meterId,
              payload: {
                ...command,
                at: done,
                confirmed: true,
                relay: target.label,
                attempts: result.attempts,
              },
            },
            null,
          ]);
          const record = commandRecord(command, done, {
            relay: target.label,
            attempts: result.attempts,
            confirmed: true,
          });
          return {
            relay: {
              action: command.action,
              confirmed: true,
              relay: target.label,
              attempts: result.attempts,
              auditReference: record.reference,
              text: `relay at ${target.label} confirmed "${command.action}" (${result.attempts} attempt${result.attempts === 1 ? '' : 's'})`,
            },
            audited: audit(record),
          };
        } else {
          const text = `relay at ${target.label} did not confirm "${command.action}" after ${result.attempts} attempts: ${result.error ?? 'no answer'}`;
          if (!activeAlarms.has(`${command.meterId}:relay-not-confirming`)) {
            alarm(command.meterId, command.accountId, 'relay-not-confirming', text);
            void audit({
              reference: `fault:${command.meterId}:${done}`,
              at: done,
              kind: 'relay-fault',
              meterId: command.meterId,
              accountId: command.accountId,
              action: command.action,
              reason: text,
              policy: command.policy,
              detail: { relay: target.label, sensed: result.sensed ?? null },
            });
          }
          return {
            relay: {
              action: command.action,
              confirmed: false,
              relay: target.label,
              attempts: result.attempts,
              text,
            },
            audited: Promise.resolve(false),
          };
        }
      } finally {
        inFlight.delete(command.meterId);
        showStatus();
      }
    };
    const carryOutAll = (outcomes: Outcome[]): void => {
      for (const outcome of outcomes) void carryOut(outcome);
      showStatus();
    };

    // --- periodic re-evaluation (grace ends, windows close, states go stale) ------------------------------
    let tickTimer: TimerHandle | undefined;
    const tick = (): void => {
      tickTimer = undefined;
      if (closed) return;
      carryOutAll(controller.evaluateAll(clock.now()));
      tickTimer = clock.setTimeout(tick, settings.checkMs);
    };
    tickTimer = clock.setTimeout(tick, settings.checkMs);

    // --- read-back: a relay that disagrees with its command for more than a few seconds is a fault ---------
    const mismatchSince = new Map<string, number>();
    let verifying = false;
    const verify = async (): Promise<void> => {
      if (!driver || verifying || closed) return;
      verifying = true;
      try {
        for (const [meterId, target] of targets) {
          const commanded = controller.view(meterId)?.commanded;
          if (!commanded || !target.read || inFlight.has(meterId)) continue;
          let sensed: boolean;
          try {
            sensed = await driver.sense(target);
          } catch {
            continue; // an unreadable relay is the meter reader's comm loss, not a relay fault
          }
          if (closed) return;
          const agrees = sensed === (commanded !== 'disconnect');
          const key = `${meterId}:relay-fault`;
          if (agrees) {
            mismatchSince.delete(meterId);
            if (activeAlarms.has(key))
              alarm(meterId, undefined, 'relay-fault', 'relay agrees with its command again', false);
            continue;
          }
          const since = mismatchSince.get(meterId) ?? Date.now();
          mismatchSince.set(meterId, since);
          if (Date.now() - since >= FAULT_AFTER_MS && !activeAlarms.has(key)) {
            const text = `relay at ${target.label} reads ${sensed ? 'on' : 'off'} but was commanded ${commanded}`;
            alarm(meterId, undefined, 'relay-fault', text);
            const at = clock.now();
            void audit({
              reference: `fault:${meterId}:${at}`,
              at,
              kind: 'relay-fault',
              meterId,
              reason: text,
              policy: settings.policy.name,
              detail: { relay: target.label, sensed },
            });
          }
        }
      } finally {
        verifying = false;
        showStatus();
      }
    };
    const verifyTimer =
      settings.verifyMs > 0 && driver ? setInterval(() => void verify(), settings.verifyMs) : undefined;
    verifyTimer?.unref?.();
    if (link) link.acquire();
    showStatus();

    // --- operator overrides (flow messages and the admin API): checked, audited, applied, answered ----------
    const self = { id: node.id, name: node.name || node.id };
    type OverrideInput = { meterId: string; override?: Override; by?: string };
    const refuse = (
      meterId: string,
      code: 'unknown-meter' | 'policy' | 'audit',
      error: string,
      field?: string,
    ): OverrideAnswer => {
      const answer: OverrideAnswer = { ok: false, outcome: 'refused', meterId, code, error, cutoff: self };
      if (field) answer.field = field;
      return answer;
    };
    /** Refuses at once what this node cannot or may not do (answered in the order overrides arrive). */
    const checkOverride = ({ meterId, override }: OverrideInput): OverrideAnswer | undefined => {
      const meter = controller.info(meterId);
      if (!meter) return refuse(meterId, 'unknown-meter', `meterId: unknown meter "${meterId}"`, 'meterId');
      const forbidden = overrideRefusal(settings.policy, meter.utility, override);
      if (forbidden) return refuse(meterId, 'policy', `action: ${forbidden}`, 'action');
      return undefined;
    };
    /** Audits, then applies a checked override and carries out what it leads to. */
    const applyOverride = async (input: OverrideInput): Promise<OverrideAnswer> => {
      const { meterId, override } = input;
      const meter = controller.info(meterId)!;
      const now = clock.now();
      const record: AuditRecord = override
        ? {
            reference: `ovr:${meterId}:${now}`,
            at: now,
            kind: 'override',
            meterId,
            action: override.action,
            reason: override.reason,
            policy: settings.policy.name,
            detail: { until: override.until },
          }
        : {
            reference: `ovr-clear:${meterId}:${now}`,
            at: now,
            kind: 'override-cleared',
            meterId,
            reason: 'override cleared',
            policy: settings.policy.name,
          };
      record.accountId = meter.accountId;
      if (input.by) record.actor = input.by;
      // The audit entry first: an override the log does not hold is not applied.
      if (store && !(await audit(record)))
        return refuse(
          meterId,
          'audit',
          'the supply audit log could not be written: the override was not applied',
        );
      const [outcome] = controller.setOverride(meterId, override, clock.now());
      persist();
      const carried = outcome && (await carryOut(outcome));
      // Answered once the relay command's audit entry is written too.
      if (carried) await carried.audited;
      const relay = carried?.relay ?? {
        text: `no relay command due: ${outcome?.decision.reason ?? 'nothing to do'}`,
      };
      showStatus();
      const answer: OverrideAnswer = {
        ok: true,
        outcome: 'applied',
        meterId,
        accountId: meter.accountId,
        action: override?.action ?? 'clear',
        reason: override?.reason ?? 'override cleared',
        cutoff: self,
        audit: store ? record : null,
        relay,
      };
      if (override) answer.until = override.until;
      if (input.by) answer.by = input.by;
      return answer;
    };
    /**
     * Every override is answered on the second output, applied or refused, whoever sent it: an event shaped
     * like the node's alarms (never like a relay command: the answer itself is under `answer`).
     */
    const announce = (answer: OverrideAnswer): void => {
      const text = answer.ok
        ? `override "${answer.action}" by ${answer.by ?? 'operator'} applied: ${answer.relay.text}`
        : `override refused: ${answer.error}`;
      const payload: Record<string, unknown> = {
        type: 'override',
        meterId: answer.meterId,
        alarm: false,
        text,
        ts: clock.now(),
        outcome: answer.outcome,
        answer,
      };
      const accountId = answer.ok ? answer.accountId : controller.info(answer.meterId)?.accountId;
      if (accountId) payload.accountId = accountId;
      emit([null, { topic: 'override', payload }]);
    };
    cutoffRelays.add({
      id: self.id,
      name: self.name,
      audited: store !== undefined,
      has: (meterId) => controller.has(meterId),
      override: async (payload, by) => {
        let input;
        try {
          // The operator is who the admin API says, never what the body says.
          input = readCutoffInput('override', Object.assign({}, payload, { by }), clock.now());
        } catch (error) {
          const meterId = String((payload as { meterId?: unknown })?.meterId ?? '');
          const answer: OverrideAnswer = {
            ok: false,
            outcome: 'refused',
            meterId,
            code: 'invalid',
            error: (error as Error).message,
            cutoff: self,
          };
          if (error instanceof CutoffInputError) answer.field = error.field;
          return answer;
        }
        if (input.kind !== 'override') throw new Error('not an override');
        const answer = checkOverride(input) ?? (await applyOverride(input));
        announce(answer);
        return answer;
      },
    });

    // --- load-control limits (demand limiting): checked, applied where the policy allows, answered ---------
    const applyLoadLimit = async (input: LoadLimitInput): Promise<LoadLimitAnswer> => {
      const now = clock.now();
      const meterIds = input.meterId !== undefined ? [input.meterId] : controller.metersOf(input.accountId!);
      const base = {
        ...(input.meterId !== undefined ? { meterId: input.meterId } : { accountId: input.accountId! }),
        limitW: input.limit?.limitW ?? null,
        by: input.by,
        reason: input.reason,
        ts: now,
        policy: settings.policy.name,
        cutoff: self,
      };
      if (meterIds.length === 0 || !meterIds.every((id) => controller.has(id)))
        return {
          ...base,
          outcome: 'refused',
          error:
            input.meterId !== undefined
              ? `unknown meter "${input.meterId}"`
              : `unknown account "${input.accountId}"`,
          meters: [],
        };
      const meters: LoadLimitAnswer['meters'] = [];
      for (const meterId of meterIds) {
        const info = controller.info(meterId)!;
        const refusal = input.limit ? loadLimitRefusal(settings.policy, info) : undefined;
        if (refusal) {
          meters.push({ meterId, outcome: 'refused', text: refusal });
          continue;
        }
        const [outcome] = controller.setLoadLimit(meterId, input.limit, now, {
          by: input.by,
          reason: input.reason,
        });
        persist();
        const carried = outcome && (await carryOut(outcome));
        if (carried) await carried.audited;
        const view = controller.view(meterId)!;
        const limitedTo =
          view.commanded === 'limit' ? (view.commandedLimitW ?? settings.policy.limitW) : undefined;
        // A release always releases; the supply is then what the policy wants (reported under `supply`).
        const applied = input.limit ? limitedTo === input.limit.limitW : true;
        meters.push({
          meterId,
          outcome: applied ? (input.limit ? 'applied' : 'released') : 'held',
          text: carried?.relay.text ?? `no relay command due: ${outcome?.decision.reason ?? 'nothing to do'}`,
          supply: view.commanded ?? null,
          ...(limitedTo !== undefined ? { limitW: limitedTo } : {}),
        });
      }
      showStatus();
      const refused = meters.filter((m) => m.outcome === 'refused');
      const answer: LoadLimitAnswer = {
        ...base,
        outcome:
          refused.length === meters.length
            ? 'refused'
            : meters.every((m) => m.outcome === 'applied' || m.outcome === 'released')
              ? input.limit
                ? 'applied'
                : 'released'
              : 'held',
        meters,
      };
      if (answer.outcome === 'refused')
        answer.error = refused.map((m) => `${m.meterId}: ${m.text}`).join('; ');
      return answer;
    };

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      try {
        const now = clock.now();
        if (msg.topic === 'verify') {
          void verify().then(() => done(), done);
          return;
        }
        if (msg.topic === 'status') {
          const meters = controller.meterIds().map((meterId) => ({ meterId, ...controller.view(meterId) }));
          send({
            ...msg,
            payload: { policy: settings.policy, meters, alarms: Object.fromEntries(activeAlarms) },
          });
          done();
          return;
        }
        const input = readCutoffInput(msg.topic, msg.payload, now);
        if (input.kind === 'account') carryOutAll(controller.accountState(input.state, now));
        else if (input.kind === 'meter') {
          if (controller.has(input.meterId)) {
            const health: { commLoss?: boolean; estimated?: boolean } = {};
            if (input.commLoss !== undefined) health.commLoss = input.commLoss;
            if (input.estimated !== undefined) health.estimated = input.estimated;
            carryOutAll(controller.meterHealth(input.meterId, health, now));
          }
        } else if (input.kind === 'limit') {
          void applyLoadLimit(input).then((answer) => {
            emit([null, { topic: 'limit', payload: answer }]);
            done(answer.outcome === 'refused' ? new Error(`limit refused: ${answer.error}`) : undefined);
          }, done);
          return;
        } else if (input.kind === 'override') {
          const refused = checkOverride(input);
          if (refused?.ok === false) {
            announce(refused);
            done(new Error(refused.error));
            return;
          }
          void applyOverride(input).then((answer) => {
            announce(answer);
            done(answer.ok ? undefined : new Error(answer.error));
          }, done);
          return;
        }
        done();
      } catch (error) {
        done(new Error((error as Error).message));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      gate.close();
      cutoffRelays.remove(node.id);
      status.stop();
      if (tickTimer) clock.clearTimeout(tickTimer);
      if (verifyTimer) clearInterval(verifyTimer);
      persist();
      if (link)
        link.release().then(
          () => done(),
          () => done(),
        );
      else done();
    });
  }

  RED.nodes.registerType('prepay-cutoff', PrepayCutoffNode);
};
