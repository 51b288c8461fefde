// A ledger refusal of an HTTP request (a token that is not the account's, unknown account, another currency,
// over the top-up limit, store down): answered here, so no request hangs. Messages without msg.res (the
// set-up commands) get no answer; a demo link that could not be issued says so in the log (without a token).
// A payment id posted before with another amount, account or currency is a conflict (409, never a duplicate:
// a 200 would make the provider stop retrying a payment that was not credited); the ledger's error, logged and
// caught here, names both postings, and the answer carries them.
const message = String((msg.error && msg.error.message) || 'the ledger refused the request');
if (!msg.res) {
  if (msg.tenantApi === 'demo-link') node.warn(`DEMO: no tenant page link: ${message}`);
  return null;
}
let statusCode = 422;
let error = 'refused';
let answer = message;
if (msg.error && msg.error.code === 'reference-conflict') {
  statusCode = 409;
  error = 'reference-conflict';
} else if ((msg.error && msg.error.code === 'bad-token') || /token: is not an access token/.test(message)) {
  // The same answer for a malformed, unknown, revoked or another tenant's token.
  statusCode = 401;
  error = 'bad-token';
  answer = 'a valid access token for this account is required';
} else if (/does not exist/.test(message)) {
  statusCode = 404;
  error = 'unknown-account';
} else if (/queue is full|store/i.test(message)) {
  statusCode = 503;
  error = 'unavailable';
}
msg.statusCode = statusCode;
msg.headers = {};
msg.payload = { ok: false, error, message: answer };
if (statusCode === 409 && msg.conflict) {
  msg.payload.original = msg.conflict.original;
  msg.payload.attempted = msg.conflict.attempted;
  msg.payload.differs = msg.conflict.differs;
}
return msg;
