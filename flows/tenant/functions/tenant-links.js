// DEMO ONLY, in demo mode: issues each demo tenant an access token (the ledger's tenant-token command) for the
// tenant page link the next node prints to the debug sidebar. A real site issues tokens through the admin API
// (or this command) and hands them to tenants its own way; nothing here runs outside demo mode.
// A value set outside this group (the process environment, the tab's) wins over the group's demo default.
function setting(name) {
  const outside = env.get(`$parent.${name}`);
  return outside !== undefined && outside !== '' ? outside : env.get(name);
}
if (setting('PREPAY_DEMO') !== 'on') return null;
const accounts = String(env.get('PREPAY_DEMO_TENANTS') || '')
  .split(/\s+/)
  .filter(Boolean);
return [
  accounts.map((accountId) => ({
    tenantApi: 'demo-link',
    payload: { command: 'tenant-token', action: 'issue', accountId, label: 'demo link', by: 'demo' },
  })),
];
