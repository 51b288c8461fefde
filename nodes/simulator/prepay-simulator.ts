/**
 * prepay-simulator: a simulated building's meters on Modbus TCP gateways inside Node-RED, for
 * commissioning flows and demonstrations without hardware. On deploy it sends the meter table (rows and
 * CSV) so a meter reader can be pointed at it; `msg.topic = "fault"` makes a unit silent, answer with an
 * exception or answer late; `"gateway"` stops or starts a gateway; `"snapshot"` sends every register.
 *
 * With "BEMS controller" on, it also hosts a simulated BACnet/IP BEMS controller (bems-controller.ts): commandable
 * setpoints and occupancy modes with real priority arrays, whose present values drive the cooling plant and each
 * unit's air conditioning (bems-site.ts), so load control's writes show in the meters.
 *
 * Like a real building's meters, the simulated ones do not start again from their first readings when
 * Node-RED restarts or is killed: registers and relays are saved in the user directory every few seconds and at
 * once when a relay switches, and a restart continues from there as if the meters had run on meanwhile.
 */
import { outdoorTemperature } from './outdoor-climate';
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeMessage } from 'node-red';
import { ScaledClock, SystemClock, type Clock } from '../core/clock';
import { meterTableToCsv } from '../core/meter/meter-table';
import { runtimeClock } from '../shared/runtime-clock';
import { StartGate } from '../shared/start-gate';
import { faultStatus, okStatus, degradedStatus } from '../shared/status';
import { builtInProfiles } from '../meter/profile-registry';
import { planSite, siteMeterTable, SimulatedSite, type SiteCheckpoint } from './site';
import { StateFile } from '../shared/state-file';
import { SimulatedBemsController } from './bems-controller';
import { driveSite, siteBemsObjects } from './bems-site';

/** Registers are saved at least this often (wall time), and within this after a relay switches. */
const SAVE_EVERY_MS = 5_000;
const SAVE_SWITCH_MS = 250;

function parseCheckpoint(value: unknown): SiteCheckpoint {
  const saved = value as SiteCheckpoint;
  if (saved?.version !== 1 || typeof saved.meters !== 'object' || typeof saved.modules !== 'object')
    throw new Error('not a simulator state file');
  return saved;
}
import type { UnitFault } from './modbus-tcp-server';
import { SimulatedMeter } from './simulated-meter';
import { appendFileSync, mkdirSync } from 'node:fs';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

interface SimulatorDef extends NodeDef {
  tenants?: string | number;
  port?: string | number;
  metersPerGateway?: string | number;
  speed?: string | number;
  seed?: string | number;
  timeZone?: string;
  otherUtilities?: boolean;
  waterEvery?: string | number;
  coolingEvery?: string | number;
  gasForRestaurants?: boolean;
  hvacPlant?: boolean;
  registerLog?: boolean;
  bems?: boolean;
  bemsAddress?: string;
  bemsPort?: string | number;
  bemsDevice?: string | number;
}

function num(value: unknown, fallback: number, field: string, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max)
    throw new Error(`${field} must be from ${min} to ${max}`);
  return parsed;
}

export = function register(RED: NodeAPI): void {
  function PrepaySimulatorNode(this: Node, config: SimulatorDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let site: SimulatedSite | undefined;
    let bems: SimulatedBemsController | undefined;
    let problem: string | undefined;
    try {
      const tenants = num(config.tenants, 8, 'tenants', 1, 10_000);
      const basePort = num(config.port, 5020, 'port', 0, 65535);
      const speed = num(config.speed, 1, 'speed', 0.001, 1_000_000);
      const seed = num(config.seed, 1, 'seed', 0, 2 ** 31);
      // A runtime-wide clock (settings.prepay) wins, so the simulator and the reader share building time.
      const prepay = (RED.settings as unknown as { prepay?: { clock?: unknown; speed?: unknown } }).prepay;
      const clock: Clock =
        prepay?.clock || prepay?.speed
          ? runtimeClock(RED.settings)
          : speed === 1
            ? new SystemClock()
            : new ScaledClock(Date.now(), speed);
      const profiles = builtInProfiles();
      const specs = planSite(
        {
          tenants,
          seed,
          metersPerGateway: num(config.metersPerGateway, 200, 'meters per gateway', 1, 210),
          timeZone: config.timeZone || 'UTC',
          otherUtilities: config.otherUtilities !== false,
          waterEvery: num(config.waterEvery, 3, 'water meter every', 1, 10_000),
          coolingEvery: num(config.coolingEvery, 10, 'cooling meter every', 1, 10_000),
          gasForRestaurants: config.gasForRestaurants === true,
          hvacPlant: config.hvacPlant === true,
        },
        profiles,
      );
      const gateways = Math.max(...specs.map((spec) => spec.gateway)) + 1;
      const ports = basePort === 0 ? undefined : Array.from({ length: gateways }, (_, g) => basePort + g);
      site = new SimulatedSite(specs, profiles, clock, {
        timeZone: config.timeZone || 'UTC',
        host: '127.0.0.1',
        ...(ports ? { ports } : {}),
      });
      if (config.bems === true) {
        const address = (config.bemsAddress ?? '').trim() || '127.0.0.1';
        if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address))
          throw new Error('BEMS bind address must be an IPv4 address');
        bems = new SimulatedBemsController({
          deviceInstance: num(config.bemsDevice, 1001, 'BEMS device instance', 0, 4194302),
          address,
          port: num(config.bemsPort, 47810, 'BEMS UDP port', 0, 65535),
          objects: siteBemsObjects(site.units.keys()),
        });
        driveSite(site, bems);
      }
    } catch (error) {
      problem = (error as Error).message;
      site = undefined;
    }
    if (!site) {
      node.status(faultStatus(problem ?? 'not started'));
      node.error(`prepay-simulator: ${problem}`);
      return;
    }
    const running = site;
    // Registers and relays continue where they stood before a restart or a kill.
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    const stateFile = userDir
      ? new StateFile<SiteCheckpoint>(
          join(userDir, 'prepay', `simulator-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`),
          parseCheckpoint,
          SAVE_EVERY_MS,
        )
      : undefined;
    if (stateFile) {
      stateFile.onWriteError = (error) =>
        node.warn(`prepay-simulator: cannot save the registers: ${error.message}`);
      const loaded = stateFile.load();
      if (loaded.problem) node.warn(`prepay-simulator: ${loaded.problem}`);
      if (loaded.value) running.restore(loaded.value);
    }
    const save = (withinMs = SAVE_EVERY_MS): void => stateFile?.save(() => running.checkpoint(), withinMs);
    // The register log: every counter value served to a reader, as the reader decodes it (for checking what a
    // flow billed against what the meters showed).
    let logLines: string[] = [];
    const logFile =
      config.registerLog && userDir
        ? join(userDir, 'prepay', `simulator-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}-registers.jsonl`)
        : undefined;
    const writeLog = (): void => {
      if (!logFile || logLines.length === 0) return;
      const text = logLines.join('');
      logLines = [];
      try {
        mkdirSync(join(userDir as string, 'prepay'), { recursive: true });
        appendFileSync(logFile, text);
      } catch (error) {
        node.warn(`prepay-simulator: cannot write the register log: ${(error as Error).message}`);
      }
    };
    if (logFile)
      for (const meter of running.meters.values())
        meter.onCounterRead = (meterId, at, value) =>
          logLines.push(`{"t":${at},"m":"${meterId}","v":${value}}\n`);
    const logTimer = setInterval(writeLog, 1000);
    logTimer.unref?.();
    const saveTimer = setInterval(() => save(0), SAVE_EVERY_MS);
    saveTimer.unref?.();
    running.onRelaySwitch(() => save(SAVE_SWITCH_MS));

    const describe = (): NodeMessage => {
      const gateways = running.servers.map((server, gateway) => ({
        gateway,
        host: server.host,
        port: server.port,
        table: siteMeterTable(running.specs, gateway),
        csv: meterTableToCsv(siteMeterTable(running.specs, gateway)),
      }));
      const bound = controller?.address();
      const payload: Record<string, unknown> = { meters: running.specs.length, gateways };
      if (controller && bound)
        payload.bems = {
          device: controller.deviceInstance,
          host: bound.address,
          port: bound.port,
          objects: controller.objectCount,
        };
      return { topic: 'meters', payload };
    };
    // The meter table goes out once the deploy's nodes exist (the simulator often starts before them).
    const gate = new StartGate(RED);
    const controller = bems;
    Promise.all([running.start(), controller?.start()]).then(
      ([ports, bound]) => {
        const bemsText = bound
          ? `, BEMS ${controller?.deviceInstance} on ${bound.address}:${bound.port}`
          : '';
        node.status(okStatus(`${running.specs.length} meters on 127.0.0.1:${ports.join(',')}${bemsText}`));
        gate.run(() => node.send(describe()));
      },
      (error: Error) => {
        node.status(faultStatus(`cannot listen: ${error.message}`));
        node.error(`prepay-simulator: cannot listen: ${error.message}`);
      },
    );

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      const payload = (msg.payload ?? {}) as Record<string, unknown>;
      const gateway = Number(payload.gateway ?? 0);
      const server = running.servers[gateway];
      try {
        if (!server) throw new Error(`gateway: no gateway ${String(payload.gateway)}`);
        switch (msg.topic) {
          case 'fault': {
            const unitId = Number(payload.unitId);
            if (!Number.isInteger(unitId)) throw new Error('unitId: is required');
            const kind = payload.kind;
            // A partial device serves the billed counter only (another variant or firmware of the meter).
            if (kind === 'partial' || kind === 'full') {
              const device = running.device(gateway, unitId);
              if (!(device instanceof SimulatedMeter)) throw new Error(`unitId: no meter at unit ${unitId}`);
              device.partialDevice = kind === 'partial';
              node.status(
                degradedStatus(`unit ${unitId}: ${kind === 'partial' ? 'partial device' : 'full device'}`),
              );
              break;
            }
            let fault: UnitFault | undefined;
            if (kind === 'silent') fault = { kind: 'silent' };
            else if (kind === 'exception') fault = { kind: 'exception', code: Number(payload.code ?? 4) };
            else if (kind === 'delay') fault = { kind: 'delay', ms: Number(payload.ms ?? 500) };
            else if (kind !== 'none' && kind !== undefined)
              throw new Error('kind: must be silent, exception, delay, partial, full or none');
            server.setFault(unitId, fault);
            node.status(
              fault ? degradedStatus(`unit ${unitId}: ${kind}`) : okStatus(`unit ${unitId} healthy`),
            );
            break;
          }
          case 'gateway': {
            if (payload.running === false)
              void server.stop().then(() => node.status(degradedStatus(`gateway ${gateway} stopped`)));
            else void server.start().then(() => node.status(okStatus(`gateway ${gateway} running`)));
            break;
          }
          case 'relay': {
            if (typeof payload.meterId !== 'string') throw new Error('meterId: is required');
            const command: { meterId: string; action: string; limitW?: number } = {
              meterId: payload.meterId,
              action: String(payload.action),
            };
            if (payload.limitW !== undefined) command.limitW = Number(payload.limitW);
            running.applyRelayCommand(command);
            node.status(okStatus(`${command.meterId}: ${command.action}`));
            break;
          }
          case 'hvac': {
            const plant = running.hvac;
            if (!plant) throw new Error('hvac: this site has no cooling plant (turn on "cooling plant")');
            const setting = (key: string): number | null | undefined => {
              const value = payload[key];
              if (value === undefined || value === null) return value;
              const parsed = Number(value);
              if (!Number.isFinite(parsed)) throw new Error(`${key}: must be a number or null`);
              return parsed;
            };
            const zone = setting('zoneSetpoint');
            const water = setting('chilledWater');
            const fan = setting('fanSpeed');
            if (zone !== undefined) plant.setZoneSetpoint(zone);
            if (water !== undefined) plant.setChilledWater(water);
            if (fan !== undefined) plant.setFanSpeed(fan);
            const now = plant.settings;
            node.status(
              okStatus(
                `zone ${now.zoneSetpoint} C, chilled water ${now.chilledWater} C, fan ${now.fanSpeed}%`,
              ),
            );
            break;
          }
          case 'outdoor-temperature': {
            // The site's outdoor air now (building time), as the savings node takes it.
            send({
              ...msg,
              topic: 'outdoor-temperature',
              payload: outdoorTemperature(running.now, config.timeZone || 'UTC'),
              ts: running.now,
              unit: '°C',
            } as NodeMessage);
            break;
          }
          case 'snapshot': {
            const meters = running.specs.map((spec) => {
              const meter = running.meter(spec.meterId);
              // The power the meter's power register shows now (kW; m³/h for water and gas).
              const powerKw = meter.supplyOn ? meter.demandAt(running.now) : 0;
              return {
                meterId: spec.meterId,
                value: meter.counterValue(),
                supplyOn: meter.supplyOn,
                powerKw,
              };
            });
            send({ ...msg, payload: { ts: running.now, meters } });
            break;
          }
          default:
            send({ ...msg, ...describe() });
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      gate.close();
      clearInterval(saveTimer);
      clearInterval(logTimer);
      writeLog();
      try {
        stateFile?.writeText(JSON.stringify(running.checkpoint()));
      } catch (error) {
        node.warn(`prepay-simulator: cannot save the registers: ${(error as Error).message}`);
      }
      Promise.all([running.stop(), controller?.stop()]).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('prepay-simulator', PrepaySimulatorNode);
};
