// GET .../balance: the ledger's balance, available credit and credit state, days left as prepay-forecast
// last put on the account's state (when a forecast is wired in front of "remember states"), the last top-up.
const balance = msg.balance;
const topups = msg.payload.entries.filter((e) => e.kind === 'topup');
const last = topups[topups.length - 1];
const remembered = (flow.get('tenantStates') || {})[msg.accountId];
msg.payload = {
  ok: true,
  accountId: balance.accountId,
  balance: balance.balance,
  available: balance.available,
  currency: balance.currency,
  state: balance.state,
  debt: balance.debt,
  lastTopup: last
    ? {
        amount: last.amount,
        at: new Date(last.postedAt).toISOString(),
        reference: last.reference,
        method: (last.meta && last.meta.method) || null,
      }
    : null,
};
if (remembered && typeof remembered.daysLeft === 'number') msg.payload.daysLeft = remembered.daysLeft;
msg.statusCode = 200;
msg.headers = {};
return msg;
