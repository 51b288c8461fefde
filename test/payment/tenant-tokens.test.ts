/**
 * Per-tenant access tokens in the tenant API example, in a real Node-RED 4.1 process: issued, rotated and
 * revoked over the admin API, one tenant's without touching another's, and checked by the tenant endpoints
 * against the hashed store; the admin routes need the prepay.write permission when the editor has users (401
 * to someone not signed in, 403 to a user who may only read), and record the operator;
 * no token reaches the log, and outside demo mode the demo issues and prints nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { sleep } from '../support/node-red-helper';
import { NodeRedProcess } from '../support/node-red-process';
import { issueToken, startExample, STORE_ID } from '../support/tenant-example';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };

const TOKEN_TEXT = /pt_[A-Za-z0-9_-]{43}/;

async function balanceStatus(red: NodeRedProcess, account: string, token: string): Promise<number> {
  const response = await red.request(`/prepay/tenant/${account}/balance`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

async function post(red: NodeRedProcess, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await red.request(`/prepay-store/${STORE_ID}/tenant-tokens${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
  };
}

describe('tenant API example: per-tenant tokens in a real Node-RED', function () {
  this.timeout(120_000);

  it('issues, rotates and revokes one tenant’s tokens without touching another’s, hashed in the store', async function () {
    const { red, userDir } = await startExample();
    const issued: string[] = [];
    try {
      const phone = await issueToken(red, 'T0101');
      const laptop = await issueToken(red, 'T0101');
      const other = await issueToken(red, 'T0102');
      issued.push(phone.token, laptop.token, other.token);
      assert.equal(await balanceStatus(red, 'T0101', phone.token), 200);
      assert.equal(await balanceStatus(red, 'T0101', laptop.token), 200);
      assert.equal(await balanceStatus(red, 'T0102', phone.token), 401, 'not another tenant’s account');

      // The phone is lost: its token alone is revoked.
      const revoked = await post(red, '/revoke', { tokenId: phone.tokenId });
      assert.deepEqual([revoked.status, revoked.body.revoked], [200, 1]);
      assert.equal(await balanceStatus(red, 'T0101', phone.token), 401);
      assert.equal(await balanceStatus(red, 'T0101', laptop.token), 200);

      // Rotation: a new token, every other of the account's revoked in the same step.
      const rotated = await issueToken(red, 'T0101', { rotate: true });
      issued.push(rotated.token);
      assert.equal(rotated.revoked, 2, 'the laptop’s and the demo link’s');
      assert.equal(await balanceStatus(red, 'T0101', laptop.token), 401);
      assert.equal(await balanceStatus(red, 'T0101', rotated.token), 200);
      assert.equal(await balanceStatus(red, 'T0102', other.token), 200, 'the other tenant is untouched');

      const list = await red.request(`/prepay-store/${STORE_ID}/tenant-tokens?account=T0101`);
      const listed = (await list.json()) as { tokens: Array<Record<string, unknown>> };
      assert.equal(list.headers.get('cache-control'), 'no-store');
      const ours = listed.tokens.filter((t) => t.label === 'test');
      assert.deepEqual(
        ours.map((t) => [t.tokenId, t.active, t.revokedBy]),
        [
          [phone.tokenId, false, 'unauthenticated (adminAuth off)'],
          [laptop.tokenId, false, 'unauthenticated (adminAuth off)'],
          [rotated.tokenId, true, null],
        ],
      );
      assert.doesNotMatch(JSON.stringify(listed), TOKEN_TEXT, 'a listing shows no token');

      // The tenant moves out: every token of the account revoked.
      const all = await post(red, '/revoke', { accountId: 'T0101' });
      assert.equal(all.status, 200);
      assert.equal(await balanceStatus(red, 'T0101', rotated.token), 401);
      assert.equal((await post(red, '/revoke', {})).status, 400);

      // No token, the demo's own links included, reached the log.
      await sleep(200);
      assert.match(red.log(), /DEMO: the tenant page link for T0101 is in the debug sidebar/);
      assert.doesNotMatch(red.log(), TOKEN_TEXT);
      assert.doesNotMatch(red.log(), /token=/);
    } finally {
      await red.stop();
    }
    // The ledger file keeps each token's SHA-256, never the token.
    const store = new SqliteLedgerStore({ path: join(userDir, 'prepay-tenant-ledger.db') });
    await store.init();
    try {
      const rows = store.database().prepare('SELECT token_hash FROM tenant_tokens').all() as Array<{
        token_hash: string;
      }>;
      const hashes = new Set(rows.map((r) => r.token_hash));
      for (const token of issued) assert.ok(hashes.has(createHash('sha256').update(token).digest('hex')));
      assert.doesNotMatch(
        JSON.stringify(store.database().prepare('SELECT * FROM tenant_tokens').all(), (_k, v: unknown) =>
          typeof v === 'bigint' ? Number(v) : v,
        ),
        TOKEN_TEXT,
      );
    } finally {
      await store.close();
    }
  });

  it('lets only users with prepay.write issue or revoke tokens when the editor has users', async function () {
    const users = [
      { username: 'viewer', password: bcrypt.hashSync('viewer-pass', 8), permissions: 'read' },
      { username: 'operator', password: bcrypt.hashSync('operator-pass', 8), permissions: '*' },
    ];
    const { red } = await startExample({ adminAuth: { type: 'credentials', users } });
    const login = async (
      username: string,
      password: string,
      scope: string,
    ): Promise<Record<string, string>> => {
      const response = await red.request('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: 'node-red-admin',
          grant_type: 'password',
          scope,
          username,
          password,
        }),
      });
      const answer = (await response.json()) as { access_token?: string };
      assert.ok(answer.access_token, `${username} logged in`);
      return { authorization: `Bearer ${answer.access_token}` };
    };
    try {
      const anonymous = await post(red, '', { accountId: 'T0101' });
      assert.equal(anonymous.status, 401);
      const viewer = await login('viewer', 'viewer-pass', 'read');
      assert.equal(
        (await post(red, '', { accountId: 'T0101' }, viewer)).status,
        403,
        'read is not prepay.write',
      );
      assert.equal((await post(red, '/rotate', { accountId: 'T0101' }, viewer)).status, 403);
      assert.equal((await post(red, '/revoke', { accountId: 'T0101' }, viewer)).status, 403);
      const list = await red.request(`/prepay-store/${STORE_ID}/tenant-tokens?account=T0101`, {
        headers: viewer,
      });
      assert.equal(list.status, 200, 'listing needs prepay.read only');
      const operator = await login('operator', 'operator-pass', '*');
      const issued = await post(red, '', { accountId: 'T0101' }, operator);
      assert.equal(issued.status, 201);
      assert.equal(issued.body.issuedBy, 'operator');
      assert.equal(await balanceStatus(red, 'T0101', String(issued.body.token)), 200);
    } finally {
      await red.stop();
    }
  });

  it('issues and prints nothing outside demo mode', async function () {
    const { red } = await startExample({}, { PREPAY_DEMO: 'off' }, /Started flows/);
    try {
      await sleep(3500); // past the demo's set-up and link injects
      assert.doesNotMatch(red.log(), /DEMO:|tenant page/);
      assert.doesNotMatch(red.log(), TOKEN_TEXT);
      const list = await red.request(`/prepay-store/${STORE_ID}/tenant-tokens?account=T0101`);
      assert.deepEqual(((await list.json()) as { tokens: unknown[] }).tokens, []);
    } finally {
      await red.stop();
    }
  });
});
