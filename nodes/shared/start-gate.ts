/**
 * Nothing is sent before the runtime's flows have started. Node-RED builds a deploy's nodes flow by flow and
 * only then emits `flows:started`; a message sent earlier (a catch-up at start, a re-send after a restart, a
 * timer on a fast building clock) reaches no node that is built later in flows.json, and Node-RED drops it
 * without a word. A node sends its start-up and timer-driven messages through its gate: held, in order, until
 * the flows have started, then delivered.
 */
import type { NodeAPI } from 'node-red';

interface RuntimeEvents {
  on(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
}

export class StartGate {
  private isOpen = false;
  private closed = false;
  private held: Array<() => void> = [];
  private readonly events: RuntimeEvents | undefined;
  private readonly listener = (): void => this.openNow();

  constructor(RED: NodeAPI) {
    this.events = (RED as unknown as { events?: RuntimeEvents }).events;
    // A runtime without events (none that runs flows) could never open the gate: open it at once.
    if (!this.events) this.isOpen = true;
    else this.events.on('flows:started', this.listener);
  }

  /** True once the runtime's flows have started (every node of the deploy exists and is wired). */
  get open(): boolean {
    return this.isOpen;
  }

  /** Runs `fn` now when the flows have started, else as soon as they have (in the order given). */
  run(fn: () => void): void {
    if (this.closed) return;
    if (this.isOpen) fn();
    else this.held.push(fn);
  }

  /** Stops listening; anything still held is dropped (the node is going away). */
  close(): void {
    this.closed = true;
    this.held = [];
    this.events?.removeListener('flows:started', this.listener);
  }

  private openNow(): void {
    this.events?.removeListener('flows:started', this.listener);
    if (this.isOpen || this.closed) return;
    this.isOpen = true;
    const held = this.held;
    this.held = [];
    for (const fn of held) fn();
  }
}
