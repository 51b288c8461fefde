// Writes flows/reference.json, the reference commercial centre that `npm start` runs, from the simulated
// building's own plan (nodes/simulator/site.ts), so the meter tables, relay tables and tenant list always
// match the meters the simulator serves. 120 tenant units are a few hundred table rows: written by hand
// they would drift. `node scripts/reference-site.mjs --check` fails when the committed file differs from
// what this script writes (a test runs it). Needs the build (`npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import prettier from 'prettier';
import { buildingTab, SITE } from './reference-site/building.mjs';
import { dashboardTab } from './reference-site/dashboard.mjs';
import { tenantsTab } from './reference-site/tenants.mjs';
import { bemsTab } from './reference-site/bems.mjs';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const require = createRequire(import.meta.url);
const dist = (path) => require(join(root, 'dist', 'nodes', path));

const { planSite, siteMeterTable } = dist('simulator/site.js');
const { builtInProfiles } = dist('meter/profile-registry.js');
const { meterTableRecord } = dist('core/meter/meter-table.js');

// Other sizes of the same site, for benchmarks and trials: --tenants 4000 --out site.json (and the mix).
const { values: args } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    out: { type: 'string' },
    tenants: { type: 'string' },
    'water-every': { type: 'string' },
    'cooling-every': { type: 'string' },
    'no-gas': { type: 'boolean', default: false },
    'first-port': { type: 'string' },
  },
});
const site = { ...SITE };
if (args.tenants) site.tenants = Number(args.tenants);
if (args['water-every']) site.waterEvery = Number(args['water-every']);
if (args['cooling-every']) site.coolingEvery = Number(args['cooling-every']);
if (args['no-gas']) site.gasForRestaurants = false;
if (args['first-port']) site.firstPort = Number(args['first-port']);

const profiles = builtInProfiles();
const specs = planSite(
  {
    tenants: site.tenants,
    seed: site.seed,
    metersPerGateway: site.metersPerGateway,
    timeZone: site.timeZone,
    waterEvery: site.waterEvery,
    coolingEvery: site.coolingEvery,
    gasForRestaurants: site.gasForRestaurants,
  },
  profiles,
);
const gateways = Math.max(...specs.map((spec) => spec.gateway)) + 1;
const tables = Array.from({ length: gateways }, (_, gateway) =>
  siteMeterTable(specs, gateway).map(meterTableRecord),
);
const tenants = [...new Set(specs.map((spec) => spec.accountId))].map((accountId) => ({
  accountId,
  kind: specs.find((spec) => spec.accountId === accountId).kind,
  utilities: [...new Set(specs.filter((s) => s.accountId === accountId).map((s) => s.utility))],
}));

const flows = [
  ...buildingTab({ tables, tenants, site }),
  ...tenantsTab({ tenants, site }),
  ...bemsTab({ site }),
  ...dashboardTab(),
];
pairLinks(flows);
// Formatted as prettier formats it, so the lint step and --check agree on one spelling.
const text = await prettier.format(JSON.stringify(flows, null, 2), {
  ...(await prettier.resolveConfig(join(root, 'flows', 'reference.json'))),
  parser: 'json',
});
const target = args.out ?? join(root, 'flows', 'reference.json');

/** Link nodes name each other on both sides (the editor draws a link from either end). */
function pairLinks(nodes) {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  for (const node of nodes) {
    if (node.type !== 'link in' && !(node.type === 'link out' && node.mode === 'link')) continue;
    for (const other of node.links) {
      const peer = byId.get(other);
      if (!peer) throw new Error(`${node.type} ${node.name} names a missing link node ${other}`);
      if (!peer.links.includes(node.id)) peer.links.push(node.id);
    }
  }
  for (const node of nodes) if (node.links) node.links.sort();
}

if (args.check) {
  const committed = readFileSync(target, 'utf8');
  if (committed !== text) {
    console.error('flows/reference.json differs from what scripts/reference-site.mjs writes; run it again');
    process.exit(1);
  }
  console.log('flows/reference.json is up to date');
} else {
  writeFileSync(target, text);
  console.log(
    `reference-site: ${tenants.length} tenants, ${specs.length} meters on ${gateways} gateways -> ${target}`,
  );
}
