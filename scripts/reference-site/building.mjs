// The building tab of the reference site: the simulated commercial centre's meters on two Modbus TCP
// gateways, read by one meter reader per gateway, priced by the site tariffs, posted to the tenants'
// prepaid accounts, forecast, and cut off or reconnected on the simulator's relays.
import { id, TAB } from './ids.mjs';

export const SITE = {
  tenants: 120,
  seed: 7,
  metersPerGateway: 200,
  timeZone: 'Asia/Kuala_Lumpur',
  waterEvery: 1,
  coolingEvery: 10,
  gasForRestaurants: true,
  firstPort: 5021,
  // The simulator's BEMS controller (BACnet/IP): apart from the site's own BACnet device on 47808.
  bemsDevice: 412100,
  bemsPort: 47810,
  currency: 'MYR',
  // Fixed-date public holidays in Kuala Lumpur (moving feasts are added each year by the operator).
  holidays: [
    '2026-12-25',
    '2027-01-01',
    '2027-02-01',
    '2027-05-01',
    '2027-08-31',
    '2027-09-16',
    '2027-12-25',
  ].join(', '),
};

/** Opening credit in sen, by kind of tenant: about ten days of use; every eighth tenant far less. */
export function openingCredit(tenant) {
  const number = Number(tenant.accountId.slice(1));
  if (number % 8 === 0) return 15_000; // RM 150: runs out in the first days, to show the cutoff policy
  return { office: 60_000, shop: 120_000, restaurant: 250_000 }[tenant.kind];
}

const TARIFFS = {
  'tenant-tou': {
    name: 'Tenant time-of-use electricity (TNB C2 energy rates; demand and minimum charges stay with the landlord intake)',
    currency: 'MYR',
    utility: 'electricity',
    timezone: SITE.timeZone,
    energy: {
      type: 'tou',
      rates: { peak: '0.365', offpeak: '0.224' },
      default: 'offpeak',
      schedule: [
        { days: ['weekday', 'saturday', 'sunday', 'holiday'], from: '08:00', to: '22:00', period: 'peak' },
      ],
    },
    carbon: { kgPerUnit: '0.585' },
  },
  'water-tiered': {
    name: 'Tiered commercial water with sewerage on 95% of volume',
    currency: 'MYR',
    utility: 'water',
    timezone: SITE.timeZone,
    energy: {
      type: 'block',
      reset: 'month',
      blocks: [{ upTo: '35', rate: '2.28' }, { rate: '2.85' }],
    },
    surcharges: [{ name: 'sewerage', rate: '0.90', share: '95' }],
  },
  'gas-calorific': {
    name: 'Natural gas billed by energy: m3 x volume correction x calorific value (MJ/m3) / 3.6',
    currency: 'MYR',
    utility: 'gas',
    timezone: SITE.timeZone,
    conversion: { from: 'm3', volumeCorrection: '1.0', calorificValue: '38.6' },
    energy: { type: 'flat', rate: '0.1650' },
    standingCharge: { perDay: '1.50' },
    carbon: { kgPerUnit: '0.184' },
  },
  'cooling-thermal': {
    name: 'District cooling billed per kWh thermal, with a daily meter and connection charge',
    currency: 'MYR',
    utility: 'cooling',
    timezone: SITE.timeZone,
    energy: { type: 'flat', rate: '0.2900' },
    standingCharge: { perDay: '8.00' },
  },
};

/** The ledger's settings (defaults for the accounts it opens); the tenant API's ledger node uses the same. */
export const LEDGER = {
  lowThreshold: '5000',
  lowHysteresis: '1000',
  emergencyCredit: '2000',
  emergencyMode: 'auto',
  reconnectAbove: '500',
  debtRecoveryShare: '25',
  debtRecoveryCap: '0',
  debtRecoveryPerDay: '0',
  maxBalance: '0',
  maxTopup: '0',
  standingWhileOff: 'accrue-debt',
  rounding: 'half-even',
  // States when an account's credit state changes, and every account's state at each snapshot. A state after
  // every charge is one message per meter per billing interval through every consumer of states (the cutoff
  // nodes, the BEMS, the dashboard): on the week-long run's fast clock that was more than the flow kept up with.
  stateOutput: 'change',
  snapshotMinutes: '15',
  maxQueue: '20000',
};

const POLICY = {
  policyName: 'KL friendly credit',
  graceMinutes: 60,
  windowMarginMinutes: 5,
  reconnectAbove: 0,
  timeZone: SITE.timeZone,
  nightsFrom: '18:00',
  nightsTo: '08:00',
  weekends: true,
  holidays: SITE.holidays,
  neverDisconnect: 'water, gas, cooling',
  minOnMinutes: 5,
  minOffSeconds: 30,
  emergency: 'connect',
  limitW: 1000,
  canLimit: false,
  maxStateAgeMinutes: 45,
  checkSeconds: 30,
  verifySeconds: 300,
};

function debug(key, name, x, y, options = {}) {
  return {
    id: id(key),
    type: 'debug',
    z: TAB.building,
    name,
    active: options.active ?? false,
    tosidebar: true,
    console: false,
    tostatus: options.tostatus ?? false,
    complete: options.complete ?? 'payload',
    targetType: 'msg',
    statusVal: options.statusVal ?? '',
    statusType: options.statusVal ? 'msg' : 'auto',
    x,
    y,
    wires: [],
  };
}

/** Where each node sits in the editor: the data flows left to right. */
const LAYOUT = {
  comment: [330, 40],
  simulator: [150, 100],
  'debug-tables': [380, 100],
  'meter-0': [150, 200],
  'meter-1': [150, 300],
  'out:consumption': [400, 160],
  'out:readings': [400, 250],
  'out:meter-events': [400, 350],
  'debug-meter-events': [450, 400],
  tariff: [560, 250],
  'in:ledger': [620, 320],
  'in:states': [800, 320],
  ledger: [760, 250],
  'answer-callers': [960, 170],
  return: [1080, 170],
  forecast: [960, 250],
  'in:overrides': [960, 100],
  'route-override': [1090, 100],
  'override-unowned': [1240, 100],
  'cutoff-0': [1240, 200],
  'cutoff-1': [1240, 300],
  'out:relays': [1450, 160],
  'debug-relays': [1490, 200],
  'debug-supply-alarms': [1490, 300],
  'out:supply-alarms': [1450, 340],
  'out:states': [1170, 380],
  'debug-states': [1210, 420],
  'debug-reminders': [1210, 460],
  'out:reminders': [1170, 500],
  history: [770, 400],
  'open-accounts': [150, 520],
  'open-function': [390, 520],
  catch: [140, 600],
  'debug-errors': [370, 600],
};

/** The simulated gateways in words: "one simulated Modbus TCP gateway (127.0.0.1:5031)" or two and more. */
function gatewaysText(count, firstPort) {
  if (count === 1) return `one simulated Modbus TCP gateway (127.0.0.1:${firstPort})`;
  const ports = Array.from({ length: count }, (_, i) => `:${firstPort + i}`);
  return `${count} simulated Modbus TCP gateways (127.0.0.1${ports.slice(0, -1).join(', ')} and ${ports.at(-1)})`;
}

/** A link out node of the building: what it carries is heard by link in nodes on the other tabs. */
function linkOut(key, name, x, y) {
  return { id: id(key), type: 'link out', z: TAB.building, name, mode: 'link', links: [], x, y, wires: [] };
}

/** The building's link out nodes, by what they carry; other tabs listen with `link in` nodes. */
export const OUT = {
  states: id('out:states'),
  reminders: id('out:reminders'),
  consumption: id('out:consumption'),
  readings: id('out:readings'),
  meterEvents: id('out:meter-events'),
  relayCommands: id('out:relays'),
  supplyAlarms: id('out:supply-alarms'),
  reconciliation: id('out:reconciliation'),
  simulator: id('out:simulator'),
};
/** The building's link in nodes: ledger commands (for `link call`, answered after commit) and overrides. */
export const IN = { ledger: id('in:ledger'), overrides: id('in:overrides'), states: id('in:states') };

/**
 * Nodes of the building tab. `tables`: per gateway, the meter table rows; `tenants`: accountId, kind and
 * utilities of every tenant.
 */
export function buildingTab({ tables, tenants, site = SITE }) {
  const gateways = tables.map((table, gateway) => ({ gateway, table }));
  const more = (name) => (OUT[name] ? [OUT[name]] : []);
  const nodes = [
    {
      id: TAB.building,
      type: 'tab',
      label: 'Building',
      disabled: false,
      info:
        `The reference commercial centre: ${tenants.length} tenant units (offices, shops, restaurants) with electricity and ` +
        `water meters, gas for the restaurants and cooling for every tenth unit, on ${gatewaysText(tables.length, site.firstPort)}.`,
    },
    {
      id: id('comment'),
      type: 'comment',
      z: TAB.building,
      name: 'Meters -> meter readers -> tariffs -> ledger -> forecast -> cutoff relays',
      info: [
        `The simulated building serves ${tables.reduce((n, t) => n + t.length, 0)} meters on ${gatewaysText(tables.length, site.firstPort)}.`,
        (tables.length === 1 ? 'The gateway has its' : 'Each gateway has its') +
          ' meter reader (polls every 15 s, spread over the interval; bills every 5 minutes) and its cutoff relay node (the relays on the same link).',
        'Consumption is priced by the site tariffs (time-of-use electricity, tiered water with sewerage, gas by calorific value, cooling per kWh thermal) and posted to each tenant prepaid account in the SQLite ledger.',
        'Account states pass through the forecast (days of credit left, top-up reminders) to the cutoff relays, the BEMS and the dashboard.',
        'Cutoff policy: 60 minutes grace, never 18:00-08:00, at weekends or on public holidays; water, gas and cooling are never cut.',
        'Accounts are opened and given their opening credit on deploy; references make that idempotent across restarts.',
        ...(site.npmStart === false
          ? []
          : ['Run faster: PREPAY_SPEED=60 npm start (an hour of building time per minute).']),
      ].join('\n'),
      x: 330,
      y: 40,
      wires: [],
    },
    {
      id: id('simulator'),
      type: 'prepay-simulator',
      z: TAB.building,
      name: 'simulated building',
      tenants: tenants.length,
      port: site.firstPort,
      metersPerGateway: site.metersPerGateway,
      speed: 1,
      seed: site.seed,
      timeZone: site.timeZone,
      otherUtilities: true,
      waterEvery: site.waterEvery,
      coolingEvery: site.coolingEvery,
      gasForRestaurants: site.gasForRestaurants,
      // The simulated BEMS controller the load-control tab commands: setpoints and occupancy modes that drive
      // each unit's air conditioning (and so its meter).
      bems: site.bems !== false,
      bemsAddress: '127.0.0.1',
      bemsPort: site.bemsPort,
      bemsDevice: site.bemsDevice,
      x: 150,
      y: 100,
      wires: [[id('debug-tables'), id('out:simulator')]],
    },
    debug('debug-tables', 'meter tables', 370, 100),
    {
      id: id('outdoor-every-minute'),
      type: 'inject',
      z: TAB.building,
      name: 'outdoor temperature, every minute',
      props: [{ p: 'topic', vt: 'str' }],
      repeat: '60',
      crontab: '',
      once: true,
      onceDelay: '2',
      topic: 'outdoor-temperature',
      x: 170,
      y: 40,
      wires: [[id('simulator')]],
    },
    // Commissioning drills: every gateway loses power (meters go into comm loss, nothing is cut), then returns.
    ...[
      ['gateways-off', 'power off every gateway', false],
      ['gateways-on', 'power every gateway on', true],
    ].map(([key, name, running]) => ({
      id: id(key),
      type: 'inject',
      z: TAB.building,
      name,
      props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }],
      repeat: '',
      crontab: '',
      once: false,
      onceDelay: 0.1,
      topic: 'gateway',
      payload: JSON.stringify(tables.map((_, gateway) => ({ gateway, running }))),
      payloadType: 'json',
      x: 150,
      y: 680 + (running ? 40 : 0),
      wires: [[id('each-gateway')]],
    })),
    {
      id: id('each-gateway'),
      type: 'split',
      z: TAB.building,
      name: 'each gateway',
      splt: '\\n',
      spltType: 'str',
      arraySplt: 1,
      arraySpltType: 'len',
      stream: false,
      addname: '',
      x: 380,
      y: 700,
      wires: [[id('simulator')]],
    },
    ...gateways.flatMap(({ gateway, table }) => [
      {
        id: id(`link-${gateway}`),
        type: 'prepay-modbus',
        name: `gateway ${gateway + 1} (simulated)`,
        kind: 'tcp',
        host: '127.0.0.1',
        port: site.firstPort + gateway,
        timeout: 1000,
        pause: '',
        retries: 1,
        maxGap: 64,
      },
      {
        id: id(`meter-${gateway}`),
        type: 'prepay-meter',
        z: TAB.building,
        name: `gateway ${gateway + 1} meters`,
        source: 'modbus',
        link: id(`link-${gateway}`),
        interval: 15,
        table,
        profiles: '',
        commLossPolls: 3,
        commLossMinutes: 15,
        sliceMinutes: 30,
        // Polled every 15 s for live readings; billed every 5 minutes (a twentieth of the ledger entries).
        billMinutes: 5,
        // Day summaries (for the ledger's reconciliation) cover the site's local days.
        timezone: site.timeZone,
        x: 160,
        y: 200 + gateway * 100,
        // Its cutoff node hears of comm loss (events) and estimated consumption: never cut on an estimate.
        wires: [
          [id('tariff'), id(`cutoff-${gateway}`), ...more('consumption')],
          [...more('readings')],
          // ...and the ledger takes the reader's day summaries for its daily reconciliation.
          [id('debug-meter-events'), id(`cutoff-${gateway}`), id('ledger'), ...more('meterEvents')],
        ],
      },
      {
        id: id(`cutoff-${gateway}`),
        type: 'prepay-cutoff',
        z: TAB.building,
        name: `gateway ${gateway + 1} relays`,
        mode: 'modbus',
        link: id(`link-${gateway}`),
        store: id('store'),
        table: table.filter((row) => row.relay !== ''),
        profiles: '',
        relayModuleProfile: 'relay-module-8ch',
        ...POLICY,
        x: 1120,
        y: 200 + gateway * 100,
        wires: [
          [id('debug-relays'), ...more('relayCommands')],
          [id('debug-supply-alarms'), ...more('supplyAlarms')],
        ],
      },
    ]),
    debug('debug-meter-events', 'meter events', 400, 400, { active: true }),
    debug('debug-reconciliation', 'reconciliation', 990, 330, {
      active: true,
      tostatus: true,
      statusVal: 'payload.unexplained',
    }),
    {
      id: id('tariff'),
      type: 'prepay-tariff',
      z: TAB.building,
      name: 'site tariffs',
      tariffs: JSON.stringify(TARIFFS, null, 2),
      defaultTariff: '',
      mapping: JSON.stringify(
        Object.entries(TARIFFS).map(([tariff, doc]) => ({ utility: doc.utility, tariff })),
      ),
      select: 'tariff',
      selectType: 'msg',
      calendar: true,
      persist: true,
      x: 420,
      y: 250,
      wires: [[id('ledger'), id('forecast'), ...more('charges')]],
    },
    {
      id: id('store'),
      type: 'prepay-store',
      name: 'site ledger (SQLite)',
      backend: 'sqlite',
      file: 'prepay-ledger.db',
      synchronous: 'FULL',
      host: '',
      port: '5432',
      database: 'prepay',
      user: '',
      ssl: false,
    },
    {
      id: id('ledger'),
      type: 'prepay-ledger',
      z: TAB.building,
      name: 'tenant ledger',
      store: id('store'),
      ...LEDGER,
      timezone: site.timeZone,
      x: 640,
      y: 250,
      // Output 3: the daily reconciliation's reports and the intake journal's alarms.
      wires: [
        [id('answer-callers')],
        [id('forecast')],
        [id('debug-reconciliation'), ...more('reconciliation')],
      ],
    },
    {
      id: id('forecast'),
      type: 'prepay-forecast',
      z: TAB.building,
      name: 'days of credit left',
      timeZone: site.timeZone,
      nightsFrom: POLICY.nightsFrom,
      nightsTo: POLICY.nightsTo,
      weekends: true,
      holidays: site.holidays,
      cutoffThreshold: 0,
      debtPerDay: 0,
      thresholdDays: 3,
      coverDays: 14,
      roundTo: 5000,
      x: 870,
      y: 250,
      wires: [
        [...gateways.map((g) => id(`cutoff-${g.gateway}`)), id('debug-states'), ...more('states')],
        [id('debug-reminders'), ...more('reminders')],
      ],
    },
    debug('debug-states', 'account states', 1120, 400, { statusVal: 'payload.state', tostatus: true }),
    debug('debug-reminders', 'top-up reminders', 1120, 440, { active: true }),
    debug('debug-relays', 'relay commands', 1370, 200, { active: true }),
    debug('debug-supply-alarms', 'supply alarms', 1370, 260, { active: true }),
    {
      id: id('history'),
      type: 'prepay-history',
      z: TAB.building,
      d: true,
      name: 'history (enable with an InfluxDB)',
      server: id('influx'),
      x: 880,
      y: 340,
      wires: [[]],
    },
    {
      id: id('influx'),
      type: 'prepay-influx',
      name: 'site InfluxDB',
      host: '127.0.0.1',
      port: 8086,
      database: 'prepay',
      retentionPolicy: '',
      username: '',
      timeZone: site.timeZone,
      bufferPoints: 1000000,
      batchSize: 5000,
    },
    {
      id: id('open-accounts'),
      type: 'inject',
      z: TAB.building,
      name: 'open accounts',
      props: [{ p: 'payload' }],
      repeat: '',
      crontab: '',
      once: true,
      onceDelay: '0.5',
      topic: '',
      payload: JSON.stringify(
        tenants.map((t) => ({ accountId: t.accountId, kind: t.kind, credit: openingCredit(t) })),
      ),
      payloadType: 'json',
      x: 150,
      y: 480,
      wires: [[id('open-function')]],
    },
    {
      id: id('open-function'),
      type: 'function',
      z: TAB.building,
      name: 'open and give opening credit',
      func: [
        '// One open and one opening top-up per tenant; the references make a redeploy or restart post nothing twice.',
        'const out = [];',
        'for (const t of msg.payload) {',
        "    out.push({ payload: { command: 'open', accountId: t.accountId, currency: 'MYR', tenant: 'Unit ' + t.accountId.slice(1), name: t.kind, reference: 'open-' + t.accountId } });",
        "    out.push({ payload: { command: 'topup', accountId: t.accountId, amount: t.credit, currency: 'MYR', method: 'opening credit', reference: 'opening-credit-' + t.accountId } });",
        '}',
        'return [out];',
      ].join('\n'),
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 380,
      y: 480,
      wires: [[id('ledger')]],
    },
    {
      id: id('catch'),
      type: 'catch',
      z: TAB.building,
      name: 'errors',
      scope: null,
      uncaught: false,
      x: 140,
      y: 560,
      wires: [[id('debug-errors')]],
    },
    debug('debug-errors', 'errors', 370, 560, { active: true, complete: 'error.message' }),
    // Other tabs reach the ledger with `link call`: the answer goes back to the caller after the commit.
    {
      id: IN.ledger,
      type: 'link in',
      z: TAB.building,
      name: 'ledger commands',
      links: [],
      x: 480,
      y: 200,
      wires: [[id('ledger')]],
    },
    {
      id: id('answer-callers'),
      type: 'switch',
      z: TAB.building,
      name: 'called?',
      property: '_linkSource',
      propertyType: 'msg',
      rules: [{ t: 'nnull' }],
      checkall: 'true',
      repair: false,
      outputs: 1,
      x: 840,
      y: 160,
      wires: [[id('return')]],
    },
    {
      id: id('return'),
      type: 'link out',
      z: TAB.building,
      name: 'answer',
      mode: 'return',
      links: [],
      x: 960,
      y: 160,
      wires: [],
    },
    // Account states posted elsewhere (the tenant API's ledger node after a top-up) join the building's.
    {
      id: IN.states,
      type: 'link in',
      z: TAB.building,
      name: 'account states',
      links: [],
      x: 760,
      y: 320,
      wires: [[id('forecast')]],
    },
    // Overrides from flows (the BEMS) go to the cutoff node that drives the meter's relay, which answers each
    // on its second output (applied or refused); one for a meter no cutoff node drives is answered here. The
    // operator dashboard's overrides take the admin API instead (POST /prepay-cutoff/override).
    {
      id: IN.overrides,
      type: 'link in',
      z: TAB.building,
      name: 'overrides',
      links: [],
      x: 760,
      y: 140,
      wires: [[id('route-override')]],
    },
    {
      id: id('route-override'),
      type: 'switch',
      z: TAB.building,
      name: 'to its gateway',
      property: 'payload.meterId',
      propertyType: 'msg',
      // A JSONata rule is evaluated against the whole message (`$` is the message, not the property).
      rules: [
        ...gateways.map(({ table }) => ({
          t: 'jsonata_exp',
          v: `payload.meterId in ${JSON.stringify(table.filter((row) => row.relay !== '').map((row) => row.meterId))}`,
          vt: 'jsonata',
        })),
        { t: 'else' },
      ],
      checkall: 'false',
      repair: false,
      outputs: gateways.length + 1,
      x: 930,
      y: 120,
      wires: [...gateways.map(({ gateway }) => [id(`cutoff-${gateway}`)]), [id('override-unowned')]],
    },
    {
      id: id('override-unowned'),
      type: 'function',
      z: TAB.building,
      name: 'no cutoff node drives it',
      func: [
        '// An override for a meter no cutoff node of the site drives (unknown, or without a relay): refused, and',
        '// answered as the cutoff nodes answer theirs (with the supply alarms) and to the Catch node.',
        'const p = msg.payload || {};',
        "const error = 'no cutoff node drives meter \"' + p.meterId + '\" (unknown, or it has no relay)';",
        "node.error('override refused: ' + error, msg);",
        'return {',
        "    topic: 'override',",
        "    payload: { type: 'override', meterId: p.meterId, alarm: false, text: 'override refused: ' + error, ts: Date.now(), outcome: 'refused',",
        "        answer: { ok: false, outcome: 'refused', meterId: p.meterId, code: 'not-owned', error } },",
        '};',
      ].join('\n'),
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 1090,
      y: 60,
      wires: [[OUT.supplyAlarms]],
    },
    linkOut('out:states', 'account states', 1120, 480),
    linkOut('out:reminders', 'reminders', 1120, 520),
    linkOut('out:consumption', 'consumption', 420, 160),
    linkOut('out:readings', 'readings', 420, 300),
    linkOut('out:meter-events', 'meter events', 420, 440),
    linkOut('out:relays', 'relay commands', 1370, 160),
    linkOut('out:supply-alarms', 'supply alarms', 1370, 300),
    linkOut('out:reconciliation', 'reconciliation', 990, 290),
    linkOut('out:simulator', 'simulator (meter tables, outdoor temperature)', 420, 60),
  ];
  for (const [key, [x, y]] of Object.entries(LAYOUT)) {
    // A smaller site has fewer gateways (meter-1, cutoff-1 are the second gateway's).
    const node = nodes.find((n) => n.id === id(key));
    if (node) Object.assign(node, { x, y });
    else if (!/-\d+$/.test(key)) throw new Error(`layout names a missing node: ${key}`);
  }
  // History takes whatever the building produces, once it is enabled.
  const history = [id('history')];
  for (const node of nodes) {
    if (node.id === id('tariff')) node.wires[0].push(...history);
    if (node.id === id('forecast')) node.wires[0].push(...history);
    if (node.type === 'prepay-meter') {
      node.wires[0].push(...history);
      node.wires[2].push(...history);
    }
  }
  return nodes;
}
