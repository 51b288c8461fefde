// The load-control tab of the reference site: the savings evidence (prepay-savings) fed by every meter reader's
// consumption and by the simulator's outdoor temperature, with occupancy schedules by kind of unit, and its
// reports sent on to the operator dashboard's "Savings" group.
import { OUT, SITE } from './building.mjs';
import { id, TAB } from './ids.mjs';

const z = TAB.loadcontrol;

/** Opening hours by kind of unit, in the site's time zone. */
export const SCHEDULES = {
  office: `Mon-Fri 08:00-18:00; holidays ${SITE.holidays}`,
  shop: 'daily 10:00-22:00',
  restaurant: 'daily 07:00-23:00',
  // The landlord's plant serves the mall's common areas while it is open.
  common: 'daily 09:00-22:00',
};

/** Links the dashboard's Savings group listens to. */
export const SAVINGS_OUT = id('out:savings');

export function loadControlTab({ tables, tenants, site = SITE }) {
  const electricity = new Map();
  for (const row of tables.flat())
    if (row.utility === 'electricity')
      electricity.set(row.accountId, [...(electricity.get(row.accountId) ?? []), row.meterId]);
  const units = tenants
    .filter((t) => electricity.has(t.accountId))
    .map((t) => ({
      unit: t.accountId,
      meters: electricity.get(t.accountId).join(', '),
      schedule: t.accountId === 'COMMON' ? SCHEDULES.common : SCHEDULES[t.kind],
    }));
  return [
    {
      id: z,
      type: 'tab',
      label: 'Load control',
      disabled: false,
      info:
        "Savings evidence per unit (LEED / BREEAM): energy inside and outside each unit's opening hours, and measured " +
        'savings against the baseline period (IPMVP option C), reported at midnight and on the 1st. CSV: ' +
        'GET /prepay-savings/<node id>/report?from=&to=&format=csv (permission prepay-savings.read). Offices keep ' +
        'office hours (and close on public holidays), shops 10:00-22:00, restaurants 07:00-23:00, the plant 09:00-22:00.',
    },
    {
      id: id('lc:consumption'),
      type: 'link in',
      z,
      name: 'consumption',
      links: [OUT.consumption],
      x: 140,
      y: 80,
      wires: [[id('savings')]],
    },
    {
      id: id('lc:outdoor'),
      type: 'link in',
      z,
      name: 'simulator',
      links: [OUT.simulator],
      x: 140,
      y: 140,
      wires: [[id('lc:only-temperature')]],
    },
    {
      id: id('lc:only-temperature'),
      type: 'switch',
      z,
      name: 'outdoor temperature',
      property: 'topic',
      propertyType: 'msg',
      rules: [{ t: 'eq', v: 'outdoor-temperature', vt: 'str' }],
      checkall: 'true',
      repair: false,
      outputs: 1,
      x: 340,
      y: 140,
      wires: [[id('savings')]],
    },
    {
      id: id('lc:ask'),
      type: 'inject',
      z,
      name: 'this and last month, for the dashboard',
      props: [{ p: 'payload' }],
      repeat: '60',
      crontab: '',
      once: true,
      onceDelay: '5',
      topic: '',
      payload: '',
      payloadType: 'date',
      x: 190,
      y: 220,
      wires: [[id('lc:requests')]],
    },
    {
      id: id('lc:requests'),
      type: 'function',
      z,
      name: 'report requests',
      func: [
        "// This month's days for the chart, last month's total for the text (the node's clock decides the months).",
        "return [[{ topic: 'report', role: 'chart', payload: { period: 'month' } },",
        "  { topic: 'report', role: 'summary', payload: { period: 'month', month: 'last' } }]];",
      ].join('\n'),
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 420,
      y: 220,
      wires: [[id('savings')]],
    },
    {
      id: id('savings'),
      type: 'prepay-savings',
      z,
      name: 'savings evidence',
      timeZone: site.timeZone,
      units,
      // The site's first quarter: measured savings start once it has 30 complete days and a model passes.
      baselineFrom: '2026-12-01',
      baselineTo: '2027-02-28',
      cvRmse: 25,
      nmbe: 0.5,
      r2: 0.7,
      minDays: 30,
      temperatureUnit: '°C',
      x: 640,
      y: 120,
      wires: [[SAVINGS_OUT], [SAVINGS_OUT]],
    },
    {
      id: SAVINGS_OUT,
      type: 'link out',
      z,
      name: 'savings reports',
      mode: 'link',
      links: [],
      x: 860,
      y: 120,
      wires: [],
    },
  ];
}
