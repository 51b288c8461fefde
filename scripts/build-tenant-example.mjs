// Builds examples/tenant-api.json from its sources: the group in scripts/tenant-api/group.mjs, the function
// nodes' code in flows/tenant/functions/*.js and the tenant page in flows/tenant/tenant-page.html (kept as
// files so they are linted, formatted and reviewed as code), with the core functions they embed taken from
// dist/ (run `npm run build` first). `--check` only compares, and exits 1 when the committed example is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { exampleStore, tenantApiGroup } from './tenant-api/group.mjs';

const root = new URL('..', import.meta.url).pathname;
const id = (n) => `ex8ten${String(n).padStart(10, '0')}`;
const STORE = id(2);
const { group, nodes } = tenantApiGroup({
  id,
  store: STORE,
  currency: 'GBP',
  timeZone: 'Europe/London',
  demoTenants: ['T0101', 'T0102'],
  demoAccounts: true,
  ledger: {
    lowThreshold: '1000',
    lowHysteresis: '200',
    emergencyCredit: '500',
    emergencyMode: 'auto',
    reconnectAbove: '100',
    debtRecoveryShare: '0',
    debtRecoveryCap: '0',
    debtRecoveryPerDay: '0',
    maxBalance: '100000',
    maxTopup: '50000',
    standingWhileOff: 'accrue-debt',
    rounding: 'half-even',
    stateOutput: 'posting',
    snapshotMinutes: '15',
    maxQueue: '10000',
    timezone: 'Europe/London',
  },
});
const store = exampleStore(STORE);

// Examples carry no tab: the editor imports them onto the current one.
const flow = [group, ...nodes, store];
const options = {
  ...((await prettier.resolveConfig(join(root, 'examples', 'tenant-api.json'))) ?? {}),
  parser: 'json',
};
const text = await prettier.format(JSON.stringify(flow), options);
const target = join(root, 'examples', 'tenant-api.json');
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: out of date
  }
  if (current !== text) {
    console.error('examples/tenant-api.json is out of date: run node scripts/build-tenant-example.mjs');
    process.exit(1);
  }
  console.log('examples/tenant-api.json is up to date');
} else {
  writeFileSync(target, text);
  console.log(`wrote examples/tenant-api.json (${flow.length} nodes)`);
}
