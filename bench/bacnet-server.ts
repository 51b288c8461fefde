/**
 * The server side of the BACnet benchmark, run in its own process so that its CPU time is its own: either our
 * device (the whole object model of 2,000 accounts) or a bare @bacnet-js/client responder answering
 * ReadPropertyMultiple from a prebuilt array of the same objects. Talks to the benchmark over IPC:
 * "ready" (with the heap the objects take), then "cpu" on request.
 */
import BACnetClient from '@bacnet-js/client';
import { PointModel, type ModelInput } from '../dist/nodes/core/bacnet/model';
import { BacnetDeviceServer } from '../dist/nodes/bacnet/device-server';

const [mode = 'ours', portText = '47901', accountsText = '2000'] = process.argv.slice(2);
const port = Number(portText);
const accounts = Number(accountsText);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

const DEVICE = {
  instance: 4120,
  name: 'prepay-bench',
  description: 'benchmark',
  location: '',
  vendorIdentifier: 0,
  vendorName: 'node-red-contrib-prepay',
  modelName: 'bench',
  firmwareRevision: '0',
  applicationSoftwareVersion: '0',
  timeZone: 'UTC',
  maxApdu: 1476,
  apduTimeoutMs: 3000,
  apduSegmentTimeoutMs: 2000,
  apduRetries: 3,
};

function inputs(i: number): ModelInput[] {
  const id = `T${String(i + 1).padStart(4, '0')}`;
  return [
    {
      kind: 'account',
      accountId: id,
      balance: 1000 + i,
      available: 2000 + i,
      currency: 'GBP',
      state: 'ok',
      daysLeft: 12.5,
    },
    {
      kind: 'consumption',
      meterId: `E-${id}`,
      accountId: id,
      utility: 'electricity',
      unit: 'kWh',
      value: 5000 + i,
      delta: '0.25',
      to: Date.now(),
    },
    { kind: 'relay', meterId: `E-${id}`, action: 'connect' },
  ];
}

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function ours(): Promise<{
  objects: number;
  bytes: number;
  list: Array<{ type: number; instance: number }>;
}> {
  const before = heap();
  const model = new PointModel(
    { device: DEVICE, overrides: true, overrideMinutes: 60, maxObjects: 100_000, maxSubscriptions: 1000 },
    Date.now,
  );
  for (let i = 0; i < accounts; i++) model.applyAll(inputs(i));
  const bytes = heap() - before;
  const server = new BacnetDeviceServer(model, { port, address: '127.0.0.1' });
  await server.start();
  keep.push(model, server);
  return {
    objects: model.size,
    bytes,
    list: model.objectList().map((r) => ({ type: r.type, instance: r.instance })),
  };
}

interface Prebuilt {
  pv: Array<{ type: number; value: unknown }>;
  flags: Array<{ type: number; value: unknown }>;
  name: Array<{ type: number; value: unknown }>;
}

/** The same objects as plain values for the library's encoder, looked up by "type:instance". */
async function bare(): Promise<{
  objects: number;
  bytes: number;
  list: Array<{ type: number; instance: number }>;
}> {
  const before = heap();
  const table = new Map<string, Prebuilt>();
  const list: Array<{ type: number; instance: number }> = [{ type: 8, instance: DEVICE.instance }];
  const add = (type: number, instance: number, name: string, pv: { type: number; value: unknown }): void => {
    table.set(`${type}:${instance}`, {
      pv: [pv],
      flags: [{ type: 8, value: { bitsUsed: 4, value: [0] } }],
      name: [{ type: 7, value: name }],
    });
    list.push({ type, instance });
  };
  let av = 0;
  for (let i = 0; i < accounts; i++) {
    const id = `T${String(i + 1).padStart(4, '0')}`;
    add(2, ++av, `${id}.Balance`, { type: 4, value: (1000 + i) / 100 });
    add(2, ++av, `${id}.Available`, { type: 4, value: (2000 + i) / 100 });
    add(19, i * 2 + 1, `${id}.CreditState`, { type: 2, value: 1 });
    add(2, ++av, `${id}.DaysLeft`, { type: 4, value: 12.5 });
    add(5, i * 2 + 1, `${id}.Alarm`, { type: 9, value: 0 });
    add(2, ++av, `${id}.Electricity.ConsumptionToday`, { type: 4, value: 0.25 });
    add(0, i + 1, `E-${id}.Register`, { type: 4, value: 5000 + i });
    add(19, i * 2 + 2, `${id}.Electricity.Override`, { type: 2, value: 1 });
    add(5, i * 2 + 2, `${id}.Electricity.Supply`, { type: 9, value: 1 });
  }
  const bytes = heap() - before;
  const client = new BACnetClient({ port, interface: '127.0.0.1' });
  client.on('error', () => undefined);
  client.on('whoIs', (content) => client.iAmResponse(content.header!.sender, DEVICE.instance, 1, 0));
  client.on('readPropertyMultiple', (content) => {
    const values = content.payload.properties.map((spec) => {
      const entry = table.get(`${spec.objectId.type}:${spec.objectId.instance}`);
      return {
        objectId: spec.objectId,
        values: spec.properties.map((p) => ({
          property: p,
          value: entry ? (p.id === 85 ? entry.pv : p.id === 111 ? entry.flags : entry.name) : [],
        })),
      };
    });
    client.readPropertyMultipleResponse(content.header!.sender, content.invokeId!, values);
  });
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  keep.push(table, client);
  return { objects: list.length, bytes, list };
}

const keep: unknown[] = [];
let cpu = process.cpuUsage();

process.on('message', (message: string) => {
  if (message === 'cpu-start') cpu = process.cpuUsage();
  if (message === 'cpu-stop') {
    const used = process.cpuUsage(cpu);
    process.send?.({ cpuMicros: used.user + used.system });
  }
  if (message === 'exit') process.exit(0);
});

(mode === 'bare' ? bare() : ours()).then(
  (ready) => process.send?.({ ready: true, ...ready }),
  (error: Error) => {
    console.error(error);
    process.exit(1);
  },
);
