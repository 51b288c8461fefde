// GET .../usage?days=N: consumption per local day and utility, from the ledger's own charge entries (what was
// billed, so the page and the statement always agree). Quantities are summed exactly in millionths of their
// unit (a charge's quantity is a decimal string), cost in minor units. Standing and monthly items carry no
// consumption and are reported as `fixed` cost per day.
const days = msg.usageDays;
const zone = env.get('PREPAY_SITE_TIMEZONE') || 'UTC';
const localDate = new Intl.DateTimeFormat('en-CA', {
  timeZone: zone,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});
const dateOf = (t) => localDate.format(new Date(t)); // en-CA writes YYYY-MM-DD
const [y, m, d] = dateOf(Date.now()).split('-').map(Number);
const rows = new Map();
for (let i = days - 1; i >= 0; i -= 1) {
  // Calendar steps, not 24-hour steps: a 23- or 25-hour DST day neither skips nor repeats a date.
  rows.set(new Date(Date.UTC(y, m - 1, d - i)).toISOString().slice(0, 10), { utilities: {}, fixed: 0 });
}
function micro(quantity) {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(String(quantity));
  return match ? BigInt(match[1]) * 1000000n + BigInt((match[2] || '').padEnd(6, '0')) : 0n;
}
function decimal(value) {
  const fraction = (value % 1000000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${value / 1000000n}${fraction ? `.${fraction}` : ''}`;
}
for (const entry of msg.payload.entries) {
  const row = rows.get(dateOf(entry.effectiveAt));
  if (!row) continue;
  // A charge costs what it took from the balance plus what it added to debt (standing charges while off).
  const cost = -entry.amount + entry.debtDelta;
  if (entry.kind === 'standing' || entry.kind === 'monthly') row.fixed += cost;
  if (entry.kind !== 'charge') continue;
  const meta = entry.meta || {};
  const name = meta.utility || 'other';
  const line =
    row.utilities[name] || (row.utilities[name] = { quantity: 0n, unit: meta.unit || '', cost: 0 });
  line.quantity += micro(meta.quantity);
  line.cost += cost;
}
msg.payload = {
  ok: true,
  accountId: msg.accountId,
  currency: msg.payload.currency,
  timeZone: zone,
  source: 'ledger charge entries',
  days: [...rows].map(([date, row]) => ({
    date,
    utilities: Object.fromEntries(
      Object.entries(row.utilities).map(([name, line]) => [
        name,
        { quantity: decimal(line.quantity), unit: line.unit, cost: line.cost },
      ]),
    ),
    fixed: row.fixed,
  })),
};
msg.statusCode = 200;
msg.headers = {};
return msg;
