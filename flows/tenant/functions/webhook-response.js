// POST /prepay/payments/webhook after the ledger committed the top-up (or found it posted before, a provider
// retry: msg.duplicate, and the original's figures): 200 tells the provider to stop retrying.
const result = msg.payload;
const entry = (result.entries || []).find((e) => e.kind === 'topup');
msg.statusCode = 200;
msg.headers = {};
msg.payload = {
  ok: true,
  duplicate: msg.duplicate === true,
  reference: result.reference,
  accountId: result.accountId,
  amount: entry ? entry.amount : null,
  balance: result.balance,
  available: result.available,
  state: result.state,
};
return msg;
