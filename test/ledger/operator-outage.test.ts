/**
 * An operator's posting on the admin API takes the ledger node's own way in: its intake journal first. While
 * the store (PostgreSQL, behind a proxy the test cuts) is out, a posting the ledger cannot take into memory is
 * answered 202 "pending", kept on disk; once the store is back it is posted, with the operator's name, and the
 * same receipt again is answered as a duplicate with the original figures.
 */
import assert from 'node:assert/strict';
import { PostgresLedgerStore } from '../../dist/nodes/store/postgres-ledger-store';
import {
  catchNode,
  helper,
  loadBuiltNode,
  startServer,
  stopServer,
  tempUserDir,
} from '../support/node-red-helper';
import { TcpProxy } from '../support/tcp-proxy';
import { PG_BASE, requirePostgres, ScratchDatabase, sleep } from './ledger-support';

const storeNode = loadBuiltNode('store/prepay-store.js');
const ledgerNode = loadBuiltNode('ledger/prepay-ledger.js');

type Answer = {
  status: number;
  body: { outcome: string; by?: string; error?: string; result?: { balance: number } };
};

describe('operator postings during a store outage (PostgreSQL)', function () {
  this.timeout(60_000);
  let database: ScratchDatabase | undefined;
  let proxy: TcpProxy | undefined;

  before(async function () {
    await requirePostgres(this, 'operator postings during a store outage');
    database = await ScratchDatabase.create('prepay_operator');
    proxy = await TcpProxy.start({ host: String(PG_BASE.host), port: Number(PG_BASE.port) });
    helper.settings({ userDir: tempUserDir() });
    await startServer();
  });

  after(async function () {
    await helper.unload();
    await stopServer();
    helper.settings({});
    await proxy?.stop();
    await database?.drop();
  });

  it('journals what the ledger cannot take now (202 pending) and posts it, with the operator, once the store is back', async function () {
    await helper.load(
      [storeNode, ledgerNode, catchNode],
      [
        {
          id: 's1',
          type: 'prepay-store',
          backend: 'postgres',
          host: '127.0.0.1',
          port: String(proxy!.port),
          database: database!.name,
          user: String(PG_BASE.user ?? 'postgres'),
          ssl: false,
        },
        // A queue of 101: one posting in the ledger's memory at a time, the rest wait in the journal.
        {
          id: 'l1',
          type: 'prepay-ledger',
          store: 's1',
          maxQueue: 101,
          snapshotMinutes: 0,
          timezone: 'UTC',
          wires: [[], [], []],
        },
      ],
    );
    const post = async (command: string, body: unknown): Promise<Answer> => {
      // Any status: supertest's request is a promise of the response.
      const response = await (helper
        .request()
        .post(`/prepay-ledger/l1/${command}`)
        .send(body) as unknown as Promise<{
        status: number;
        body: unknown;
      }>);
      return { status: response.status, body: response.body as Answer['body'] };
    };
    assert.equal(
      (await post('open', { accountId: 'T1', currency: 'MYR', reference: 'open-T1' })).body.outcome,
      'applied',
    );
    await proxy!.cut();
    // The first waits inside the ledger for the store (its request open); the second waits in the journal only.
    const first = post('topup', { accountId: 'T1', amount: 1000, reference: 'desk:R-1' });
    await sleep(300);
    const second = await post('topup', { accountId: 'T1', amount: 2500, reference: 'desk:R-2' });
    assert.equal(second.status, 202);
    assert.equal(second.body.outcome, 'pending');
    assert.match(String(second.body.error), /kept in the ledger's intake journal/);
    await sleep(500);
    await proxy!.restore();
    const answered = await first;
    assert.deepEqual([answered.status, answered.body.outcome], [200, 'applied']);
    const store = new PostgresLedgerStore(database!.config());
    await store.init();
    try {
      for (let i = 0; i < 100 && (await store.existingReferences(['desk:R-2'])).size === 0; i += 1)
        await sleep(100);
      const again = await post('topup', { accountId: 'T1', amount: 2500, reference: 'desk:R-2' });
      assert.deepEqual(
        [again.status, again.body.outcome, again.body.result?.balance],
        [200, 'duplicate', 3500],
      );
      const entries = await store.entriesOf('T1');
      assert.deepEqual(
        entries.filter((e) => e.kind === 'topup').map((e) => [e.reference, e.amount, e.meta.by]),
        [
          ['desk:R-1', 1000n, 'unauthenticated (adminAuth off)'],
          ['desk:R-2', 2500n, 'unauthenticated (adminAuth off)'],
        ],
      );
    } finally {
      await store.close();
    }
  });
});
