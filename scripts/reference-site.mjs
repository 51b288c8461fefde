// Writes flows/reference.json, the reference commercial centre that `npm start` runs, and the example
// examples/building-in-one-tab.json (the same building, smaller, in one tab), from the simulated building's
// own plan (nodes/simulator/site.ts), so the meter tables, relay tables and tenant list always match the
// meters the simulator serves. 120 tenant units are a few hundred table rows: written by hand they would
// drift. `--check` fails when a committed file differs from what this script writes (a test runs it). Needs
// the build (`npm run build`).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import prettier from 'prettier';
import { buildingTab, SITE } from './reference-site/building.mjs';
import { dashboardTab } from './reference-site/dashboard.mjs';
import { tenantsTab } from './reference-site/tenants.mjs';
import { bemsTab } from './reference-site/bems.mjs';
import { loadControlTab } from './reference-site/loadcontrol.mjs';
import { id } from './reference-site/ids.mjs';

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

/** The meter tables (per gateway) and the tenants of a site, from the simulator's plan. */
function plan(site) {
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
  return { tables, tenants };
}

/** The whole site: building, tenants, BEMS and dashboard tabs. */
function referenceSite(site) {
  const { tables, tenants } = plan(site);
  const flows = [
    ...buildingTab({ tables, tenants, site }),
    ...tenantsTab({ tenants, site }),
    ...bemsTab({ site }),
    ...loadControlTab({ tables, tenants, site }),
    ...dashboardTab({ ledgerId: id('ledger'), timeZone: site.timeZone }),
  ];
  pairLinks(flows);
  return flows;
}

/**
 * The example "a building in one tab": the building and its BACnet device for 8 tenants, without the tenant
 * API and the dashboard (which needs a package of its own). Examples carry no tab (they import onto the
 * current one) and get ids of their own (importing it beside the reference site clashes with nothing), and a
 * simulator port, BACnet port and ledger file apart from the reference site's.
 */
function buildingExample() {
  const site = { ...SITE, tenants: 8, waterEvery: 3, firstPort: 5031, npmStart: false, bems: false };
  const { tables, tenants } = plan(site);
  const nodes = [...buildingTab({ tables, tenants, site }), ...bemsTab({ site })].filter(
    (n) => n.type !== 'tab',
  );
  pairLinks(nodes);
  const fresh = (key) => createHash('sha1').update(`example:${key}`).digest('hex').slice(0, 16);
  const remap = new Map(nodes.map((n) => [n.id, fresh(n.id)]));
  const text = JSON.stringify(nodes).replace(/"([0-9a-f]{16})"/g, (whole, key) =>
    remap.has(key) ? `"${remap.get(key)}"` : whole,
  );
  const example = JSON.parse(text).map((node) => {
    delete node.z;
    return node;
  });
  for (const node of example) {
    if (node.type === 'prepay-store') node.file = 'prepay-building-example.db';
    if (node.type === 'prepay-bacnet-device')
      Object.assign(node, {
        deviceInstance: '4130',
        port: '47809',
        portType: 'num',
        deviceName: 'prepay-building-example',
      });
    if (node.type === 'comment' && node.name?.startsWith('Meters ->'))
      node.info =
        `${node.info}\nThis example: 8 tenants, its BACnet device on UDP 47809. Meters are billed every 5 ` +
        'minutes: the first charges come after the next 5-minute boundary.';
  }
  return example;
}

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

/** Formatted as prettier formats it, so the lint step and --check agree on one spelling. */
async function format(nodes, file) {
  return prettier.format(JSON.stringify(nodes, null, 2), {
    ...(await prettier.resolveConfig(file)),
    parser: 'json',
  });
}

const outputs = args.out
  ? [[args.out, referenceSite(site)]]
  : [
      [join(root, 'flows', 'reference.json'), referenceSite(site)],
      [join(root, 'examples', 'building-in-one-tab.json'), buildingExample()],
    ];
let stale = false;
for (const [file, nodes] of outputs) {
  const text = await format(nodes, file);
  const name = file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file;
  if (args.check) {
    const committed = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (committed === text) console.log(`${name} is up to date`);
    else {
      console.error(`${name} differs from what scripts/reference-site.mjs writes; run it again`);
      stale = true;
    }
  } else {
    writeFileSync(file, text);
    const meters = nodes.filter((n) => n.type === 'prepay-meter').reduce((sum, n) => sum + n.table.length, 0);
    console.log(`reference-site: ${meters} meters -> ${name}`);
  }
}
if (stale) process.exit(1);
