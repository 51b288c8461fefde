// Tenant API requests: reads the endpoint's parameters, then has the ledger check the tenant's access token for
// the account in the URL; "token accepted" then sends the endpoint's own command. Tokens are issued per tenant
// (the ledger's tenant-token command, or the admin API) and kept only as their SHA-256 in the ledger store, so
// one tenant's token is revoked or rotated without touching another's. The token comes as
// "Authorization: Bearer <token>" (or ?token= for a link); it is checked, never logged.
// The endpoint is the route's last segment: balance, usage, statement or topup.
// Outputs: 1 the token check for the ledger, 2 refusals for the http response.
// @core parseInstant
const DAY = 86400000;
const account = String(msg.req.params.account || '');
const api = msg.req.route.path.split('/').pop();
function refuse(statusCode, error, message) {
  msg.statusCode = statusCode;
  msg.payload = { ok: false, error, message };
  return [null, msg];
}
if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(account)) return refuse(400, 'bad-account', 'not an account id');
const auth = String(msg.req.headers.authorization || '');
const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : String(msg.req.query.token || '');
if (!token) return refuse(401, 'bad-token', 'a valid access token for this account is required');

const query = msg.req.query;
let request;
if (api === 'balance') {
  request = { command: 'balance', accountId: account };
} else if (api === 'usage') {
  const given = query.days;
  const days =
    given === undefined ? 7 : typeof given === 'string' && /^\d{1,2}$/.test(given) ? Number(given) : 0;
  if (!(days >= 1 && days <= 92)) return refuse(400, 'bad-days', 'days must be a whole number from 1 to 92');
  msg.usageDays = days;
  // Statements select by posting time; read two days more, for readings posted after the day they belong to.
  request = {
    command: 'statement',
    accountId: account,
    from: Date.now() - (days + 2) * DAY,
    format: 'json',
  };
} else if (api === 'statement') {
  const format = query.format === undefined ? 'json' : query.format;
  if (format !== 'json' && format !== 'csv') return refuse(400, 'bad-format', 'format must be json or csv');
  request = { command: 'statement', accountId: account, format };
  for (const field of ['from', 'to']) {
    if (query[field] === undefined || query[field] === '') continue;
    try {
      // An impossible date (2024-02-30, 2024-13-01) is refused, not rolled over into another month.
      request[field] = parseInstant(query[field]);
    } catch (error) {
      refuse(400, 'bad-period', `${field}: ${error.message}`);
      msg.payload.field = field;
      return [null, msg];
    }
  }
} else if (api === 'topup') {
  request = msg.payload; // the demo provider reads the tenant's amount and currency
} else {
  return refuse(404, 'unknown-endpoint', 'no such tenant endpoint');
}

msg.accountId = account;
msg.tenantApi = 'token';
msg.tenantEndpoint = api;
msg.tenantRequest = request;
msg.payload = { command: 'tenant-token', action: 'verify', accountId: account, token };
return [msg, null];
