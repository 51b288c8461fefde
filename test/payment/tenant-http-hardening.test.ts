/**
 * The tenant API example's HTTP surface in a real Node-RED 4.1 process (whose admin app, at "/", answers every
 * request with `Access-Control-Allow-Origin: *`): the tenant and webhook routes send no CORS headers and answer
 * preflights without any; malformed requests to each endpoint get a short JSON error, never a stack trace or
 * an install path; the tenant API's bodies are limited too.
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

describe('tenant API example: CORS, error answers and limits, in a real Node-RED', function () {
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
});
