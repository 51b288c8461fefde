/**
 * Tenant access tokens on both ledger stores for real (a SQLite file on disk, a scratch PostgreSQL database):
 * issued per account, verified only for their own account, revoked alone or all at once, rotated in one step;
 * the store holds the SHA-256 of each token and never the token, and the answers that list tokens carry
 * neither.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../dist/nodes/core/clock';
import { LedgerError } from '../../dist/nodes/core/ledger/requests';
import { LedgerStore } from '../../dist/nodes/core/ledger/store';
import { readAccessTokenCommand, TenantAccess } from '../../dist/nodes/core/tenant/access-tokens';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import { SqliteLedgerStore } from '../../dist/nodes/store/sqlite-ledger-store';
import { POSTGRES_MIGRATIONS } from '../../dist/nodes/store/postgres-schema';
import { SQLITE_MIGRATIONS } from '../../dist/nodes/store/sqlite-schema';
import { Client } from 'pg';
import { requirePostgres, ScratchDatabase, scratchDir } from '../ledger/ledger-support';

type Row = Record<string, unknown>;

interface Backend {
  name: string;
  open(context: Mocha.Context): Promise<{ store: LedgerStore; rows(sql: string): Promise<Row[]> }>;
  /** Every byte the backend wrote, where it can be read (the SQLite file and its write-ahead log). */
  bytes(): string;
  close(): Promise<void>;
}

function sqlite(): Backend {
  let dir = '';
  let store: SqliteLedgerStore | undefined;
  return {
    name: 'SQLite (file on disk)',
    async open() {
      dir = scratchDir();
      store = new SqliteLedgerStore({ path: join(dir, 'ledger.db') });
      await store.init();
      const s = store;
      return { store: s, rows: async (sql) => s.database().prepare(sql).all() as Row[] };
    },
    bytes() {
      return readdirSync(dir)
        .map((f) => readFileSync(join(dir, f)).toString('latin1'))
        .join('');
    },
    async close() {
      await store?.close();
    },
  };
}

function postgres(): Backend {
  let db: ScratchDatabase | undefined;
  let store: PostgresLedgerStore | undefined;
  return {
    name: 'PostgreSQL',
    async open(context) {
      await requirePostgres(context, 'tenant access tokens');
      db = await ScratchDatabase.create('prepay_tokens');
      store = new PostgresLedgerStore(db.config());
      await store.init();
      const config = db.config();
      return {
        store,
        async rows(sql) {
          const client = new Client(config);
          await client.connect();
          try {
            return (await client.query(sql)).rows as Row[];
          } finally {
            await client.end();
          }
        },
      };
    },
    bytes() {
      return '';
    },
    async close() {
      await store?.close();
      await db?.drop();
    },
  };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

for (const backend of [sqlite(), postgres()]) {
  describe(`tenant access tokens on ${backend.name}`, function () {
    this.timeout(30_000);
    let store: LedgerStore;
    let rows: (sql: string) => Promise<Row[]>;
    let access: TenantAccess;
    const clock = new ManualClock(Date.UTC(2026, 2, 2, 10, 0, 0));

    before(async function () {
      ({ store, rows } = await backend.open(this));
      const accounts = new Set(['T0101', 'T0102']);
      access = new TenantAccess(store.accessTokens!(), clock, async (id) => accounts.has(id));
    });

    after(async function () {
      await backend.close();
    });

    it('migrates the schema to its latest version, with a tenant_tokens table', async function () {
      const migrations = store.kind === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS;
      const [row] = await rows('SELECT MAX(version) AS v FROM schema_migrations');
      assert.equal(Number(row?.v), migrations[migrations.length - 1]?.version);
      assert.equal(migrations.filter((m) => /CREATE TABLE tenant_tokens/.test(m.sql)).length, 1);
      assert.deepEqual(await rows('SELECT * FROM tenant_tokens'), []);
    });

    it('issues tokens per account that open only their own account, and keeps only their hash', async function () {
      const a = await access.issue('T0101', { label: 'phone', by: 'operator' });
      clock.advance(1000); // listed in the order issued
      const b = await access.issue('T0101', { label: 'laptop', by: 'operator' });
      const c = await access.issue('T0102', { label: 'phone', by: 'operator' });
      for (const issued of [a, b, c]) assert.match(String(issued.token), /^pt_[A-Za-z0-9_-]{43}$/);
      assert.equal(await access.verify('T0101', a.token), a.tokenId);
      assert.equal(await access.verify('T0101', b.token), b.tokenId);
      assert.equal(await access.verify('T0102', c.token), c.tokenId);
      await assert.rejects(access.verify('T0102', a.token), (e: Error) => e instanceof LedgerError);
      await assert.rejects(access.verify('T0101', c.token), /token: is not an access token of this account/);
      for (const bad of [undefined, '', 'pt_short', `pt_${'A'.repeat(43)}`, String(a.token).toUpperCase()])
        await assert.rejects(access.verify('T0101', bad), /token: is not an access token/);
      await assert.rejects(access.issue('T9999'), /account "T9999" does not exist/);

      const stored = await rows('SELECT * FROM tenant_tokens ORDER BY issued_at, token_id');
      assert.equal(stored.length, 3);
      for (const issued of [a, b, c]) {
        const row = stored.find((r) => r.token_id === issued.tokenId);
        assert.equal(row?.token_hash, sha256(String(issued.token)), 'SHA-256 of the token, hex');
        assert.ok(!Object.values(row ?? {}).some((v) => String(v).includes(String(issued.token).slice(3))));
        assert.ok(!backend.bytes().includes(String(issued.token).slice(3)), 'no token anywhere in the files');
      }
      const listed = await access.list('T0101');
      assert.deepEqual(
        listed.map((t) => [t.tokenId, t.label, t.issuedBy, t.active]),
        [
          [a.tokenId, 'phone', 'operator', true],
          [b.tokenId, 'laptop', 'operator', true],
        ],
      );
      assert.ok(!JSON.stringify(listed).includes(sha256(String(a.token))), 'a listing carries no hash');
    });

    it('revokes one token alone, all of an account, and rotates in one step', async function () {
      const one = await access.issue('T0102', { label: 'one' });
      const two = await access.issue('T0102', { label: 'two' });
      // Revoking by id only with the right account, when one is given.
      assert.equal(await access.revoke({ tokenId: String(one.tokenId), accountId: 'T0101' }, 'ops'), 0);
      assert.equal(await access.revoke({ tokenId: String(one.tokenId) }, 'ops'), 1);
      await assert.rejects(access.verify('T0102', one.token), /token:/);
      assert.equal(await access.verify('T0102', two.token), two.tokenId);
      assert.equal(await access.revoke({ tokenId: String(one.tokenId) }, 'ops'), 0, 'already revoked');

      clock.advance(60_000);
      const rotated = await access.issue('T0102', { rotate: true, by: 'ops' });
      assert.ok(Number(rotated.revoked) >= 2, 'the phone token from before and "two"');
      await assert.rejects(access.verify('T0102', two.token), /token:/);
      assert.equal(await access.verify('T0102', rotated.token), rotated.tokenId);
      const listed = await access.list('T0102');
      assert.deepEqual(
        listed.filter((t) => t.active).map((t) => t.tokenId),
        [rotated.tokenId],
      );
      const revokedTwo = listed.find((t) => t.tokenId === two.tokenId);
      assert.deepEqual([revokedTwo?.revokedAt, revokedTwo?.revokedBy], [clock.now(), 'ops']);
      // The other account's tokens are untouched by T0102's rotation.
      assert.ok((await access.list('T0101')).every((t) => t.active));

      assert.equal(await access.revoke({ accountId: 'T0101' }, 'ops'), 2);
      assert.ok((await access.list('T0101')).every((t) => !t.active));
    });

    it('runs the ledger command form, naming the field at fault', async function () {
      const issued = await access.run(readAccessTokenCommand({ action: 'issue', accountId: 'T0101' }));
      assert.deepEqual([issued.ok, issued.action, issued.accountId], [true, 'issue', 'T0101']);
      const verified = await access.run(
        readAccessTokenCommand({ action: 'verify', accountId: 'T0101', token: issued.token }),
      );
      assert.equal(verified.tokenId, issued.tokenId);
      assert.equal(verified.token, undefined, 'a verification does not echo the token');
      assert.throws(
        () => readAccessTokenCommand({ action: 'mint', accountId: 'T0101' }),
        /^LedgerError: action:/,
      );
      assert.throws(() => readAccessTokenCommand({ action: 'issue' }), /accountId: is required/);
      assert.throws(() => readAccessTokenCommand({ action: 'revoke' }), /tokenId: or accountId is required/);
      assert.throws(
        () => readAccessTokenCommand({ action: 'issue', accountId: 'T0101', label: 'x'.repeat(101) }),
        /label: must be at most 100 characters/,
      );
    });
  });
}
