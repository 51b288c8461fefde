/**
 * The status throttle nodes use on their per-message paths: the first update shows at once, a burst
 * shows at most one more per interval, and the last update of a burst is always the one left showing.
 */
import assert from 'node:assert/strict';
import type { NodeStatus } from 'node-red';
import { okStatus, throttledStatus } from '../../dist/nodes/shared/status';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('throttled node status', function () {
  it('shows the first at once, then at most one per interval, ending on the latest', async function () {
    const shown: NodeStatus[] = [];
    let renders = 0;
    const status = throttledStatus({ status: (s) => shown.push(s) }, 40);
    for (let i = 1; i <= 1000; i += 1)
      status.show(() => {
        renders += 1;
        return okStatus(`${i} posted`);
      });
    assert.deepEqual(
      shown.map((s) => s.text),
      ['1 posted'],
    );
    await sleep(80);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['1 posted', '1000 posted'],
    );
    assert.equal(renders, 2, 'only the statuses shown are rendered');
    // After a quiet interval the next update is shown at once again.
    status.show(() => okStatus('1001 posted'));
    assert.equal(shown.at(-1)?.text, '1001 posted');
    status.stop();
  });

  it('drops the pending update when the node closes', async function () {
    const shown: NodeStatus[] = [];
    const status = throttledStatus({ status: (s) => shown.push(s) }, 30);
    status.show(() => okStatus('a'));
    status.show(() => okStatus('b'));
    status.stop();
    await sleep(60);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['a'],
    );
  });
});
