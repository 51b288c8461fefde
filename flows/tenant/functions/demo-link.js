// DEMO ONLY: the tenant page link with the token the ledger just issued, for the debug sidebar. The debug node
// does not write it to the log, and the log line here says only where the link is: no token reaches a log.
// The link starts with PREPAY_PUBLIC_URL (the address tenants reach this Node-RED's http nodes on; `npm start`
// sets it); without it the link is the path on this Node-RED's own address.
const issued = msg.payload;
node.log(`DEMO: the tenant page link for ${issued.accountId} is in the debug sidebar`);
const base = String(env.get('PREPAY_PUBLIC_URL') || '').replace(/\/+$/, '');
const path = `/prepay/tenant?account=${encodeURIComponent(issued.accountId)}&token=${issued.token}`;
msg.payload = base
  ? `tenant page for ${issued.accountId}: ${base}${path}`
  : `tenant page for ${issued.accountId} (on this Node-RED's address; PREPAY_PUBLIC_URL prints it whole): ${path}`;
return msg;
