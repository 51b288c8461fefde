/**
 * A ledger behind HTTP in a real Node-RED and a producer that keeps posting to it, for the backup and
 * restore tests: the stream of top-ups and charges is deterministic, every answer is recorded in the order
 * it came, and what a copy of the ledger must hold is computed from the stream alone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SystemClock } from '../../dist/nodes/core/clock';
import { Ledger } from '../../dist/nodes/core/ledger/ledger';
import { readRequest } from '../../dist/nodes/core/ledger/requests';
import { LedgerStore } from '../../dist/nodes/core/ledger/store';
import { CumulativeRounder, SUB_MINOR_PER_MINOR } from '../../dist/nodes/core/money';
import { assertSound } from '../ledger/ledger-support';
import { tempUserDir } from '../support/node-red-helper';
import { ledgerNodeConfig } from '../support/ledger-node';

const root = join(__dirname, '..', '..', '..');
export const BACKUP_SCRIPT = join(root, 'docs', 'examples', 'prepay-backup.sh');
const run = promisify(execFile);

/**
 * A fresh user directory with this package installed as npm would: linked under node_modules, and its
 * command in node_modules/.bin.
 */
export function userDirWithPackage(): string {
  const userDir = tempUserDir();
  mkdirSync(join(userDir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(root, join(userDir, 'node_modules', 'node-red-contrib-prepay'), 'dir');
  const bin = join(userDir, 'node_modules', '.bin', 'prepay-ledger-backup');
  writeFileSync(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'dist', 'nodes', 'store', 'backup-cli.js')}" "$@"\n`,
  );
  chmodSync(bin, 0o755);
  return userDir;
}

/** Runs docs/examples/prepay-backup.sh as the timer does; returns the folder it wrote. */
export async function runBackupScript(env: Record<string, string>): Promise<{ folder: string; ms: number }> {
  const started = Date.now();
  const { stdout } = await run('/bin/sh', [BACKUP_SCRIPT], { env: { ...process.env, ...env } });
  const folder = /^prepay-backup: (.+)$/m.exec(stdout)?.[1];
  assert.ok(folder, stdout);
  return { folder, ms: Date.now() - started };
}

/** The names in a .tar.gz. */
export async function tarList(file: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', file]);
  return stdout.split('\n').filter(Boolean);
}

export const ACCOUNTS = ['T01', 'T02', 'T03', 'T04', 'T05'];
export const STORE_ID = 'sitestore0000001';
export const LEDGER_ID = 'siteledger000001';

export type StoreConfig = Record<string, unknown>;

/** http in POST /post -> ledger -> {result, duplicate} -> http response; a refused posting answers 500. */
export function ledgerFlow(store: StoreConfig): Array<Record<string, unknown>> {
  const z = 'sitetab000000001';
  return [
    { id: z, type: 'tab', label: 'ledger over HTTP' },
    {
      id: 'sitehttpin000001',
      type: 'http in',
      z,
      url: '/post',
      method: 'post',
      upload: false,
      swaggerDoc: '',
      wires: [[LEDGER_ID]],
    },
    ledgerNodeConfig({
      id: LEDGER_ID,
      z,
      store: STORE_ID,
      wires: [['siteanswer000001'], []],
    }),
    {
      id: 'siteanswer000001',
      type: 'function',
      z,
      func: 'msg.payload = { result: msg.payload, duplicate: msg.duplicate === true };\nreturn msg;',
      outputs: 1,
      wires: [['siteresponse0001']],
    },
    { id: 'siteresponse0001', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    {
      id: 'sitecatch0000001',
      type: 'catch',
      z,
      scope: [LEDGER_ID],
      uncaught: false,
      wires: [['sitefail00000001']],
    },
    {
      id: 'sitefail00000001',
      type: 'function',
      z,
      func: 'msg.statusCode = 500;\nmsg.payload = { error: msg.error.message };\nreturn msg;',
      outputs: 1,
      wires: [['siteresponse0001']],
    },
    { id: STORE_ID, type: 'prepay-store', ...store },
  ];
}

export interface Posting {
  reference: string;
  payload: Record<string, unknown>;
}

/** The opens, then top-ups and charges (sub-minor amounts) in a fixed pseudo-random order. */
export function postingStream(count: number, seed: number, prefix: string): Posting[] {
  let state = seed;
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const postings: Posting[] = [];
  for (let i = 0; postings.length < count; i++) {
    const accountId = ACCOUNTS[Math.floor(random() * ACCOUNTS.length)] as string;
    if (random() < 0.3) {
      const reference = `${prefix}pay-${i}`;
      postings.push({
        reference,
        payload: { command: 'topup', accountId, amount: 100 + Math.floor(random() * 5000), reference },
      });
    } else {
      const readingId = `E-${accountId}:${prefix}${i}`;
      postings.push({
        reference: `charge:${readingId}`,
        payload: {
          accountId,
          readingId,
          amount: 1 + Math.floor(random() * 2_000_000),
          currency: 'GBP',
          breakdown: [],
          to: 1_700_000_000_000 + i * 900_000,
          kind: 'consumption',
        },
      });
    }
  }
  return postings;
}

export function opens(): Posting[] {
  return ACCOUNTS.map((accountId) => ({
    reference: `open-${accountId}`,
    payload: { command: 'open', accountId, currency: 'GBP', reference: `open-${accountId}` },
  }));
}

/** Posts `postings` straight into a store (a ledger with history before Node-RED starts), 500 at a time. */
export async function seed(store: LedgerStore, postings: Posting[]): Promise<void> {
  const ledger = new Ledger(store, { clock: new SystemClock(), maxQueue: 1000 });
  try {
    for (const posting of opens()) await ledger.execute(readRequest(undefined, posting.payload));
    for (let i = 0; i < postings.length; i += 500)
      await Promise.all(
        postings.slice(i, i + 500).map((p) => ledger.execute(readRequest(undefined, p.payload))),
      );
  } finally {
    ledger.close();
  }
}

export interface Answer {
  status: number;
  body: { result?: Record<string, unknown>; duplicate?: boolean; error?: string };
}

export async function post(baseUrl: string, payload: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(`${baseUrl}/post`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/**
 * Posts a stream over HTTP, `inFlight` at a time, until it is stopped or the stream ends. `acked` holds
 * the references answered 200, in the order the answers came.
 */
export class Producer {
  readonly acked: string[] = [];
  private stopped = false;
  private next = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly postings: Posting[],
    private readonly inFlight = 4,
  ) {}

  start(): void {
    const worker = async (): Promise<void> => {
      while (!this.stopped) {
        const posting = this.postings[this.next++];
        if (!posting) return;
        const answer = await post(this.baseUrl, posting.payload);
        assert.equal(answer.status, 200, `${posting.reference}: ${answer.body.error}`);
        assert.equal(answer.body.duplicate, false, `${posting.reference} was new`);
        this.acked.push(posting.reference);
      }
    };
    this.running = Promise.all(Array.from({ length: this.inFlight }, worker)).then(() => undefined);
  }

  /** Resolves once `count` more postings have been answered. */
  async waitFor(count: number): Promise<void> {
    const target = this.acked.length + count;
    while (this.acked.length < target) {
      if (this.next >= this.postings.length && this.acked.length >= this.next)
        throw new Error('stream ended');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

/**
 * What a copy of the ledger must be: every reference answered before the copy was asked for is in it,
 * nothing that was never sent is in it, the ledger's verify passes, every balance and debt equals its
 * entries, and every balance equals the top-ups minus the charges of exactly the postings it holds.
 */
export async function assertConsistentCopy(
  store: LedgerStore,
  referencesInCopy: string[],
  sent: Posting[],
  answeredBefore: string[],
): Promise<void> {
  const inCopy = new Set(referencesInCopy);
  const missing = answeredBefore.filter((reference) => !inCopy.has(reference));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} answered postings missing from the copy`);
  const byReference = new Map(sent.map((p) => [p.reference, p]));
  for (const open of opens()) byReference.set(open.reference, open);
  const unknown = referencesInCopy.filter((reference) => !byReference.has(reference));
  assert.deepEqual(unknown, [], 'the copy holds only postings that were sent');
  const ledger = new Ledger(store, { clock: new SystemClock() });
  try {
    await assertSound(ledger, store);
  } finally {
    ledger.close();
  }
  for (const accountId of ACCOUNTS) {
    const mine = referencesInCopy
      .map((reference) => byReference.get(reference) as Posting)
      .filter((p) => p.payload.accountId === accountId);
    const topups = mine
      .filter((p) => p.payload.command === 'topup')
      .reduce((sum, p) => sum + BigInt(p.payload.amount as number), 0n);
    const chargeSub = mine
      .filter((p) => p.payload.readingId)
      .reduce((sum, p) => sum + BigInt(p.payload.amount as number), 0n);
    const charged = new CumulativeRounder(SUB_MINOR_PER_MINOR, 'half-even').add(0n, chargeSub).emit;
    const account = await store.getAccount(accountId);
    assert.equal(account?.balance, topups - charged, `balance of ${accountId}`);
  }
}

/**
 * On a restored ledger: postings answered before the copy are duplicates (answered with their original
 * result, nothing posted), a posting the old ledger took after the copy posts again, a new one posts, and
 * verify passes.
 */
export async function assertLedgerContinues(
  baseUrl: string,
  stream: Posting[],
  answeredBefore: string[],
  inCopy: Set<string>,
  answeredLive: string[],
): Promise<void> {
  const byReference = new Map([...opens(), ...stream].map((p) => [p.reference, p]));
  for (const reference of [answeredBefore[10], answeredBefore[answeredBefore.length - 1]] as string[]) {
    const answer = await post(baseUrl, (byReference.get(reference) as Posting).payload);
    assert.equal(answer.status, 200, answer.body.error);
    assert.equal(answer.body.duplicate, true, `${reference} is a duplicate after the restore`);
  }
  const afterCopy = answeredLive.find((reference) => !inCopy.has(reference));
  assert.ok(afterCopy, 'the old ledger took postings after the copy');
  const lost = await post(baseUrl, (byReference.get(afterCopy) as Posting).payload);
  assert.equal(lost.status, 200, lost.body.error);
  assert.equal(lost.body.duplicate, false, 'a posting made after the copy is not in it, and posts again');

  const before = await post(baseUrl, { command: 'balance', accountId: 'T03' });
  const topup = await post(baseUrl, {
    command: 'topup',
    accountId: 'T03',
    amount: 1234,
    reference: 'after-restore-1',
  });
  assert.equal(topup.status, 200, topup.body.error);
  assert.equal(topup.body.duplicate, false);
  assert.equal(
    BigInt(topup.body.result?.balance as number),
    BigInt(before.body.result?.balance as number) + 1234n,
    'a new top-up moves the balance by its amount',
  );
  const verify = await post(baseUrl, { command: 'verify' });
  assert.equal(verify.body.result?.ok, true, JSON.stringify(verify.body));
}
