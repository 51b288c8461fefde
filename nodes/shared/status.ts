/**
 * Node status in the package's one convention: green dot when working, yellow ring when degraded
 * (running on a fallback, backlog, stale data), red ring on a fault that stops the node's work.
 */
import type { NodeStatus } from 'node-red';

export function okStatus(text: string): NodeStatus {
  return { fill: 'green', shape: 'dot', text };
}

export function degradedStatus(text: string): NodeStatus {
  return { fill: 'yellow', shape: 'ring', text };
}

export function faultStatus(text: string): NodeStatus {
  return { fill: 'red', shape: 'ring', text };
}

export interface StatusThrottle {
  /** Shows the status `render` gives: at once if none was shown in the last interval, else at its end. */
  show(render: () => NodeStatus): void;
  /** Stops the pending update (on close). */
  stop(): void;
}

/**
 * A node that updates its status on every message spends more on the status than on the message once
 * thousands arrive a second: each update is an event sent to every open editor, and some statuses count
 * over every meter. This shows the first update at once and then at most one per interval, always
 * ending on the latest.
 */
export function throttledStatus(
  node: { status(status: NodeStatus): void },
  intervalMs = 250,
): StatusThrottle {
  let lastShown = -Infinity;
  let pending: (() => NodeStatus) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const render = (what: () => NodeStatus): void => {
    lastShown = performance.now();
    node.status(what());
  };
  return {
    show(what) {
      if (timer) {
        pending = what;
        return;
      }
      const wait = lastShown + intervalMs - performance.now();
      if (wait <= 0) return render(what);
      pending = what;
      timer = setTimeout(() => {
        timer = undefined;
        const latest = pending;
        pending = undefined;
        if (latest) render(latest);
      }, wait);
      timer.unref?.();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending = undefined;
    },
  };
}
