/**
 * prepay-bacnet: turns account states, consumption, readings, meter events, relay commands and cutoff alarms into
 * the points of a prepay-bacnet-device, creating them as accounts and meters appear. Output: override commands
 * (`topic: "override"`, the shape prepay-cutoff takes) when a BEMS operator writes an override point.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { DEFAULT_POINT_SETTINGS, type PointSettings } from '../core/bacnet/model';
import { StartGate } from '../shared/start-gate';
import { degradedStatus, faultStatus, okStatus } from '../shared/status';
import { overrideMessage, readBacnetInput } from './bacnet-messages';
import type { BacnetDeviceNode } from './device-config';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

interface BacnetNodeDef extends NodeDef {
  device?: string;
  covMoney?: string | number;
  covConsumption?: string | number;
  covRegister?: string | number;
  covDays?: string | number;
}

function increment(value: unknown, fallback: number, field: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${field} must be a number, 0 or more`);
  return n;
}

export = function register(RED: NodeAPI): void {
  function PrepayBacnetNode(this: Node, config: BacnetNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const fail = (message: string): void => {
      node.status(faultStatus(message.slice(0, 60)));
      node.error(`prepay-bacnet: ${message}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-bacnet: ${message}`)),
      );
    };
    const deviceNode = RED.nodes.getNode(config.device ?? '') as BacnetDeviceNode | null;
    const host = deviceNode?.host;
    if (!host)
      return fail(
        deviceNode ? `BACnet device not usable: ${deviceNode.problem}` : 'no BACnet device configured',
      );
    let settings: PointSettings;
    try {
      settings = {
        money: increment(config.covMoney, DEFAULT_POINT_SETTINGS.money, 'COV increment for money'),
        consumption: increment(
          config.covConsumption,
          DEFAULT_POINT_SETTINGS.consumption,
          'COV increment for consumption',
        ),
        register: increment(
          config.covRegister,
          DEFAULT_POINT_SETTINGS.register,
          'COV increment for registers',
        ),
        days: increment(config.covDays, DEFAULT_POINT_SETTINGS.days, 'COV increment for days left'),
      };
    } catch (error) {
      return fail((error as Error).message);
    }

    // A BEMS write that lands while the deploy is still starting waits for the cutoff nodes to exist.
    const gate = new StartGate(RED);
    host.addOverrideSink(node.id, (commands) => gate.run(() => node.send([commands.map(overrideMessage)])));

    let lastMalformed = host.stats().malformed;
    const showStatus = (): void => {
      if (host.state === 'failed') return node.status(faultStatus((host.problem ?? 'failed').slice(0, 60)));
      if (host.state === 'starting') return node.status(degradedStatus('starting'));
      const stats = host.stats();
      const text = `${stats.objects} objects · ${stats.subscriptions} COV · :${stats.port}`;
      // Hostile or broken packets since the last look: worth a yellow ring, not a fault.
      if (stats.malformed > lastMalformed)
        node.status(degradedStatus(`${text} · ${stats.malformed} bad packets`));
      else node.status(okStatus(text));
      lastMalformed = stats.malformed;
    };
    const statusTimer = setInterval(showStatus, 2000);
    statusTimer.unref?.();
    host.on('state', showStatus);
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, _send: Send, done: Done) => {
      try {
        const inputs = readBacnetInput(msg.topic, msg.payload);
        host.apply(inputs, settings, node.id);
        done();
      } catch (error) {
        done(new Error((error as Error).message));
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(statusTimer);
      host.off('state', showStatus);
      host.removeOverrideSink(node.id);
      gate.close();
      done();
    });
  }

  RED.nodes.registerType('prepay-bacnet', PrepayBacnetNode);
};
