// DEMO ONLY: prints each demo tenant's page link with its access token (to the debug sidebar and the log).
// A real site hands tokens to tenants through its own channel, and puts the API behind the site's login.
const secret = env.get('PREPAY_TENANT_SECRET');
const tokenOf = (account) => crypto.createHmac('sha256', secret).update(`tenant:${account}`).digest('hex');
const accounts = String(env.get('PREPAY_DEMO_TENANTS') || '')
  .split(/\s+/)
  .filter(Boolean);
return [
  accounts.map((account) => ({
    payload: `tenant page for ${account}: http://<node-red>/prepay/tenant?account=${account}&token=${tokenOf(account).slice(0, 32)}`,
  })),
];
