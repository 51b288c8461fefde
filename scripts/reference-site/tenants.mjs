// The tenants tab of the reference site: the tenant API group (tenant page, balance, usage, statement, the
// payment webhook and the demo payment provider) on the site's own ledger store. Its ledger node posts the
// verified top-ups; the account states it sends join the building's, so a tenant who tops up is reconnected.
import { tenantApiGroup } from '../tenant-api/group.mjs';
import { IN, LEDGER, OUT, SITE } from './building.mjs';
import { id, TAB } from './ids.mjs';

const z = TAB.tenants;

export function tenantsTab({ tenants, site = SITE }) {
  const { group, nodes, ids } = tenantApiGroup({
    id: (n) => id(`tenant:${n}`),
    store: id('store'),
    currency: site.currency,
    timeZone: site.timeZone,
    // The demo prints page links for one tenant of each kind and one that runs out of credit early.
    demoTenants: ['T0001', 'T0002', 'T0003', 'T0008'].filter((a) => tenants.some((t) => t.accountId === a)),
    demoAccounts: false,
    ledgerName: 'ledger (tenant API)',
    // Payments are few: a state after each one, so the BEMS, the cutoff and the dashboard see it at once.
    ledger: { ...LEDGER, stateOutput: 'posting', timezone: site.timeZone },
    statesTo: [id('tenant:states-out')],
    z,
  });
  return [
    {
      id: z,
      type: 'tab',
      label: 'Tenants',
      disabled: false,
      info:
        'The tenant interface: the tenant page at /prepay/tenant, the tenant API, and the payment webhook at ' +
        '/prepay/payments/webhook (HMAC-signed provider notifications; the demo provider signs its own).',
    },
    group,
    ...nodes,
    {
      id: id('tenant:states-out'),
      type: 'link out',
      z,
      name: 'to the building',
      mode: 'link',
      links: [IN.states],
      x: 1180,
      y: 820,
      wires: [],
    },
    {
      id: id('tenant:states-in'),
      type: 'link in',
      z,
      name: 'account states (with days left)',
      links: [OUT.states],
      x: 880,
      y: 820,
      wires: [[ids.remember]],
    },
  ];
}
