// DEMO ONLY, in demo mode: 50.00 of opening credit for each demo tenant (an operator posting, not a tenant payment), and a
// daily reading per utility for the last 14 days, charged as prepay-tariff would (electricity 24.50 p/kWh,
// water 2.00 GBP/m3; amounts in 1/10,000 of a penny). Reading ids are per date: a redeploy posts nothing twice.
// A value set outside this group (the process environment, the tab's) wins over the group's demo default.
function setting(name) {
  const outside = env.get(`$parent.${name}`);
  return outside !== undefined && outside !== '' ? outside : env.get(name);
}
if (setting('PREPAY_DEMO') !== 'on') return null;
const messages = [];
const [y, m, d] = new Date().toISOString().slice(0, 10).split('-').map(Number);
for (const [index, accountId] of ['T0101', 'T0102'].entries()) {
  messages.push({
    tenantApi: 'setup',
    payload: {
      command: 'topup',
      accountId,
      amount: 5000,
      currency: 'GBP',
      method: 'operator',
      reference: `demo-credit-${accountId}`,
    },
  });
  for (let i = 13; i >= 0; i -= 1) {
    const to = Date.UTC(y, m - 1, d - i, 12);
    const date = new Date(to).toISOString().slice(0, 10);
    const kwhMilli = 6000 + (((i + 1) * 7919 * (index + 1)) % 5000); // 6.000-10.999 kWh
    const litres = 200 + (((i + 1) * 131 * (index + 2)) % 250); // 0.200-0.449 m3
    const lines = [
      [
        'electricity',
        `E-${accountId}`,
        `${Math.floor(kwhMilli / 1000)}.${String(kwhMilli % 1000).padStart(3, '0')}`,
        'kWh',
        '0.245',
        kwhMilli * 245,
      ],
      ['water', `W-${accountId}`, `0.${String(litres).padStart(3, '0')}`, 'm3', '2.00', litres * 2000],
    ];
    for (const [utility, meterId, quantity, unit, rate, amount] of lines) {
      messages.push({
        tenantApi: 'setup',
        topic: 'charge',
        payload: {
          accountId,
          meterId,
          utility,
          readingId: `demo:${meterId}:${date}`,
          tariff: 'demo',
          quantity,
          unit,
          amount,
          currency: 'GBP',
          breakdown: [{ component: 'energy', quantity, unit, rate, amount }],
          carbonKg: 0,
          from: to - 86400000,
          to,
          kind: 'consumption',
        },
      });
    }
  }
}
return [messages];
