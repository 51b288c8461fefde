/**
 * prepay-modbus: one Modbus link (TCP gateway or serial line) and its request queue, shared by every meter
 * reader and cutoff relay that names it, so requests to one gateway never overlap.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { readLinkSettings, type ModbusConfigNode, type ModbusNodeDef } from './link-config';
import { DownNotice } from './down-notice';
import { ModbusLink } from './modbus-link';
import { ModbusSerialTransport } from './transport';

export = function register(RED: NodeAPI): void {
  function PrepayModbusNode(this: Node, config: NodeDef & ModbusNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this as ModbusConfigNode;
    try {
      node.settings = readLinkSettings(config);
    } catch (error) {
      node.problem = (error as Error).message;
      node.error(`prepay-modbus: ${node.problem}`);
      return;
    }
    const link = new ModbusLink(
      node.settings.endpoint,
      new ModbusSerialTransport(node.settings.endpoint),
      node.settings.options,
    );
    node.link = link;
    // Down once, then a reminder every 10 minutes with a count, not a warning per reconnect attempt.
    const notice = new DownNotice();
    link.on('state', (state: string, reason?: string) => {
      if (state === 'down') {
        const text = notice.down(link.name, reason ?? '');
        if (text) node.warn(`prepay-modbus: ${text}`);
      } else if (state === 'connected') node.log(notice.up(link.name));
    });
    link.on('unit', (event: { unitId: number; alive: boolean }) => {
      if (!event.alive)
        node.warn(`prepay-modbus: unit ${event.unitId} on ${link.name} stopped answering; backing off`);
    });
    node.on('close', (_removed: boolean, done: () => void) => {
      link.close().then(done, done);
    });
  }

  RED.nodes.registerType('prepay-modbus', PrepayModbusNode);
};
