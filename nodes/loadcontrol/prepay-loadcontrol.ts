/**
 * prepay-loadcontrol: acts on the building through the BEMS. First rule: vacant and exhausted units. When an
 * account is closed (unit vacant) or its supply is cut for exhausted credit, the unit's HVAC objects (the
 * mapping table) are commanded to unoccupied; a reconnection or a move-in restores them. The rule is pure code
 * (nodes/core/loadcontrol/vacancy.ts); the BACnet commander writes, reads back and relinquishes.
 * Demand limiting and price rules (demand-config.ts, demand-runner.ts): site readings keep each demand window
 * under a target by shedding the shed table's steps (tenant limits on output 2, for prepay-cutoff; BEMS writes
 * through the same commander); price and carbon signals move the price rules' setpoints.
 * The cutoff's answers to the limit requests come back in (topic "limit", prepay-cutoff output 2): a held or
 * refused step relieves nothing and the next step goes in. A tariff document (topic "tariff") sets the demand
 * windows from its demand charge. Units flagged medical or critical (the protected units table) are left alone.
 * Demand limiting's steps in force survive a restart (prepay/loadcontrol-<id>-demand.json).
 * Outputs: 1 BEMS command outcomes, 2 limit requests (topic "limit"), 3 demand window reports and decisions.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { slotKey, type DesiredCommand } from '../core/loadcontrol/commands';
import { allowedPriority, parseHvacMap, type HvacRow } from '../core/loadcontrol/hvac-map';
import {
  accountOfObject,
  parseProtectedUnits,
  type ProtectedUnit,
} from '../core/loadcontrol/protected-units';
import {
  VacancyRule,
  readVacancyInput,
  readVacancySnapshot,
  type VacancySnapshot,
} from '../core/loadcontrol/vacancy';
import type { TimerHandle } from '../core/clock';
import type { CreditState } from '../core/messages';
import { appendOperatorLog } from '../shared/operator-log';
import { runtimeClock } from '../shared/runtime-clock';
import { StartGate } from '../shared/start-gate';
import { StateFile } from '../shared/state-file';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import { BacnetCommander, type CommandEvent } from './bacnet-commander';
import { loadControlNodes, registerLoadControlRoutes, type ReleaseAnswer } from './loadcontrol-admin';
import type { BacnetClientConfigNode } from './client-handle';
import { readDemandConfig, readSignal, type DemandNodeDef } from './demand-config';
import { DemandRunner, readRunnerSnapshot, type RunnerSnapshot } from './demand-runner';

interface LoadControlNodeDef extends DemandNodeDef {
  client?: string;
  priority?: string | number;
  table?: string;
  verify?: string | number;
  /** CSV: account, meter, flag (medical | critical), vacancySetback (yes | no). */
  protectedUnits?: string;
}

const MAX_RELEASE_MINUTES = 31 * 24 * 60;

export = function register(RED: NodeAPI): void {
  registerLoadControlRoutes(RED);

  function PrepayLoadControlNode(this: Node, config: NodeDef & LoadControlNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clientNode = RED.nodes.getNode(config.client ?? '') as BacnetClientConfigNode | null;
    const fail = (text: string): void => {
      node.error(`prepay-loadcontrol: ${text}`);
      node.status(faultStatus(text.slice(0, 60)));
      node.on('input', (_msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) =>
        done(new Error(text)),
      );
    };
    if (!clientNode?.settings || !clientNode.ready)
      return fail(clientNode?.problem ?? 'no BACnet client configured');
    const settings = clientNode.settings;
    const priority = Number(config.priority ?? 10);
    if (!allowedPriority(priority))
      return fail(`priority: ${String(config.priority)} is not 3-16 (and not 6)`);
    let rows: HvacRow[];
    try {
      rows = parseHvacMap(config.table ?? '', settings.device, priority);
    } catch (error) {
      return fail(`table: ${(error as Error).message}`);
    }
    const elsewhere = rows.find((row) => row.target.device !== settings.device);
    if (elsewhere)
      return fail(
        `table: line ${elsewhere.line}: device ${elsewhere.target.device}: the client commands device ${settings.device} only`,
      );

    let protectedUnits: Map<string, ProtectedUnit>;
    try {
      protectedUnits = parseProtectedUnits(config.protectedUnits ?? '');
    } catch (error) {
      return fail((error as Error).message);
    }

    let demand: ReturnType<typeof readDemandConfig>;
    try {
      demand = readDemandConfig(config, settings.device, priority);
    } catch (error) {
      return fail((error as Error).message);
    }
    // A BEMS step or price rule on an object of the HVAC table is that unit's: its flags apply to it.
    for (const step of demand.options.demand?.steps ?? [])
      if (step.action.kind === 'command' && step.action.account === undefined) {
        const account = accountOfObject(rows, step.action.target);
        if (account !== undefined) step.action.account = account;
      }
    demand.options.priceRules = demand.options.priceRules.filter((rule) => {
      const account = accountOfObject(rows, rule.target);
      const flagged = account === undefined ? undefined : protectedUnits.get(account);
      if (!flagged) return true;
      node.warn(
        `prepay-loadcontrol: price rule "${rule.name}" commands the HVAC of account ${account}, flagged ${flagged.flag}: left alone`,
      );
      return false;
    });
    const clock = runtimeClock(RED.settings);

    const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
    const stateFile = new StateFile<VacancySnapshot>(
      join(userDir, 'prepay', `loadcontrol-${node.id}.json`),
      readVacancySnapshot,
      1000,
    );
    const loaded = stateFile.load();
    if (loaded.problem) node.warn(`prepay-loadcontrol: ${loaded.problem}`);
    const rule = new VacancyRule(rows, loaded.value, protectedUnits);
    const operatorLog = join(userDir, 'prepay', `loadcontrol-${node.id}-operator.jsonl`);
    const keysOf = (account: string): string[] =>
      rows.filter((r) => r.account === account).map((r) => slotKey(r.target, r.priority));
    const accountByKey = new Map(rows.map((r) => [slotKey(r.target, r.priority), r.account]));

    // --- status ----------------------------------------------------------------------------------------------
    const status = throttledStatus(node);
    const last = new Map<string, CommandEvent>();
    const showStatus = (): void =>
      status.show(() => {
        const { setback, occupied } = rule.counts();
        const events = [...last.values()];
        const failed = events.filter((e) => e.outcome === 'failed').length;
        const overridden = events.filter((e) => e.outcome === 'overridden').length;
        const text = `${setback} set back, ${occupied} restored`;
        if (failed > 0 && failed === events.length) return faultStatus(`${text}; BEMS not answering`);
        if (failed > 0) return degradedStatus(`${text}; ${failed} retrying`);
        if (overridden > 0) return degradedStatus(`${text}; ${overridden} overridden by BEMS`);
        return okStatus(text);
      });

    let commander: BacnetCommander | undefined;
    /** BEMS writes of demand steps still in force after a restart: asserted with the vacancy setbacks. */
    let resumed: DesiredCommand[] = [];
    let releaseOwner: (() => void) | undefined;
    const ready = clientNode.ready.then((handle) => {
      releaseOwner = handle.acquire(node.id);
      commander = new BacnetCommander({
        owner: node.id,
        client: handle.client,
        peer: handle.peer,
        lease: handle.lease,
        verifyEveryMs: Math.max(0, Number(config.verify ?? 300)) * 1000,
        onEvent: (event) => {
          last.set(event.key, event);
          if (event.outcome === 'released' && event.value === null) last.delete(event.key);
          showStatus();
          node.send({ topic: 'loadcontrol', payload: { ...event, account: accountByKey.get(event.key) } });
        },
      });
      commander.start([...rule.desired(), ...resumed]);
      showStatus();
      return commander;
    });
    ready.catch((error: Error) => node.status(faultStatus(`BACnet client: ${error.message}`.slice(0, 60))));

    const carryOut = async (commands: DesiredCommand[]): Promise<CommandEvent[]> => {
      const c = await ready;
      return Promise.all(commands.map((command) => c.set(command)));
    };

    // --- demand limiting and price rules -----------------------------------------------------------------
    const demandFile = new StateFile<RunnerSnapshot>(
      join(userDir, 'prepay', `loadcontrol-${node.id}-demand.json`),
      readRunnerSnapshot,
      1000,
    );
    // Reports made while the node starts (the state carried over a restart) wait until the flows have started.
    const gate = new StartGate(RED);
    const report = (topic: string, payload: unknown): void =>
      gate.run(() => node.send([null, null, { topic, payload }]));
    const runner = demand.active
      ? new DemandRunner({
          ...demand.options,
          protectedUnits,
          onStateChange: () => {
            try {
              demandFile.save(() => runner!.snapshot(clock.now()));
            } catch (error) {
              node.warn(`prepay-loadcontrol: demand state not saved: ${(error as Error).message}`);
            }
          },
          by: `load control ${node.name || node.id}`,
          sendLimit: (payload) => node.send([null, { topic: 'limit', payload }, null]),
          sendCommand: (command) => {
            carryOut([command]).catch((error: Error) =>
              node.warn(`prepay-loadcontrol: ${command.reason}: ${error.message}`),
            );
          },
          sendReport: report,
        })
      : undefined;
    if (runner) {
      const saved = demandFile.load();
      if (saved.problem) node.warn(`prepay-loadcontrol: ${saved.problem}`);
      if (saved.value) resumed = runner.resume(saved.value, clock.now());
    }

    let tickTimer: TimerHandle | undefined;
    const tick = (): void => {
      runner?.tick(clock.now());
      tickTimer = clock.setTimeout(tick, demand.checkMs);
    };
    if (runner) tickTimer = clock.setTimeout(tick, demand.checkMs);

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      let commands: DesiredCommand[];
      try {
        if (!runner && (msg.topic === 'limit' || msg.topic === 'tariff'))
          throw new Error(`${msg.topic}: no demand limiting configured (no target and shed steps)`);
        if (runner) {
          const now = clock.now();
          if (msg.topic === 'limit') {
            runner.limitAnswer(msg.payload, now);
            return done();
          }
          if (msg.topic === 'tariff') {
            const taken = runner.tariffDocument(msg.payload, now);
            const target = runner.demandNow()!.targetKw;
            report('demand-tariff', {
              at: now,
              tariff: taken.tariff,
              intervalMinutes: taken.intervalMinutes,
              ...(taken.periods ? { periods: taken.periods } : {}),
              targetKw: target,
              targetFrom: taken.targetKw !== undefined ? 'message' : 'node',
            });
            node.log(
              `prepay-loadcontrol: demand windows of ${taken.intervalMinutes} min from tariff "${taken.tariff}", target ${target} kW`,
            );
            return done();
          }
          if (msg.topic === 'price' || msg.topic === 'carbon') {
            const signal = readSignal(msg.topic, msg.payload, demand.prices, now);
            runner.priceSignal(signal.kind, signal.signal, now);
            return done();
          }
          const payload = msg.payload as Record<string, unknown> | null;
          if (payload && typeof payload === 'object' && runner.meterMessage(payload, now)) return done();
          if (payload && typeof payload.accountId === 'string' && typeof payload.state === 'string')
            runner.accountState(payload.accountId, payload.state as CreditState);
        }
        const input = readVacancyInput(msg.payload);
        if (input.kind !== 'ignore' && !rule.maps(input.accountId)) {
          rule.apply(input); // followed, so a later table row knows the unit's state
          return done();
        }
        commands = rule.apply(input);
        if (commands.length > 0 && input.kind !== 'ignore') {
          // For the savings evidence (prepay-savings): when each unit was set back and restored.
          const mode = rule.modeOfAccount(input.accountId);
          if (mode.mode)
            report('setback', { account: input.accountId, mode: mode.mode, at: clock.now(), why: mode.why });
        }
      } catch (error) {
        return done(error as Error);
      }
      if (commands.length === 0) return done();
      // On disk before anything is sent: a Node-RED killed right after the write still knows, at its next
      // start, which units are set back (a change is rare: one write per vacancy or cut, not per message).
      try {
        stateFile.save(() => rule.snapshot());
        stateFile.flush();
      } catch (error) {
        node.warn(`prepay-loadcontrol: state not saved: ${(error as Error).message}`);
      }
      showStatus();
      carryOut(commands).then(
        (events) => {
          const failed = events.filter((e) => e.outcome === 'failed');
          if (failed.length === 0) return done();
          done(
            new Error(
              `prepay-loadcontrol: ${failed.map((e) => `${e.target} at priority ${e.priority}: ${e.text}`).join('; ')} (retrying)`,
            ),
          );
        },
        (error: Error) => done(error),
      );
    });

    // --- operator override ------------------------------------------------------------------------------------
    const release = async (body: Record<string, unknown>, by: string): Promise<ReleaseAnswer> => {
      const refuse = (
        field: string,
        error: string,
        code: 'invalid' | 'unknown-account' = 'invalid',
      ): ReleaseAnswer => ({
        ok: false,
        outcome: 'refused',
        code,
        field,
        error: `${field}: ${error}`,
      });
      const account = typeof body.account === 'string' ? body.account.trim() : '';
      if (account === '') return refuse('account', 'is required');
      const action = body.action ?? 'release';
      if (action !== 'release' && action !== 'resume')
        return refuse('action', 'must be "release" or "resume"');
      const reason = typeof body.reason === 'string' ? body.reason.trim() : '';
      if (reason === '') return refuse('reason', 'is required');
      if (!rule.maps(account))
        return refuse('account', `${account} is not in the node's HVAC table`, 'unknown-account');
      const minutes = body.minutes === undefined ? 240 : Number(body.minutes);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_RELEASE_MINUTES)
        return refuse('minutes', `must be a whole number 1-${MAX_RELEASE_MINUTES}`);
      const until = Date.now() + minutes * 60_000;
      // On disk before it takes effect: an action is never without its record.
      appendOperatorLog(operatorLog, {
        at: Date.now(),
        by,
        account,
        action,
        reason,
        ...(action === 'release' ? { until } : {}),
      });
      const c = await ready;
      const keys = keysOf(account).filter((k) => c.keys().includes(k));
      if (action === 'resume') {
        c.resume(keys);
        return { ok: true, outcome: 'applied', account, action, reason, by, commands: [] };
      }
      const commands = await c.suspend(keys, until, `${by}: ${reason}`);
      node.log(
        `prepay-loadcontrol: ${by} released ${account} until ${new Date(until).toISOString()}: ${reason}`,
      );
      return { ok: true, outcome: 'applied', account, action, until, reason, by, commands };
    };
    loadControlNodes.set(node.id, { release });

    node.on('close', (_removed: boolean, done: () => void) => {
      loadControlNodes.delete(node.id);
      if (tickTimer !== undefined) clock.clearTimeout(tickTimer);
      gate.close();
      status.stop();
      try {
        if (runner) demandFile.save(() => runner.snapshot(clock.now()));
        demandFile.flush();
      } catch (error) {
        node.warn(`prepay-loadcontrol: demand state not saved: ${(error as Error).message}`);
      }
      try {
        stateFile.flush();
      } catch (error) {
        node.warn(`prepay-loadcontrol: state not saved: ${(error as Error).message}`);
      }
      const finish = async (): Promise<void> => {
        const c = await ready.catch(() => undefined);
        if (c) {
          const { released, left } = await c.close(10_000);
          node.log(
            `prepay-loadcontrol: relinquished ${released} command(s) on close${left ? `; ${left} left to the lease watchdog` : ''}`,
          );
        }
        releaseOwner?.();
      };
      finish().then(done, done);
    });
  }

  RED.nodes.registerType('prepay-loadcontrol', PrepayLoadControlNode);
};
