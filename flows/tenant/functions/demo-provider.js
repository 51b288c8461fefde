// DEMO ONLY: stands in for a payment provider's checkout. It takes the tenant's amount, "charges the card"
// (nothing is charged anywhere) and notifies the webhook exactly as a provider does: a JSON body signed with
// HMAC-SHA256 over "<unix seconds>.<body>" in X-Prepay-Signature, posted over HTTP, so the credit takes the
// real, verified path. In production the tenant page links to the provider's own checkout, the provider calls
// the webhook, and this node is deleted (or PREPAY_DEMO set to anything but "on").
// The tenant's amount is what they typed, in major units ("12.50"), read exactly by the package's own parser:
// more decimals than the currency has, an exponent or an absurd size are refused, never rounded; a JSON integer
// is minor units, as from a program.
// Outputs: 1 the signed notification for the http request node, 2 refusals for the http response.
// @core parseMajorAmountIn
// @core MINOR_UNIT_DIGITS
function refuse(statusCode, error, message, field) {
  msg.statusCode = statusCode;
  msg.payload = { ok: false, error, message };
  if (field) msg.payload.field = field;
  return [null, msg];
}
// A value set outside this group (the process environment, the tab's) wins over the group's demo default.
function setting(name) {
  const outside = env.get(`$parent.${name}`);
  return outside !== undefined && outside !== '' ? outside : env.get(name);
}
if (setting('PREPAY_DEMO') !== 'on')
  return refuse(404, 'demo-provider-off', 'top-ups go through the payment provider');
const request = msg.payload || {};
if (typeof request.currency !== 'string' || !Object.hasOwn(MINOR_UNIT_DIGITS, request.currency))
  return refuse(400, 'bad-currency', 'currency must be an ISO 4217 code', 'currency');
let amount = request.amount;
if (typeof amount === 'string') {
  try {
    amount = Number(parseMajorAmountIn(amount, MINOR_UNIT_DIGITS[request.currency]));
  } catch (error) {
    return refuse(400, 'bad-amount', `amount: ${error.message}`, 'amount');
  }
} else if (!Number.isSafeInteger(amount) || amount <= 0) {
  return refuse(
    400,
    'bad-amount',
    'amount: a decimal in major units such as "12.50", or a whole number of minor units',
    'amount',
  );
}
// Signed as the payment node verifies: the real secret when one is set, else the demo's default.
const secret = String(env.get('PREPAY_WEBHOOK_SECRET') || env.get('PREPAY_DEMO_WEBHOOK_SECRET') || '')
  .split(/\s+/)
  .filter(Boolean)[0];
if (!secret) return refuse(503, 'not-configured', 'the demo provider has no webhook secret');

const paymentId = `demo_${crypto.randomBytes(9).toString('hex')}`;
const body = JSON.stringify({
  type: 'payment.succeeded',
  paymentId,
  accountId: msg.accountId,
  amount,
  currency: request.currency,
  method: 'demo-card',
  createdAt: new Date().toISOString(),
});
const t = Math.floor(Date.now() / 1000);
const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
// The webhook on this same Node-RED: the address and port this request arrived on (never the Host header,
// which the client chooses), under the same httpNodeRoot; PREPAY_WEBHOOK_URL overrides it.
const socket = msg.req.socket;
const host = socket.localAddress.includes(':') ? `[${socket.localAddress}]` : socket.localAddress;
msg.url =
  env.get('PREPAY_WEBHOOK_URL') ||
  `${msg.req.protocol}://${host}:${socket.localPort}${msg.req.baseUrl}/prepay/payments/webhook`;
if (msg.req.protocol === 'https') msg.rejectUnauthorized = false; // our own server, on its own address
msg.method = 'POST';
msg.headers = { 'content-type': 'application/json', 'x-prepay-signature': `t=${t},v1=${v1}` };
msg.payload = body;
msg.demoPayment = { paymentId, amount, currency: request.currency };
return [msg, null];
