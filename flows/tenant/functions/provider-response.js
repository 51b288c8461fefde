// The webhook's answer to the demo provider, passed on to the tenant page: the new balance after the top-up,
// or why the payment was not credited (a refused notification is a 502 for the page: the provider failed).
const answer = msg.payload;
const status = msg.statusCode;
msg.headers = {}; // not the webhook's response headers
if (status === 200 && answer && answer.ok === true) {
  msg.statusCode = 200;
  msg.payload = {
    ok: true,
    paymentId: msg.demoPayment.paymentId,
    amount: answer.amount,
    currency: msg.demoPayment.currency,
    balance: answer.balance,
    available: answer.available,
    state: answer.state,
  };
} else {
  msg.statusCode = 502;
  msg.payload = {
    ok: false,
    error: 'payment-not-credited',
    message: `the webhook answered ${status}: ${(answer && answer.message) || answer}`,
  };
}
return msg;
