// Tenant API requests: checks the tenant's access token for the account in the URL, then builds the ledger
// command for the endpoint (the route's last segment: balance, usage, statement or topup).
// Token: the first 32 hex digits of HMAC-SHA256(PREPAY_TENANT_SECRET, "tenant:" + account), sent as
// "Authorization: Bearer <token>" (or ?token= for a link). One tenant cannot compute another's token.
// Outputs: 1 ledger command, 2 refusals for the http response, 3 top-ups for the demo payment provider.
const DAY = 86400000;
const account = String(msg.req.params.account || '');
const api = msg.req.route.path.split('/').pop();
function refuse(statusCode, error, message) {
  msg.statusCode = statusCode;
  msg.payload = { ok: false, error, message };
  return [null, msg, null];
}
if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(account)) return refuse(400, 'bad-account', 'not an account id');
const secret = env.get('PREPAY_TENANT_SECRET');
if (!secret) {
  node.error('PREPAY_TENANT_SECRET is not set: the tenant API refuses every request');
  return refuse(503, 'not-configured', 'the tenant API is not configured');
}
const auth = String(msg.req.headers.authorization || '');
const given = auth.startsWith('Bearer ') ? auth.slice(7).trim() : String(msg.req.query.token || '');
const expected = crypto.createHmac('sha256', secret).update(`tenant:${account}`).digest('hex').slice(0, 32);
const a = Buffer.from(given);
const b = Buffer.from(expected);
if (a.length !== b.length || !crypto.timingSafeEqual(a, b))
  return refuse(401, 'bad-token', 'a valid access token for this account is required');

msg.accountId = account;
msg.tenantApi = api;
const query = msg.req.query;
if (api === 'balance') {
  msg.payload = { command: 'balance', accountId: account };
  return [msg, null, null];
}
if (api === 'usage') {
  const days = query.days === undefined ? 7 : Number(query.days);
  if (!Number.isInteger(days) || days < 1 || days > 92)
    return refuse(400, 'bad-days', 'days must be a whole number from 1 to 92');
  msg.usageDays = days;
  // Statements select by posting time; read two days more, for readings posted after the day they belong to.
  msg.payload = {
    command: 'statement',
    accountId: account,
    from: Date.now() - (days + 2) * DAY,
    format: 'json',
  };
  return [msg, null, null];
}
if (api === 'statement') {
  const format = query.format === undefined ? 'json' : query.format;
  if (format !== 'json' && format !== 'csv') return refuse(400, 'bad-format', 'format must be json or csv');
  const time = (v) => (v === undefined || v === '' ? undefined : /^\d+$/.test(v) ? Number(v) : Date.parse(v));
  const from = time(query.from);
  const to = time(query.to);
  if (Number.isNaN(from) || Number.isNaN(to))
    return refuse(400, 'bad-period', 'from and to must be dates (ISO 8601) or epoch milliseconds');
  msg.payload = { command: 'statement', accountId: account, format };
  if (from !== undefined) msg.payload.from = from;
  if (to !== undefined) msg.payload.to = to;
  return [msg, null, null];
}
if (api === 'topup') return [null, null, msg];
return refuse(404, 'unknown-endpoint', 'no such tenant endpoint');
