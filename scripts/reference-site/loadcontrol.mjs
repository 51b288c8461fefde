// The load-control tab of the reference site: prepay-loadcontrol commanding the simulator's BEMS controller
// (vacancy setback from the tenants' account states and relay commands; demand limiting from every electricity
// meter's readings, shedding BEMS setpoints first and then tenant power limits through the cutoff nodes), and
// the savings evidence (prepay-savings) fed by every meter reader's consumption and by the simulator's outdoor
// temperature, with occupancy schedules by kind of unit. Reports go on to the operator dashboard.
import { IN, OUT, SITE } from './building.mjs';
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
/** The load-control node's command outcomes, demand windows and decisions, for the dashboard. */
export const LOADCONTROL_OUT = id('out:loadcontrol');

/** Demand limiting: the site's electricity over 30-minute windows, kept under this (the weekday peak is ~1,800 kW). */
export const DEMAND_TARGET_KW = 1600;

/** What a vacant or cut unit's HVAC is set back to on the simulated controller (bems-site.ts's objects). */
const SETBACK = { mode: 2, zone: 28, priority: 10 };

/**
 * The shed table: BEMS setpoints on the simulated controller (warmer chilled water, then a slower air handler:
 * every unit's air conditioning draws less). Tenant power limits (`power-limit` rows) go to the cutoff nodes through
 * the link below, but this site's Modbus relays only switch: its cutoff nodes would refuse every limit, so the table
 * has none (a site whose relays can limit adds them after the BEMS steps, as the loadcontrol-demand example does).
 */
function shedTable() {
  return [
    'step,kind,target,value,reliefKw,minHoldMinutes,maxHoldMinutes',
    '# shed top to bottom, restored bottom first',
    'chilled water 10 C,bacnet,analog-output:1,10,50,10,120',
    'AHU fan 70 %,bacnet,analog-output:2,70,100,10,120',
  ].join('\n');
}

/** The HVAC table: each unit's occupancy mode and zone setpoint on the simulated controller. */
function hvacTable(tenants) {
  const rows = ['account,object,unoccupied,occupied,priority'];
  for (const t of tenants) {
    const n = Number(t.accountId.slice(1));
    if (!/^T\d+$/.test(t.accountId) || !t.utilities.includes('electricity')) continue;
    rows.push(`${t.accountId},multi-state-value:${n},${SETBACK.mode},relinquish,${SETBACK.priority}`);
    rows.push(`${t.accountId},analog-value:${n},${SETBACK.zone},relinquish,${SETBACK.priority}`);
  }
  return rows.join('\n');
}

function linkIn(key, name, from, x, y, wires) {
  return { id: id(key), type: 'link in', z, name, links: from, x, y, wires: [wires] };
}

/** The load-control nodes: the BEMS client, prepay-loadcontrol and what feeds it. */
function loadControlNodes({ tenants, site }) {
  const lc = id('loadcontrol');
  return [
    {
      id: id('lc:comment'),
      type: 'comment',
      z,
      name: 'Vacancy setback and demand limiting on the simulated BEMS controller',
      info: [
        `The simulator hosts a BEMS controller (BACnet device ${site.bemsDevice}, UDP 127.0.0.1:${site.bemsPort}): per unit N an occupancy mode (multi-state-value:N, 1 occupied, 2 unoccupied) and a zone setpoint (analog-value:N), and the site's chilled-water setpoint (analog-output:1) and air-handler fan speed (analog-output:2). Their present values drive each unit's air conditioning, so the meters show what load control does.`,
        `Vacancy setback: a closed account (vacant unit) or a supply cut for exhausted credit sets the unit's mode to unoccupied and its zone to ${SETBACK.zone} C at priority ${SETBACK.priority}; a move-in or reconnection relinquishes them.`,
        `Demand limiting: every electricity meter's readings make the site demand; each 30-minute window is kept under ${DEMAND_TARGET_KW} kW by shedding the shed table's steps: the chilled-water setpoint, then the air-handler fan. Tenant power limits would go to the cutoff nodes (the link on the right; their answers come back from the supply alarms), but this site's Modbus relays only switch, so the table has none.`,
        'Read the controller with bacnet-stack: bacrp --mac 127.0.0.1:' +
          site.bemsPort +
          ' --dnet 0 ' +
          site.bemsDevice +
          ' multi-state-value 7 priority-array',
      ].join('\n'),
      x: 330,
      y: 320,
      wires: [],
    },
    {
      id: id('lc:bems-client'),
      type: 'prepay-bacnet-client',
      name: 'simulated BEMS controller',
      device: String(site.bemsDevice),
      deviceType: 'num',
      address: `127.0.0.1:${site.bemsPort}`,
      addressType: 'str',
      bindAddress: '127.0.0.1',
      port: '0',
      apduTimeout: '1000',
      retries: '2',
      lease: '300',
    },
    linkIn('lc:states', 'account states', [OUT.states], 140, 380, [lc]),
    linkIn('lc:relays', 'relay commands', [OUT.relayCommands], 140, 420, [lc]),
    linkIn('lc:readings', 'readings', [OUT.readings], 140, 460, [lc]),
    linkIn('lc:limit-answers', 'supply alarms (limit answers)', [OUT.supplyAlarms], 160, 500, [
      id('lc:only-limits'),
    ]),
    {
      id: id('lc:only-limits'),
      type: 'switch',
      z,
      name: 'limit answers',
      property: 'topic',
      propertyType: 'msg',
      rules: [{ t: 'eq', v: 'limit', vt: 'str' }],
      checkall: 'true',
      repair: false,
      outputs: 1,
      x: 380,
      y: 500,
      wires: [[lc]],
    },
    {
      id: lc,
      type: 'prepay-loadcontrol',
      z,
      name: 'vacancy setback and demand limiting',
      client: id('lc:bems-client'),
      priority: String(SETBACK.priority),
      verify: '300',
      table: hvacTable(tenants),
      targetKw: String(DEMAND_TARGET_KW),
      windowMinutes: '30',
      marginKw: '50',
      siteMeters: '',
      shedTable: shedTable(),
      priceRules: '',
      currency: site.currency,
      priceUnit: 'major',
      limitMinutes: '60',
      checkSeconds: '15',
      x: 620,
      y: 420,
      // 1: command outcomes; 2: limit requests for the cutoff nodes; 3: demand windows and decisions, and the
      // setbacks and demand steps the savings evidence attributes to each unit.
      wires: [[LOADCONTROL_OUT], [id('lc:to-cutoff')], [LOADCONTROL_OUT, id('savings')]],
    },
    {
      id: id('lc:to-cutoff'),
      type: 'link out',
      z,
      name: 'limits to the cutoff nodes',
      mode: 'link',
      links: [IN.overrides],
      x: 880,
      y: 460,
      wires: [],
    },
    {
      id: LOADCONTROL_OUT,
      type: 'link out',
      z,
      name: 'load-control reports',
      mode: 'link',
      links: [],
      x: 880,
      y: 400,
      wires: [],
    },
    {
      id: id('lc:catch'),
      type: 'catch',
      z,
      name: 'load-control errors',
      scope: [lc],
      uncaught: false,
      x: 620,
      y: 520,
      wires: [[id('lc:debug-errors')]],
    },
    {
      id: id('lc:debug-errors'),
      type: 'debug',
      z,
      name: 'load-control errors',
      active: true,
      tosidebar: true,
      console: false,
      tostatus: false,
      complete: 'error.message',
      targetType: 'msg',
      statusVal: '',
      statusType: 'auto',
      x: 860,
      y: 520,
      wires: [],
    },
  ];
}

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
        'office hours (and close on public holidays), shops 10:00-22:00, restaurants 07:00-23:00, the plant 09:00-22:00.\n' +
        'Load control: vacancy setback and demand limiting on the simulated BEMS controller (see the comment); ' +
        'the savings evidence counts the hours each unit was set back and the demand steps taken.',
    },
    ...loadControlNodes({ tenants, site }),
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
