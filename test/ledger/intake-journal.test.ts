/**
 * The ledger's intake journal on disk: what is accepted and not settled comes back after a restart, in order
 * and intact; a torn last line is ignored; the file starts again once empty without resurrecting settled
 * postings; and on a full disk (a small tmpfs) the preallocated reserve still takes postings, then refuses
 * them with a clear error.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { IntakeJournal, JournalFullError } from '../../dist/nodes/ledger/intake-journal';
import { tempUserDir } from '../support/node-red-helper';

function charge(i: number): Record<string, unknown> {
  return {
    readingId: `E-1:${i}`,
    accountId: 'T01',
    amount: 1000 + i,
    currency: 'GBP',
    breakdown: [{ component: 'energy', amount: 1000 + i }],
  };
}

async function acceptAll(journal: IntakeJournal, from: number, to: number): Promise<number[]> {
  const seqs: Array<Promise<number>> = [];
  for (let i = from; i < to; i++)
    seqs.push(journal.accept(`charge:E-1:${i}`, 'charge', charge(i), 1_000 + i));
  return Promise.all(seqs);
}

describe('ledger intake journal', function () {
  it('gives back what was accepted and not settled, in order and intact, after a restart', async function () {
    const path = join(tempUserDir(), 'prepay', 'ledger-a.journal');
    const journal = new IntakeJournal(path, { reserveBytes: 64 * 1024 });
    const seqs = await acceptAll(journal, 0, 50);
    assert.deepEqual(
      seqs,
      [...Array(50).keys()].map((i) => i + 1),
    );
    for (const seq of seqs.filter((s) => s % 3 === 0)) journal.settle(seq, 'committed');
    assert.equal(journal.backlog, 34);
    assert.ok(journal.holds('charge:E-1:0'));
    assert.ok(!journal.holds('charge:E-1:2'));
    // No close: a crash. Marks written so far may or may not be there; accepted lines are.
    const again = new IntakeJournal(path, { reserveBytes: 64 * 1024 });
    const back = again.unsettled();
    assert.ok(back.length >= 34 && back.length <= 50);
    journal.close();
    const closed = new IntakeJournal(path, { reserveBytes: 64 * 1024 }).unsettled();
    assert.deepEqual(
      closed.map((r) => r.seq),
      seqs.filter((s) => s % 3 !== 0),
    );
    assert.deepEqual(closed[0], {
      seq: 1,
      receivedAt: 1_000,
      reference: 'charge:E-1:0',
      topic: 'charge',
      payload: charge(0),
    });
  });

  it('continues the sequence after a restart and ignores a torn last line', async function () {
    const path = join(tempUserDir(), 'prepay', 'ledger-b.journal');
    const journal = new IntakeJournal(path, { reserveBytes: 64 * 1024 });
    await acceptAll(journal, 0, 3);
    const end = journal.bytes;
    journal.close();
    // A crash in the middle of a write: half a line after the end, never acknowledged.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('{"q":4,"t":1,"r":"charge:E-1:3","o":"cha'), 0, 40, end);
    closeSync(fd);
    const reopened = new IntakeJournal(path, { reserveBytes: 64 * 1024 });
    assert.deepEqual(
      reopened.unsettled().map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(reopened.bytes, end);
    const [next] = await acceptAll(reopened, 3, 4);
    assert.equal(next, 4);
    reopened.close();
    assert.deepEqual(
      new IntakeJournal(path, { reserveBytes: 64 * 1024 }).unsettled().map((r) => [r.seq, r.reference]),
      [
        [1, 'charge:E-1:0'],
        [2, 'charge:E-1:1'],
        [3, 'charge:E-1:2'],
        [4, 'charge:E-1:3'],
      ],
    );
  });

  it('starts again at the beginning once empty, and never brings a settled posting back', async function () {
    const path = join(tempUserDir(), 'prepay', 'ledger-c.journal');
    const reserve = 64 * 1024;
    const journal = new IntakeJournal(path, { reserveBytes: reserve });
    // Fill more than half the reserve, settle everything: the journal starts again from the top.
    const first = await acceptAll(journal, 0, 400);
    for (const seq of first) journal.settle(seq, 'committed');
    journal.flush();
    assert.equal(journal.bytes, 0);
    // New postings overwrite the start; the settled lines past them stay in the file.
    const second = await acceptAll(journal, 1000, 1100);
    for (const seq of second.slice(0, 50)) journal.settle(seq, 'committed');
    journal.flush();
    assert.ok(journal.bytes > 4096, 'past the zeros written at the restart');
    // Crash (no close) and read back: only the 50 new unsettled postings.
    const back = new IntakeJournal(path, { reserveBytes: reserve }).unsettled();
    assert.deepEqual(
      back.map((r) => r.seq),
      second.slice(50),
    );
    assert.ok(back.every((r) => (r.payload as { readingId: string }).readingId.startsWith('E-1:10')));
  });

  it('keeps a reserve allocated ahead of its end', async function () {
    const path = join(tempUserDir(), 'prepay', 'ledger-d.journal');
    const journal = new IntakeJournal(path, { reserveBytes: 256 * 1024 });
    assert.ok(statSync(path).size >= 256 * 1024);
    await acceptAll(journal, 0, 2000);
    assert.ok(journal.reserveLeft >= 128 * 1024, `reserve left ${journal.reserveLeft}`);
    assert.equal(statSync(path).size, journal.bytes + journal.reserveLeft);
    journal.close();
  });

  describe('on a full disk (a 2 MiB tmpfs)', function () {
    let mount: string | undefined;
    before(function () {
      const dir = join(tempUserDir(), 'small');
      mkdirSync(dir, { recursive: true });
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
        mount = dir;
      } catch (error) {
        if (process.env.CI === 'true') throw new Error(`mounting a tmpfs is needed in CI: ${String(error)}`);
        console.warn(
          `\n!!! cannot mount a tmpfs (${(error as Error).message.split('\n')[0]}): SKIPPING the full-disk journal test\n`,
        );
        this.skip();
      }
    });
    after(function () {
      if (mount) execFileSync('umount', ['-l', mount]);
    });

    it('takes postings into its reserve while nothing else can write, then refuses with a clear error', async function () {
      const path = join(mount as string, 'prepay', 'ledger-e.journal');
      const journal = new IntakeJournal(path, { reserveBytes: 512 * 1024 });
      // Fill the rest of the disk.
      const filler = join(mount as string, 'filler');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) appendFileSync(filler, chunk);
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
      assert.throws(() => appendFileSync(join(mount as string, 'other'), 'x'), /ENOSPC/);
      // The journal still accepts what its reserve holds (each line is about 200 bytes), though it cannot
      // grow; then it refuses, saying why.
      let accepted = 0;
      let refused: unknown;
      for (let i = 0; i < 20_000 && !refused; i += 100) {
        await acceptAll(journal, i, i + 100).then(
          () => (accepted += 100),
          (error: unknown) => (refused = error),
        );
      }
      assert.ok(accepted >= 2000, `accepted ${accepted} on a full disk`);
      assert.match(journal.growthProblem ?? '', /ENOSPC|no space/i);
      assert.ok(refused instanceof JournalFullError, String(refused));
      assert.match((refused as Error).message, /no room left/);
      // Everything acknowledged is readable after a restart.
      const back = new IntakeJournal(path, { reserveBytes: 512 * 1024 }).unsettled();
      assert.equal(back.length, accepted);
      assert.deepEqual(
        back.slice(0, 3).map((r) => r.reference),
        ['charge:E-1:0', 'charge:E-1:1', 'charge:E-1:2'],
      );
      journal.close();
      assert.ok(readFileSync(path).length > 0);
    });
  });
});
