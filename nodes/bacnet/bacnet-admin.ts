/**
 * The EDE export and the device's figures over Node-RED's admin API, behind its own authentication:
 *   GET /prepay-bacnet-device/<config node id>/ede.csv            the object list (EDE 2.3)
 *   GET /prepay-bacnet-device/<config node id>/ede-state-texts.csv the state texts it refers to
 *   GET /prepay-bacnet-device/<config node id>/status             objects, subscriptions, packet counters
 */
import type { Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import type { DeviceHost } from './device-host';

/** Running devices by config node id. */
export const activeDevices = new Map<string, DeviceHost>();
const registeredApps = new WeakSet<object>();

function fileName(host: DeviceHost, suffix: string): string {
  return `${host.model.device.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}_${suffix}.csv`;
}

export function registerBacnetAdminRoutes(RED: NodeAPI): void {
  if (!RED.httpAdmin || registeredApps.has(RED.httpAdmin)) return;
  registeredApps.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('prepay-bacnet.read');

  const hostFor = (req: Request, res: Response): DeviceHost | undefined => {
    const host = activeDevices.get(String(req.params.id));
    if (!host)
      res.status(404).json({
        ok: false,
        error: `no running prepay-bacnet-device "${req.params.id}" (deploy the flow first)`,
      });
    return host;
  };

  RED.httpAdmin.get('/prepay-bacnet-device/:id/ede.csv', permission, (req: Request, res: Response) => {
    const host = hostFor(req, res);
    if (host) res.type('text/csv').attachment(fileName(host, 'EDE')).send(host.ede('objects'));
  });

  RED.httpAdmin.get(
    '/prepay-bacnet-device/:id/ede-state-texts.csv',
    permission,
    (req: Request, res: Response) => {
      const host = hostFor(req, res);
      if (host) res.type('text/csv').attachment(fileName(host, 'StateTexts')).send(host.ede('state-texts'));
    },
  );

  RED.httpAdmin.get('/prepay-bacnet-device/:id/status', permission, (req: Request, res: Response) => {
    const host = hostFor(req, res);
    if (host)
      res.json({
        ok: true,
        state: host.state,
        problem: host.problem,
        device: { instance: host.model.device.instance, name: host.model.device.name },
        databaseRevision: host.model.registry.databaseRevision,
        ...host.stats(),
      });
  });
}
