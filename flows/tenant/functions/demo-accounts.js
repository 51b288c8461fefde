// DEMO ONLY, in demo mode: opens two tenants' accounts (the same references again are no-ops).
// A value set outside this group (the process environment, the tab's) wins over the group's demo default.
function setting(name) {
  const outside = env.get(`$parent.${name}`);
  return outside !== undefined && outside !== '' ? outside : env.get(name);
}
if (setting('PREPAY_DEMO') !== 'on') return null;
const accounts = [
  ['T0101', 'Unit 1.01', 'Corner Cafe'],
  ['T0102', 'Unit 1.02', 'Print Shop'],
];
return [
  accounts.map(([accountId, tenant, name]) => ({
    tenantApi: 'setup',
    payload: {
      command: 'open',
      accountId,
      currency: 'GBP',
      tenant,
      name,
      utilities: ['electricity', 'water'],
      reference: `demo-open-${accountId}`,
    },
  })),
];
