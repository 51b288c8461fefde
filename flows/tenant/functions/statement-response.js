// GET .../statement: the ledger's statement as JSON, or as the CSV the accounting export uses.
msg.statusCode = 200;
if (typeof msg.payload.csv === 'string') {
  msg.headers = {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="statement-${msg.accountId}.csv"`,
  };
  msg.payload = msg.payload.csv;
} else {
  msg.headers = {};
}
return msg;
