// The operator dashboard of the reference site (FlowFuse Dashboard 2.0, a development dependency of this
// package, installed by `npm ci`): live demand per utility, every tenant's balance, state, days left and
// supply, active alarms, and the operator panel: a desk top-up (idempotent by receipt number) and a supply
// override (audited with its reason and expiry).
//
// Dashboard 2.0 has no login of its own, and its socket (/dashboard/socket.io) takes messages from anyone
// who reaches it, even behind httpNodeAuth. So no flow node reachable from a widget may move money or supply:
// the widgets fed by flows only show, and the operator panel (operator-panel.vue, a ui-template with no
// wires) logs in to Node-RED's admin API and calls the package's operator routes there, where the server
// checks the prepay.write permission and records who acted.
import { readFileSync } from 'node:fs';
import { embedCoreMethods } from '../tenant-api/core-source.mjs';
import { OUT } from './building.mjs';
import { id, TAB } from './ids.mjs';
import { SAVINGS_OUT } from './loadcontrol.mjs';

const z = TAB.dashboard;

function linkIn(key, name, from, x, y, wires) {
  return { id: id(key), type: 'link in', z, name, links: from, x, y, wires: [wires] };
}

function fn(key, name, lines, x, y, wires, outputs = 1) {
  return {
    id: id(key),
    type: 'function',
    z,
    name,
    func: lines.join('\n'),
    outputs,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x,
    y,
    wires,
  };
}

const base = {
  id: id('ui-base'),
  type: 'ui-base',
  name: 'Prepay operations',
  path: '/dashboard',
  appIcon: '',
  includeClientData: true,
  // Every widget type of the page: what a client sends to a widget then stays with that client (Dashboard
  // stores and rebroadcasts it to everyone otherwise: a ui-template's code replaced by `ui_update.format`, a
  // table's rows by `widget-change`, from any socket client).
  acceptsClientConfig: ['ui-notification', 'ui-control', 'ui-template', 'ui-table', 'ui-text', 'ui-chart'],
  showPathInSidebar: false,
  headerContent: 'page',
  navigationStyle: 'default',
  titleBarStyle: 'default',
  showReconnectNotification: true,
  notificationDisplayTime: 4,
  showDisconnectNotification: true,
  allowInstall: false,
};
const theme = {
  id: id('ui-theme'),
  type: 'ui-theme',
  name: 'Prepay',
  colors: {
    surface: '#1f3b4d',
    primary: '#0d74ce',
    bgPage: '#f4f6f8',
    groupBg: '#ffffff',
    groupOutline: '#d9d9e0',
  },
  sizes: {
    density: 'compact',
    pagePadding: '12px',
    groupGap: '12px',
    groupBorderRadius: '4px',
    widgetGap: '8px',
  },
};
const page = {
  id: id('ui-page'),
  type: 'ui-page',
  name: 'Site',
  ui: base.id,
  path: '/site',
  icon: 'office-building',
  layout: 'grid',
  theme: theme.id,
  breakpoints: [
    { name: 'Default', px: 0, cols: 3 },
    { name: 'Tablet', px: 576, cols: 6 },
    { name: 'Small Desktop', px: 768, cols: 9 },
    { name: 'Desktop', px: 1024, cols: 12 },
  ],
  order: 1,
  className: '',
  visible: 'true',
  disabled: 'false',
};

function group(key, name, width, order) {
  return {
    id: id(key),
    type: 'ui-group',
    name,
    page: page.id,
    width,
    height: 1,
    order,
    showTitle: true,
    className: '',
    visible: 'true',
    disabled: 'false',
    groupType: 'default',
  };
}

const groups = {
  summary: group('ui-group:summary', 'Site', 12, 1),
  demand: group('ui-group:demand', 'Site demand (5-minute averages)', 12, 2),
  tenants: group('ui-group:tenants', 'Tenants', 12, 3),
  alarms: group('ui-group:alarms', 'Active alarms', 6, 4),
  operator: group('ui-group:operator', 'Operator', 6, 5),
  reconciliation: group('ui-group:reconciliation', 'Daily reconciliation', 12, 6),
  savings: group('ui-group:savings', 'Savings', 12, 7),
};

function chart(key, label, yLabel, order, y, groupId = groups.demand.id) {
  return {
    id: id(key),
    type: 'ui-chart',
    z,
    group: groupId,
    name: label,
    label,
    order,
    chartType: 'line',
    category: 'topic',
    categoryType: 'msg',
    xAxisLabel: '',
    xAxisProperty: 'x',
    xAxisPropertyType: 'property',
    xAxisType: 'time',
    xAxisFormat: '',
    xAxisFormatType: 'auto',
    xmin: '',
    xmax: '',
    yAxisLabel: yLabel,
    yAxisProperty: 'y',
    yAxisPropertyType: 'property',
    ymin: '0',
    ymax: '',
    bins: 10,
    action: 'append',
    stackSeries: false,
    pointShape: 'false',
    pointRadius: 4,
    showLegend: true,
    // Building time may run faster than the wall clock: keep a day of points per line, not an hour of wall time.
    removeOlder: 365,
    removeOlderUnit: '86400',
    removeOlderPoints: '288',
    colors: ['#0095FF', '#FF7F0E', '#2CA02C', '#A347E1', '#D62728'],
    textColor: ['#666666'],
    textColorDefault: true,
    gridColor: ['#e5e5e5'],
    gridColorDefault: true,
    width: 6,
    height: 5,
    className: '',
    interpolation: 'linear',
    x: 780,
    y,
    wires: [[]],
  };
}

/** A one-line text widget showing msg.payload, first in its group. */
function text(key, groupId, name, label, y) {
  return {
    id: id(key),
    type: 'ui-text',
    z,
    group: groupId,
    order: 1,
    width: 0,
    height: 0,
    name,
    label,
    format: '{{msg.payload}}',
    layout: 'row-left',
    style: false,
    font: '',
    fontSize: 16,
    color: '#717171',
    wrapText: true,
    className: '',
    value: 'payload',
    valueType: 'msg',
    x: 620,
    y,
    wires: [],
  };
}

function table(key, groupId, label, columns, maxrows, order, x, y) {
  return {
    id: id(key),
    type: 'ui-table',
    z,
    group: groupId,
    name: label,
    label: '',
    order,
    width: 0,
    height: 0,
    maxrows,
    passthru: false,
    autocols: false,
    showSearch: true,
    deselect: true,
    selectionType: 'none',
    columns: columns.map(([key, title, align = 'start']) => ({
      title,
      key,
      keyType: 'key',
      type: 'text',
      width: '',
      align,
    })),
    mobileBreakpoint: 'sm',
    mobileBreakpointType: 'defaults',
    action: 'replace',
    className: '',
    x,
    y,
    wires: [],
  };
}

const TENANT_BOARD = [
  '// One row per tenant from the account states and relay commands; the table is sent at most every 2 s.',
  "const rows = context.get('rows') || {};",
  'const p = msg.payload || {};',
  'const money = (minor) => (Number(minor) / 100).toFixed(2);',
  "if (typeof p.accountId === 'string' && typeof p.state === 'string') {",
  "    const row = rows[p.accountId] || { account: p.accountId, supply: 'on' };",
  '    row.balance = money(p.balance);',
  '    row.available = money(p.available);',
  '    row.state = p.state;',
  "    if (typeof p.daysLeft === 'number') row.daysLeft = p.daysLeft.toFixed(1);",
  "    // No estimate until the forecast has seen a whole day of the tenant's use (or after weeks of none).",
  "    else row.daysLeft = 'learning';",
  '    rows[p.accountId] = row;',
  "} else if (typeof p.meterId === 'string' && typeof p.action === 'string' && p.accountId) {",
  "    const row = rows[p.accountId] || { account: p.accountId, balance: '', available: '', state: '', daysLeft: '' };",
  "    row.supply = p.action === 'disconnect' ? 'OFF' : p.action === 'limit' ? 'limited' : 'on';",
  '    rows[p.accountId] = row;',
  '} else {',
  '    return null;',
  '}',
  "context.set('rows', rows);",
  "if (context.get('timer')) return null;",
  "context.set('timer', setTimeout(() => {",
  "    context.set('timer', undefined);",
  "    const all = Object.values(context.get('rows') || {}).sort((a, b) => a.account.localeCompare(b.account));",
  '    const count = (s) => all.filter((r) => r.state === s).length;',
  "    const off = all.filter((r) => r.supply === 'OFF').length;",
  '    node.send([',
  '        { payload: all },',
  "        { payload: `${all.length} tenants: ${count('ok')} ok, ${count('low')} low, ${count('emergency')} on emergency credit, ${count('exhausted')} exhausted; ${off} supplies off` },",
  '    ]);',
  '}, 2000));',
  'return null;',
];

/** The alarm board, its times in the site's zone (the operators' wall clock, whatever the server's zone is). */
const alarmBoard = (timeZone) => [
  '// Active alarms: comm loss and suspect values (meter reader), relay faults and policy holds (cutoff),',
  '// credit (ledger states). Each is keyed by what it is about and cleared by its own all-clear.',
  "const alarms = context.get('alarms') || {};",
  'const p = msg.payload || {};',
  `// Times on the site's wall clock (${timeZone}), as 2026-12-06 11:30.`,
  `const wall = new Intl.DateTimeFormat('en-CA', { timeZone: ${JSON.stringify(timeZone)}, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });`,
  'const when = (ts) => {',
  '    const part = Object.fromEntries(wall.formatToParts(new Date(ts || Date.now())).map((x) => [x.type, x.value]));',
  "    return part.year + '-' + part.month + '-' + part.day + ' ' + part.hour + ':' + part.minute;",
  '};',
  "if (typeof p.accountId === 'string' && typeof p.state === 'string' && !p.meterId) {",
  "    const key = p.accountId + ':credit';",
  "    if (p.state === 'low' || p.state === 'emergency' || p.state === 'exhausted')",
  "        alarms[key] = { at: when(p.changedAt), source: p.accountId, type: p.state + ' credit', text: 'available ' + (p.available / 100).toFixed(2) + ' ' + (p.currency || '') };",
  '    else delete alarms[key];',
  "} else if (typeof p.meterId === 'string' && typeof p.readingId === 'string') {",
  "    delete alarms[p.meterId + ':suspect'];",
  "} else if (typeof p.meterId === 'string' && typeof p.type === 'string') {",
  "    const type = p.type === 'comm-restored' ? 'comm-loss' : p.type;",
  "    const key = p.meterId + ':' + type;",
  "    if (p.alarm === true) alarms[key] = { at: when(p.ts), source: p.meterId, type, text: p.text || '' };",
  "    else if (p.alarm === false && (p.type === 'comm-restored' || type !== 'suspect')) delete alarms[key];",
  '    else return null;',
  '} else {',
  '    return null;',
  '}',
  "context.set('alarms', alarms);",
  "if (context.get('timer')) return null;",
  "context.set('timer', setTimeout(() => {",
  "    context.set('timer', undefined);",
  "    const list = Object.values(context.get('alarms') || {}).sort((a, b) => (a.at < b.at ? 1 : -1));",
  '    node.send({ payload: list });',
  '}, 2000));',
  'return null;',
];

const SITE_DEMAND = [
  '// Site demand per utility: the consumption of every meter summed per 5-minute interval (by reading time),',
  '// as an average rate. An interval is sent once readings of a later interval arrive.',
  'const p = msg.payload || {};',
  "if (typeof p.delta !== 'number' || typeof p.to !== 'number' || typeof p.from !== 'number') return null;",
  'const SLOT = 5 * 60000;',
  '// The interval the middle of the delta falls in (a delta billed at 10:05:03 is mostly 10:00-10:05).',
  'const slot = Math.ceil((p.from + p.to) / 2 / SLOT) * SLOT;',
  "const sums = context.get('sums') || {};",
  'const key = p.utility;',
  'const open = sums[key] || { slot, total: 0 };',
  'const out = [];',
  'if (slot > open.slot) {',
  '    const rate = open.total / (SLOT / 3600000);',
  "    const label = { electricity: 'electricity kW', cooling: 'cooling kW thermal', water: 'water m3/h', gas: 'gas m3/h' }[key] || key;",
  "    const port = key === 'electricity' || key === 'cooling' ? 0 : 1;",
  '    out[port] = { topic: label, payload: { x: open.slot, y: Math.round(rate * 100) / 100 } };',
  '    sums[key] = { slot, total: p.delta };',
  '} else {',
  '    open.total += p.delta;',
  '    sums[key] = open;',
  '}',
  "context.set('sums', sums);",
  'return out.length ? out : null;',
];

const RECONCILIATION_BOARD = [
  "// The ledger's daily reconciliation (its third output): the result in a line, the findings in a table, the",
  '// unexplained ones first. Journal alarms on the same output are left to the alarm board.',
  "if (msg.topic !== 'reconciliation') return null;",
  'const r = msg.payload || {};',
  'const findings = (r.findings || []).slice().sort((a, b) => Number(a.explained) - Number(b.explained));',
  'const meters = (r.meters || []).length;',
  "const line = (r.period ? r.period.label : '?') + ': ' + (r.ok ? 'everything explained' : r.unexplained + ' unexplained') +",
  "  ' · ' + meters + ' meters · ' + findings.length + ' findings';",
  'return [',
  '  { payload: line },',
  "  { payload: findings.slice(0, 200).map((f) => ({ explained: f.explained ? 'yes' : 'NO', area: f.area, subject: f.subject, kind: f.kind, text: f.text })) },",
  '];',
];

/**
 * The operator panel's Vue component, with the building ledger's node id and the package's own amount parser
 * (a ui-template cannot import the package: the `// @core-method` line takes the core function's compiled code).
 */
function operatorPanel(ledgerId, timeZone) {
  const source = readFileSync(new URL('./operator-panel.vue', import.meta.url), 'utf8');
  return embedCoreMethods(source).replace('__LEDGER_ID__', ledgerId).replace('__SITE_TIMEZONE__', timeZone);
}

/** The savings reports: this month's days to the chart (energy in and out of schedule, baseline and actual where
 * there is one), last month's savings or why there are none to the text. */
const SAVINGS_BOARD = [
  'const r = msg.payload;',
  "if (!r || typeof r !== 'object' || !r.site) return null;",
  "if (r.period === 'day') return null; // the chart asks for the month's days itself",
  "if (msg.role === 'chart') {",
  '  const points = [];',
  '  for (const d of r.site.days) {',
  '    if (d.date > r.asOf) break;',
  "    points.push({ x: d.date, y: d.insideKWh, series: 'in schedule' });",
  "    points.push({ x: d.date, y: d.outsideKWh, series: 'out of schedule' });",
  '    if (d.baselineKWh !== null) {',
  "      points.push({ x: d.date, y: d.baselineKWh, series: 'baseline' });",
  "      points.push({ x: d.date, y: d.actualKWh, series: 'actual' });",
  '    }',
  '  }',
  '  return [{ payload: points }, null];',
  '}',
  'const m = r.site.months[0];',
  'if (!m) return null;',
  'let text;',
  'if (m.savingsKWh !== null) {',
  '  const pct = m.baselineKWh ? ((100 * m.savingsKWh) / m.baselineKWh).toFixed(1) : "0";',
  '  text = `${r.label}: ${m.savingsKWh.toFixed(1)} kWh saved against a baseline of ${m.baselineKWh.toFixed(1)} kWh (${pct} %, ${m.unitsWithBaseline} of ${m.units} units); ${m.outsideKWh.toFixed(1)} kWh used out of schedule`;',
  '} else {',
  "  const why = (r.units[0] && r.units[0].baseline && r.units[0].baseline.note) || 'no baseline yet';",
  '  text = `${r.label}: no measured savings yet (${why}); ${m.energyKWh.toFixed(1)} kWh used, ${m.outsideKWh.toFixed(1)} kWh out of schedule`;',
  '}',
  'return [null, { payload: text }];',
];

export function dashboardTab({ ledgerId, timeZone }) {
  return [
    {
      id: z,
      type: 'tab',
      label: 'Operator dashboard',
      disabled: false,
      info:
        'The operator dashboard at /dashboard (FlowFuse Dashboard 2.0): demand, tenants, alarms, and the operator panel. ' +
        "The panel's desk top-ups and overrides go to Node-RED's admin API (login with adminAuth, permission prepay.write), " +
        'never through the dashboard socket: the flow nodes on this tab only show.',
    },
    base,
    theme,
    page,
    ...Object.values(groups),
    linkIn('dash:states', 'account states', [OUT.states], 120, 80, [id('tenant-board'), id('alarm-board')]),
    linkIn('dash:relays', 'relay commands', [OUT.relayCommands], 120, 120, [id('tenant-board')]),
    linkIn('dash:consumption', 'consumption', [OUT.consumption], 120, 260, [
      id('site-demand'),
      id('alarm-board'),
    ]),
    linkIn('dash:alarms', 'meter events, supply alarms', [OUT.meterEvents, OUT.supplyAlarms], 140, 180, [
      id('alarm-board'),
    ]),
    fn(
      'tenant-board',
      'tenant board',
      TENANT_BOARD,
      360,
      100,
      [[id('tenants-table')], [id('summary-text')]],
      2,
    ),
    fn('alarm-board', 'active alarms', alarmBoard(timeZone), 360, 180, [[id('alarms-table')]]),
    linkIn('dash:reconciliation', 'reconciliation', [OUT.reconciliation], 140, 460, [
      id('reconciliation-board'),
    ]),
    fn(
      'reconciliation-board',
      'last reconciliation',
      RECONCILIATION_BOARD,
      360,
      460,
      [[id('reconciliation-text')], [id('reconciliation-table')]],
      2,
    ),
    text(
      'reconciliation-text',
      groups.reconciliation.id,
      'reconciliation result',
      'Last day reconciled',
      440,
    ),
    table(
      'reconciliation-table',
      groups.reconciliation.id,
      'reconciliation findings',
      [
        ['explained', 'Explained'],
        ['area', 'Area'],
        ['subject', 'Meter / account'],
        ['kind', 'Finding'],
        ['text', 'Detail'],
      ],
      12,
      2,
      620,
      480,
    ),
    fn(
      'site-demand',
      'demand per utility',
      SITE_DEMAND,
      360,
      260,
      [[id('chart-power')], [id('chart-flow')]],
      2,
    ),
    {
      id: id('summary-text'),
      type: 'ui-text',
      z,
      group: groups.summary.id,
      order: 1,
      width: 0,
      height: 0,
      name: 'site summary',
      label: 'Tenants',
      format: '{{msg.payload}}',
      layout: 'row-left',
      style: false,
      font: '',
      fontSize: 16,
      color: '#717171',
      wrapText: false,
      className: '',
      value: 'payload',
      valueType: 'msg',
      x: 620,
      y: 60,
      wires: [],
    },
    table(
      'tenants-table',
      groups.tenants.id,
      'tenants',
      [
        ['account', 'Account'],
        ['balance', 'Balance (RM)', 'end'],
        ['available', 'Available (RM)', 'end'],
        ['state', 'Credit'],
        ['daysLeft', 'Days left', 'end'],
        ['supply', 'Electricity'],
      ],
      20,
      1,
      620,
      100,
    ),
    table(
      'alarms-table',
      groups.alarms.id,
      'alarms',
      [
        ['at', 'Since'],
        ['source', 'Meter / account'],
        ['type', 'Alarm'],
        ['text', 'Detail'],
      ],
      10,
      1,
      620,
      180,
    ),
    chart('chart-power', 'Electricity and cooling', 'kW', 1, 240),
    chart('chart-flow', 'Water and gas', 'm3/h', 2, 280),
    linkIn('dash:savings', 'savings reports', [SAVINGS_OUT], 130, 540, [id('savings-board')]),
    fn('savings-board', 'savings', SAVINGS_BOARD, 360, 540, [[id('savings-chart')], [id('savings-text')]], 2),
    {
      ...chart('savings-chart', 'Site energy per day', 'kWh', 2, 520, groups.savings.id),
      chartType: 'bar',
      xAxisType: 'category',
      category: 'series',
      categoryType: 'property',
      action: 'replace',
      width: 12,
    },
    text('savings-text', groups.savings.id, 'last month savings', 'Last month', 560),
    {
      id: id('operator-panel'),
      type: 'ui-template',
      z,
      group: groups.operator.id,
      page: '',
      ui: '',
      name: 'operator panel (admin API)',
      order: 1,
      width: 0,
      height: 0,
      head: '',
      format: operatorPanel(ledgerId, timeZone),
      storeOutMessages: false,
      passthru: false,
      resendOnRefresh: false,
      templateScope: 'local',
      className: '',
      x: 150,
      y: 380,
      // No wires: nothing a client sends to this widget goes anywhere.
      wires: [[]],
    },
  ];
}
