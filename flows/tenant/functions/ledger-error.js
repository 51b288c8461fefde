// A ledger refusal of an HTTP request (unknown account, another currency, over the top-up limit, store down):
// answered here, so no request hangs. Messages without msg.res (the set-up commands) are left to the log.
if (!msg.res) return null;
const message = String((msg.error && msg.error.message) || 'the ledger refused the request');
let statusCode = 422;
let error = 'refused';
if (/does not exist/.test(message)) {
  statusCode = 404;
  error = 'unknown-account';
} else if (/queue is full|store/i.test(message)) {
  statusCode = 503;
  error = 'unavailable';
}
msg.statusCode = statusCode;
msg.headers = {};
msg.payload = { ok: false, error, message };
return msg;
