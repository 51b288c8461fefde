/**
 * The tenant API example's HTTP surface in a real Node-RED 4.1 process (whose admin app, at "/", answers every
 * request with `Access-Control-Allow-Origin: *`): the tenant and webhook routes send no CORS headers and answer
 * preflights without any; malformed requests to each endpoint get a short JSON error, never a stack trace or
 * an install path; the tenant API's bodies are limited too; a statement for a date that does not exist is 400
 * naming the field; a top-up amount is read exactly as the tenant typed it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { NodeRedProcess } from '../support/node-red-process';
import { issueToken, root, startExample } from '../support/tenant-example';

const EVIL = 'https://evil.example';
const ENDPOINTS: Array<[string, string]> = [
  ['GET', '/prepay/tenant'],
  ['GET', '/prepay/tenant/T0101/balance'],
  ['GET', '/prepay/tenant/T0101/usage'],
  ['GET', '/prepay/tenant/T0101/statement'],
  ['POST', '/prepay/tenant/T0101/topup'],
  ['POST', '/prepay/payments/webhook'],
];

function corsHeaders(response: Response): string[] {
  return [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));
}

/** An answer that shows nothing of the server: no stack line, no absolute path, no install directory. */
function assertNothingLeaks(text: string, what: string): void {
  assert.doesNotMatch(text, /\n\s*at |&nbsp;at |\bat [\w.<>]+ \(/, `${what}: a stack trace`);
  assert.ok(!text.includes(root), `${what}: the install path`);
  assert.doesNotMatch(text, /node_modules|\/(home|usr|tmp|work|opt|var)\//, `${what}: a path`);
}

/** A chunked POST (no Content-Length) of `bytes`, answered before or after it ends. */
function chunked(port: number, path: string, bytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (part: Buffer) => (body += part.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.write('x'.repeat(bytes));
    req.end();
  });
}

describe('tenant API example: CORS, error answers, limits and typed input, in a real Node-RED', function () {
  this.timeout(120_000);
  let red: NodeRedProcess;
  let auth: Record<string, string>;

  before(async function () {
    ({ red } = await startExample());
    auth = { authorization: `Bearer ${(await issueToken(red, 'T0101')).token}` };
  });

  after(async function () {
    await red?.stop();
  });

  it('sends no CORS headers on the tenant and webhook routes, and refuses preflights', async function () {
    // The editor's own admin API keeps Node-RED's CORS: the guard is only on the tenant interface's paths.
    const editor = await red.request('/settings', { headers: { origin: EVIL } });
    assert.equal(editor.headers.get('access-control-allow-origin'), '*', 'Node-RED 4.1 allows any origin');
    for (const [method, path] of ENDPOINTS) {
      const response = await red.request(path, {
        method,
        headers: { origin: EVIL, ...auth, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      await response.arrayBuffer();
      assert.deepEqual(corsHeaders(response), [], `${method} ${path}`);
      const preflight = await red.request(path, {
        method: 'OPTIONS',
        headers: {
          origin: EVIL,
          'access-control-request-method': method,
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      assert.equal(preflight.status, 204, `OPTIONS ${path}`);
      assert.deepEqual(corsHeaders(preflight), [], `OPTIONS ${path}`);
    }
  });

  it('answers malformed requests to every endpoint without a stack trace or a path', async function () {
    const malformed: Array<[string, string, RequestInit, number]> = [];
    for (const [method, path] of ENDPOINTS) {
      const broken = path.replace('T0101', '%E0%A4%A');
      if (broken !== path) malformed.push([method, broken, { headers: auth }, 400]);
      if (method === 'POST') {
        // The webhook reads no unsigned body: 401 before any parsing.
        malformed.push([
          method,
          path,
          { headers: { ...auth, 'content-type': 'application/json' }, body: '{"amount":' },
          path.endsWith('webhook') ? 401 : 400,
        ]);
        malformed.push([
          method,
          path,
          { headers: { ...auth, 'content-type': 'application/json; charset=klingon' }, body: '{}' },
          path.endsWith('webhook') ? 401 : 415,
        ]);
      }
    }
    malformed.push(['GET', '/prepay/tenant/T0101/statement?from=%', { headers: auth }, 400]);
    malformed.push(['GET', '/prepay/tenant/T0101/usage?days[]=1', { headers: auth }, 400]);
    for (const [method, path, init, status] of malformed) {
      const response = await red.request(path, { method, ...init });
      const text = await response.text();
      assert.equal(response.status, status, `${method} ${path}: ${text}`);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/, `${method} ${path}`);
      assertNothingLeaks(text, `${method} ${path}`);
      assert.equal((JSON.parse(text) as { ok: boolean }).ok, false);
    }
  });

  it('limits the tenant API’s bodies: 413 over 64 KiB by Content-Length, 411 without one', async function () {
    const big = await red.request('/prepay/tenant/T0101/topup', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: '1.00', currency: 'GBP', pad: 'x'.repeat(100_000) }),
    });
    assert.equal(big.status, 413);
    const stream = await chunked(red.port, '/prepay/tenant/T0101/topup', 1000);
    assert.equal(stream.status, 411, stream.body);
    assertNothingLeaks(stream.body, 'chunked');
  });

  it('refuses a statement for a date that does not exist with 400 naming the field', async function () {
    for (const [query, field, message] of [
      ['from=2024-02-30', 'from', 'from: 2024-02-30 is not a date: 2024-02 has 29 days'],
      ['from=2024-01-01&to=2024-13-01', 'to', 'to: 2024-13-01 is not a date: there is no month 13'],
      [
        'to=yesterday',
        'to',
        'to: "yesterday" is not a date: write YYYY-MM-DD (ISO 8601, a time and zone may follow) or epoch milliseconds',
      ],
    ]) {
      const response = await red.request(`/prepay/tenant/T0101/statement?${query}`, { headers: auth });
      assert.equal(response.status, 400, query);
      assert.deepEqual(await response.json(), { ok: false, error: 'bad-period', field, message });
    }
    const leap = await red.request('/prepay/tenant/T0101/statement?from=2024-02-29&to=2024-03-01', {
      headers: auth,
    });
    assert.equal(leap.status, 200);
  });

  it('reads a typed top-up amount exactly: "0.005" and "1e300" refused with the field named, "12.50" is 1250', async function () {
    const topup = (amount: unknown) =>
      red.request('/prepay/tenant/T0101/topup', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ amount, currency: 'GBP' }),
      });
    const before = (
      (await (await red.request('/prepay/tenant/T0101/balance', { headers: auth })).json()) as {
        balance: number;
      }
    ).balance;
    for (const [amount, message] of [
      ['0.005', 'amount: 0.005 has more than 2 decimals: amounts are not rounded'],
      ['1e300', 'amount: "1e300" is not an amount: write digits and at most 2 decimals, such as 12.50'],
      ['1000000000', 'amount: 1000000000 is too large: at most 9 digits before the decimal point'],
    ]) {
      const response = await topup(amount);
      assert.equal(response.status, 400, amount);
      assert.deepEqual(await response.json(), { ok: false, error: 'bad-amount', message, field: 'amount' });
    }
    const paid = await topup('12.50');
    assert.equal(paid.status, 200);
    assert.equal(((await paid.json()) as { amount: number }).amount, 1250);
    const after = (
      (await (await red.request('/prepay/tenant/T0101/balance', { headers: auth })).json()) as {
        balance: number;
      }
    ).balance;
    assert.equal(after, before + 1250);
  });
});
