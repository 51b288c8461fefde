/**
 * `npm run simulate -- --tenants 120 --port 5020 --speed 60`: a simulated building's meters on Modbus TCP,
 * for commissioning flows without hardware. Prints each gateway's meter table as CSV (or writes it with
 * --csv file) and runs until interrupted.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ScaledClock, SystemClock } from '../core/clock';
import { meterTableToCsv } from '../core/meter/meter-table';
import { builtInProfiles } from '../meter/profile-registry';
import { planSite, siteMeterTable, SimulatedSite } from './site';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '24' },
      port: { type: 'string', default: '5020' },
      host: { type: 'string', default: '127.0.0.1' },
      speed: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      'meters-per-gateway': { type: 'string', default: '200' },
      'time-zone': { type: 'string', default: 'UTC' },
      csv: { type: 'string' },
      profiles: { type: 'string' },
      'electricity-only': { type: 'boolean', default: false },
      'water-every': { type: 'string', default: '3' },
      'cooling-every': { type: 'string', default: '10' },
      'gas-restaurants': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run simulate -- [--tenants 24] [--port 5020] [--host 127.0.0.1] [--speed 1] [--seed 1]\n' +
        '                          [--meters-per-gateway 200] [--time-zone UTC] [--csv meters.csv]\n' +
        '                          [--profiles eastron-sdm630,eastron-sdm120] [--electricity-only]\n' +
        '                          [--water-every 3] [--cooling-every 10] [--gas-restaurants]',
    );
    return;
  }
  const speed = Number(values.speed);
  const clock = speed === 1 ? new SystemClock() : new ScaledClock(Date.now(), speed);
  const profiles = builtInProfiles();
  const specs = planSite(
    {
      tenants: Number(values.tenants),
      seed: Number(values.seed),
      metersPerGateway: Number(values['meters-per-gateway']),
      timeZone: values['time-zone'],
      otherUtilities: !values['electricity-only'],
      waterEvery: Number(values['water-every']),
      coolingEvery: Number(values['cooling-every']),
      gasForRestaurants: values['gas-restaurants'],
      ...(values.profiles ? { electricityProfiles: values.profiles.split(',') } : {}),
    },
    profiles,
  );
  const gateways = Math.max(...specs.map((spec) => spec.gateway)) + 1;
  const base = Number(values.port);
  const site = new SimulatedSite(specs, profiles, clock, {
    host: values.host,
    timeZone: values['time-zone'],
    ports: Array.from({ length: gateways }, (_, g) => (base === 0 ? 0 : base + g)),
  });
  const ports = await site.start();
  const tables = ports.map(
    (port, gateway) =>
      `# gateway ${gateway}: ${values.host}:${port}\n${meterTableToCsv(siteMeterTable(specs, gateway))}`,
  );
  if (values.csv) writeFileSync(values.csv, tables.join('\n'));
  else console.log(tables.join('\n'));
  console.error(
    `simulating ${specs.length} meters on ${ports.map((port) => `${values.host}:${port}`).join(', ')} at ${speed}x; Ctrl-C stops`,
  );
  const stop = (): void => {
    void site.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: Error) => {
  console.error(`simulator: ${error.message}`);
  process.exit(1);
});
