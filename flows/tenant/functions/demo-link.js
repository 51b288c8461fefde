// DEMO ONLY: the tenant page link with the token the ledger just issued, for the debug sidebar. The debug node
// does not write it to the log, and the log line here says only where the link is: no token reaches a log.
const issued = msg.payload;
node.log(`DEMO: the tenant page link for ${issued.accountId} is in the debug sidebar`);
msg.payload = `tenant page for ${issued.accountId}: http://<node-red>/prepay/tenant?account=${encodeURIComponent(issued.accountId)}&token=${issued.token}`;
return msg;
