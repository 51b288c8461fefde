// GET .../balance, second step: the last top-up comes from the account's statement (the last 400 days).
msg.balance = msg.payload;
msg.tenantApi = 'balance-statement';
msg.payload = {
  command: 'statement',
  accountId: msg.accountId,
  from: Date.now() - 400 * 86400000,
  format: 'json',
};
return msg;
