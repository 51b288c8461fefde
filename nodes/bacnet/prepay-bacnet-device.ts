/**
 * prepay-bacnet-device: one BACnet/IP device per Node-RED instance (instance, name, port, interface, optional
 * foreign-device registration), shared by every prepay-bacnet node that names it. Its objects and their instance
 * numbers live in the user directory, so they come back the same after restarts and redeploys.
 */
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { runtimeClock } from '../shared/runtime-clock';
import { activeDevices, registerBacnetAdminRoutes } from './bacnet-admin';
import { readDeviceSettings, type BacnetDeviceNode, type DeviceNodeDef } from './device-config';
import { DeviceHost } from './device-host';

interface DeviceConfigDef extends NodeDef, DeviceNodeDef {
  deviceInstanceType?: string;
  portType?: string;
}

export = function register(RED: NodeAPI): void {
  registerBacnetAdminRoutes(RED);

  function PrepayBacnetDeviceNode(this: Node, config: DeviceConfigDef): void {
    RED.nodes.createNode(this, config);
    const node = this as BacnetDeviceNode;
    try {
      const settings = readDeviceSettings(config, (field) => {
        const type = field === 'deviceInstance' ? config.deviceInstanceType : config.portType;
        const value = config[field];
        return type === 'env' ? RED.util.evaluateNodeProperty(String(value ?? ''), 'env', node, {}) : value;
      });
      const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
      const host = new DeviceHost({
        stateDir: join(userDir, 'prepay'),
        device: settings.device,
        server: {
          ...settings.server,
          log: (level, text) =>
            level === 'warn' ? node.warn(`prepay-bacnet-device: ${text}`) : node.debug(text),
        },
        overrides: settings.overrides,
        overrideMinutes: settings.overrideMinutes,
        notificationClass: settings.notificationClass,
        recipientWrites: settings.recipientWrites,
        clock: runtimeClock(RED.settings),
      });
      for (const problem of host.loadProblems) node.warn(`prepay-bacnet-device: ${problem}`);
      host.on('warn', (text: string) => node.warn(`prepay-bacnet-device: ${text}`));
      // A BEMS's change to the alarm recipients is logged with its address (BACnet has no login).
      host.on('audit', (text: string) => node.log(text));
      node.host = host;
      activeDevices.set(node.id, host);
      void host.start().then(() => {
        if (host.problem) node.error(`prepay-bacnet-device: ${host.problem}`);
        else {
          const bound = host.server.address();
          node.log(
            `BACnet device ${settings.device.instance} "${settings.device.name}" on ${bound?.address}:${bound?.port}, ${host.model.size} objects`,
          );
        }
      });
    } catch (error) {
      node.problem = (error as Error).message;
      node.error(`prepay-bacnet-device: ${node.problem}`);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      const host = node.host;
      if (!host) return done();
      activeDevices.delete(node.id);
      host.stop().then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('prepay-bacnet-device', PrepayBacnetDeviceNode);
};
