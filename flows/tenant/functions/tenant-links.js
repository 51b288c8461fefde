// DEMO ONLY: prints each demo tenant's page link with its access token (to the debug sidebar and the log).
// A real site hands tokens to tenants through its own channel, and puts the API behind the site's login.
const secret = env.get('PREPAY_TENANT_SECRET');
return [
  ['T0101', 'T0102'].map((account) => {
    const token = crypto.createHmac('sha256', secret).update(`tenant:${account}`).digest('hex').slice(0, 32);
    return {
      payload: `tenant page for ${account}: http://<node-red>/prepay/tenant?account=${account}&token=${token}`,
    };
  }),
];
