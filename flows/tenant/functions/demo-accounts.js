// DEMO ONLY: opens two tenants' accounts (the same references again are no-ops).
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
