/**
 * prepay-ledger: the prepaid accounts. Takes commands (topup, refund, adjust, reverse, open, close,
 * bind, unbind, emergency, balance, statement, summary, verify) and charges from the tariff node;
 * answers each on output 1 once it is durably stored, and sends account states on output 2.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { Clock } from '../core/clock';
import { Ledger } from '../core/ledger/ledger';
import { readRequest } from '../core/ledger/requests';
import { AccountState } from '../core/messages';
import { runtimeClock } from '../shared/runtime-clock';
import { degradedStatus, faultStatus, okStatus, throttledStatus } from '../shared/status';
import { StoreNode } from '../store/store-config';
import { readLedgerSettings, LedgerNodeSettings } from './ledger-config';
import { LedgerJobs } from './ledger-jobs';
import { activeLedgers, registerLedgerAdminRoutes } from './ledger-admin';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

export = function register(RED: NodeAPI): void {
  registerLedgerAdminRoutes(RED);

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

    // Every posting changes the count: shown at most a few times a second.
    const status = throttledStatus(node);
    const renderStatus = (): NodeStatus => {
      if (!health.up)
        return faultStatus(`store down, ${health.queued} queued: ${(health.error ?? '').slice(0, 40)}`);
      if (health.queued > 100) return degradedStatus(`${health.queued} queued`);
      return okStatus(`${postings} posted · ${storeNode.describe()}`);
    };
    const showStatus = (): void => status.show(renderStatus);

    const emitState = (state: AccountState): void => {
      node.send([null, { topic: state.accountId, payload: state }]);
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

    const jobs = new LedgerJobs(
      clock,
      ledger,
      settings.zone,
      settings.snapshotMs,
      (states) => states.forEach(emitState),
      (error) => node.error(`prepay-ledger: periodic job failed: ${error.message}`),
    );
    jobs.start();
    storeNode.store.init().then(showStatus, (error: Error) => {
      health = { up: false, queued: ledger.queued, error: error.message };
      showStatus();
    });

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      let request;
      try {
        request = readRequest(msg.topic, msg.payload, clock.now());
      } catch (error) {
        return done(error as Error);
      }
      ledger.execute(request).then(
        (response) => {
          if (!response.duplicate && 'reference' in request) postings += 1;
          showStatus();
          msg.payload = response.result;
          (msg as NodeMessage).duplicate = response.duplicate;
          send([msg, null]);
          done();
        },
        (error: Error) => {
          showStatus();
          done(error);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      jobs.stop();
      status.stop();
      ledger.close();
      activeLedgers.delete(node.id);
      done();
    });
  }

  RED.nodes.registerType('prepay-ledger', PrepayLedgerNode);
};
