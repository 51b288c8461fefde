/**
 * Carries out DesiredCommands on the BEMS: writes the value at its priority, reads the Priority_Array and
 * Present_Value back to confirm it landed, and relinquishes (writes NULL at the same priority) when the command
 * is no longer wanted, when an operator overrides it and when the node stops. A command written is in the
 * lease file first (lease-book.ts), so a Node-RED that dies leaves nothing the watchdog does not know of.
 *
 * A higher priority than ours holding a value on read-back is a BEMS operator (or the BEMS's own logic) taking
 * the object over: reported as `overridden` and left alone; our slot stays as it is underneath, and takes effect
 * again when they relinquish theirs. Failures are retried with exponential backoff; one request at a time goes
 * to the BEMS from each commander, so a busy controller is never flooded.
 */
import { PRESENT_VALUE, sameValue, targetLabel, type DesiredCommand } from '../core/loadcontrol/commands';
import type { BacnetClient, PeerAddress } from './bacnet-client';
import type { AppValue } from './client-codec';
import type { LeaseBook } from './lease-book';

const PRIORITY_ARRAY = 87;

interface ReadBack {
  /** The 16 slots, when the property is present-value (commandable). */
  slots?: AppValue[];
  presentValue?: AppValue;
  /** The highest priority holding a value, when one does. */
  activePriority?: number;
}

export type Outcome = 'landed' | 'overridden' | 'released' | 'failed';

/** What became of one command: sent on the node's output and kept as the slot's last state. */
export interface CommandEvent {
  key: string;
  target: string;
  priority: number;
  /** The value commanded; null for a relinquish. */
  value: number | boolean | null;
  outcome: Outcome;
  reason: string;
  text: string;
  /** Read back. */
  presentValue?: number | boolean | null;
  /** The highest priority holding a value, when one does. */
  activePriority?: number;
  attempts: number;
  nextAttemptAt?: number;
  at: number;
}

export interface CommanderOptions {
  owner: string;
  client: BacnetClient;
  peer: PeerAddress;
  lease: LeaseBook;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Re-read landed commands this often (0: never) to notice overrides and lost slots. */
  verifyEveryMs?: number;
  now?: () => number;
  onEvent?: (event: CommandEvent) => void;
}

interface Slot {
  command: DesiredCommand;
  peer: PeerAddress;
  /** Our value may be in the device (written, or left from an earlier run): a NULL is owed before forgetting. */
  held: boolean;
  /** Released by an operator until then (epoch ms): nothing but NULL is written meanwhile. */
  suspendedUntil?: number;
  suspendedWhy?: string;
  attempts: number;
  /** The next round is a check of a landed command: read only, written again only when our slot lost it. */
  verifying?: boolean;
  dueAt: number;
  timer?: NodeJS.Timeout;
  last?: CommandEvent;
  /** Resolved with the first outcome after the command was last set. */
  waiters: Array<(event: CommandEvent) => void>;
}

export class BacnetCommander {
  private readonly slots = new Map<string, Slot>();
  private readonly queue = new Set<Slot>();
  private busy = false;
  private closed = false;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly verifyEveryMs: number;
  private readonly now: () => number;

  constructor(private readonly options: CommanderOptions) {
    this.retryBaseMs = options.retryBaseMs ?? 2000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
    this.verifyEveryMs = options.verifyEveryMs ?? 300_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Takes over what an earlier run left in the lease file: commands wanted again are asserted again, the rest
   * relinquished. `initial` is everything the owner wants now.
   */
  start(initial: readonly DesiredCommand[]): void {
    const wanted = new Map(initial.map((c) => [c.key, c]));
    for (const entry of this.options.lease.held(this.options.owner)) {
      if (wanted.has(entry.key)) continue;
      const slot = this.slotFor({
        key: entry.key,
        target: {
          device: entry.device,
          objectType: entry.objectType,
          instance: entry.instance,
          property: entry.property,
        },
        value: null,
        priority: entry.priority,
        reason: 'left from an earlier run, no longer wanted',
      });
      slot.peer = { host: entry.host, port: entry.port };
      slot.held = true;
      this.schedule(slot, 0);
    }
    for (const command of initial) void this.set(command);
  }

  private slotFor(command: DesiredCommand): Slot {
    let slot = this.slots.get(command.key);
    if (!slot) {
      const leased = this.options.lease.held(this.options.owner).some((e) => e.key === command.key);
      slot = { command, peer: this.options.peer, held: leased, attempts: 0, dueAt: 0, waiters: [] };
      this.slots.set(command.key, slot);
    }
    return slot;
  }

  /** Wants `command` carried out (value null: relinquished). Resolves with its first outcome. */
  set(command: DesiredCommand): Promise<CommandEvent> {
    const slot = this.slotFor(command);
    slot.command = command;
    slot.attempts = 0;
    const promise = new Promise<CommandEvent>((resolve) => slot.waiters.push(resolve));
    if (command.value === null && !slot.held) {
      // Never written: nothing to relinquish.
      this.report(slot, 'released', 'nothing to relinquish: never written', {});
      this.slots.delete(command.key);
      return promise;
    }
    this.schedule(slot, 0);
    return promise;
  }

  /** Releases the keys to the BEMS until `until` (operator override): NULL now, the rule's value after. */
  suspend(keys: readonly string[], until: number, why: string): Promise<CommandEvent[]> {
    return Promise.all(
      keys.map((key) => {
        const slot = this.slots.get(key);
        if (!slot) return undefined;
        slot.suspendedUntil = until;
        slot.suspendedWhy = why;
        slot.attempts = 0;
        const promise = new Promise<CommandEvent>((resolve) => slot.waiters.push(resolve));
        this.schedule(slot, 0);
        return promise;
      }),
    ).then((events) => events.filter((e): e is CommandEvent => e !== undefined));
  }

  /** Ends an operator's release early. */
  resume(keys: readonly string[]): void {
    for (const key of keys) {
      const slot = this.slots.get(key);
      if (!slot || slot.suspendedUntil === undefined) continue;
      delete slot.suspendedUntil;
      delete slot.suspendedWhy;
      slot.attempts = 0;
      this.schedule(slot, 0);
    }
  }

  /** The last outcome of every key. */
  states(): CommandEvent[] {
    return [...this.slots.values()].flatMap((s) => (s.last ? [s.last] : []));
  }

  keys(): string[] {
    return [...this.slots.keys()];
  }

  private schedule(slot: Slot, delayMs: number): void {
    if (this.closed) return;
    slot.verifying = false;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.dueAt = this.now() + delayMs;
    if (delayMs <= 0) {
      this.queue.add(slot);
      this.pump();
      return;
    }
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.queue.add(slot);
      this.pump();
    }, delayMs);
    slot.timer.unref?.();
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const next = this.queue.values().next();
    if (next.done) return;
    const slot = next.value;
    this.queue.delete(slot);
    this.busy = true;
    this.process(slot)
      .catch(() => undefined) // process reports its own failures
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  /** The value to write now: the command's, or NULL while an operator has it released. */
  private effective(slot: Slot): number | boolean | null {
    if (slot.suspendedUntil !== undefined) {
      if (slot.suspendedUntil > this.now()) return null;
      delete slot.suspendedUntil;
      delete slot.suspendedWhy;
    }
    return slot.command.value;
  }

  private async process(slot: Slot): Promise<void> {
    const { command } = slot;
    const value = this.effective(slot);
    const property = command.target.property ?? PRESENT_VALUE;
    const ref = { objectType: command.target.objectType, instance: command.target.instance, property };
    slot.attempts += 1;
    try {
      if (value === null && !slot.held) {
        this.report(slot, 'released', slot.suspendedWhy ?? 'nothing to relinquish', {});
        return this.settle(slot);
      }
      if (value !== null) {
        this.options.lease.hold({
          owner: this.options.owner,
          key: command.key,
          host: slot.peer.host,
          port: slot.peer.port,
          device: command.target.device,
          objectType: ref.objectType,
          instance: ref.instance,
          property,
          priority: command.priority,
          value,
          since: this.now(),
        });
        slot.held = true;
      }
      if (slot.verifying && value !== null) {
        slot.verifying = false;
        const verdict = this.judge(command.priority, value, await this.readBack(slot));
        if (verdict) return this.landed(slot, verdict);
        // Our slot no longer holds our value (cleared or written by someone at our priority): write it again.
      }
      await this.options.client.writeProperty(slot.peer, ref, value, command.priority);
      const readBack = await this.readBack(slot);
      if (value === null) {
        const mine = readBack.slots ? readBack.slots[command.priority - 1] : undefined;
        if (readBack.slots && mine !== null)
          throw new Error(`read back: priority ${command.priority} still holds ${String(mine)} after NULL`);
        slot.held = false;
        this.options.lease.release(this.options.owner, command.key);
        this.report(
          slot,
          'released',
          slot.suspendedWhy ? `released by ${slot.suspendedWhy}` : 'relinquished',
          readBack,
        );
        return this.settle(slot);
      }
      const verdict = this.judge(command.priority, value, readBack);
      if (!verdict) {
        const mine = readBack.slots ? readBack.slots[command.priority - 1] : readBack.presentValue;
        throw new Error(
          `read back: priority ${command.priority} holds ${JSON.stringify(mine)}, not ${String(value)}`,
        );
      }
      this.landed(slot, verdict);
    } catch (error) {
      const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(20, slot.attempts - 1));
      this.report(slot, 'failed', (error as Error).message, {}, this.now() + delay);
      this.schedule(slot, delay);
    }
  }

  /**
   * What a read-back says of a value written at `priority`: landed (our slot holds it and nothing above), or
   * overridden (a higher priority holds a value: left alone); undefined when our slot does not hold it.
   */
  private judge(
    priority: number,
    value: number | boolean,
    readBack: ReadBack,
  ): { outcome: 'landed' | 'overridden'; text: string; readBack: ReadBack } | undefined {
    const mine = readBack.slots ? readBack.slots[priority - 1] : readBack.presentValue;
    if (mine === null || mine === undefined || typeof mine === 'object' || !sameValue(value, mine))
      return undefined;
    if (readBack.activePriority !== undefined && readBack.activePriority < priority)
      return {
        outcome: 'overridden',
        text: `priority ${readBack.activePriority} holds ${String(readBack.presentValue)} above ours (${priority}): left alone`,
        readBack,
      };
    return { outcome: 'landed', text: `priority ${priority} holds ${String(value)}`, readBack };
  }

  private landed(
    slot: Slot,
    verdict: { outcome: 'landed' | 'overridden'; text: string; readBack: ReadBack },
  ): void {
    this.report(slot, verdict.outcome, verdict.text, verdict.readBack);
    slot.attempts = 0;
    if (this.verifyEveryMs > 0) {
      this.schedule(slot, this.verifyEveryMs);
      slot.verifying = true;
    }
  }

  /** A relinquished slot is forgotten unless an operator's release is still to end (then it is written again). */
  private settle(slot: Slot): void {
    slot.attempts = 0;
    if (slot.suspendedUntil !== undefined && slot.command.value !== null) {
      this.schedule(slot, Math.max(0, slot.suspendedUntil - this.now()));
      return;
    }
    if (slot.command.value === null) this.slots.delete(slot.command.key);
  }

  private async readBack(
    slot: Slot,
  ): Promise<{ slots?: AppValue[]; presentValue?: AppValue; activePriority?: number }> {
    const { target } = slot.command;
    const property = target.property ?? PRESENT_VALUE;
    const read = (p: number) =>
      this.options.client.readProperty(slot.peer, {
        objectType: target.objectType,
        instance: target.instance,
        property: p,
      });
    const [presentValue] = await read(property);
    if (property !== PRESENT_VALUE) return { presentValue };
    const slots = await read(PRIORITY_ARRAY);
    if (slots.length !== 16) throw new Error(`read back: a priority array of ${slots.length} elements`);
    const index = slots.findIndex((v) => v !== null);
    return index < 0 ? { slots, presentValue } : { slots, presentValue, activePriority: index + 1 };
  }

  private report(
    slot: Slot,
    outcome: Outcome,
    text: string,
    readBack: { presentValue?: AppValue; activePriority?: number },
    nextAttemptAt?: number,
  ): void {
    const { command } = slot;
    const value = this.effective(slot);
    const event: CommandEvent = {
      key: command.key,
      target: targetLabel(command.target),
      priority: command.priority,
      value,
      outcome,
      reason: command.reason,
      text,
      attempts: slot.attempts,
      at: this.now(),
    };
    if (readBack.presentValue !== undefined && typeof readBack.presentValue !== 'object')
      event.presentValue = readBack.presentValue;
    else if (readBack.presentValue === null) event.presentValue = null;
    if (readBack.activePriority !== undefined) event.activePriority = readBack.activePriority;
    if (nextAttemptAt !== undefined) event.nextAttemptAt = nextAttemptAt;
    // A periodic check that finds nothing changed is not news.
    const same =
      slot.last !== undefined &&
      slot.waiters.length === 0 &&
      slot.last.outcome === outcome &&
      slot.last.value === value &&
      slot.last.activePriority === event.activePriority &&
      outcome !== 'failed';
    slot.last = event;
    for (const resolve of slot.waiters.splice(0)) resolve(event);
    if (!same) this.options.onEvent?.(event);
  }

  /**
   * Relinquishes everything held (node stop, redeploy), within `budgetMs`. What cannot be relinquished in time
   * stays in the lease file, for the next start or the watchdog.
   */
  async close(budgetMs = 10_000): Promise<{ released: number; left: number }> {
    this.closed = true;
    for (const slot of this.slots.values()) if (slot.timer) clearTimeout(slot.timer);
    this.queue.clear();
    const deadline = this.now() + budgetMs;
    // Wait for a request in flight to end.
    while (this.busy && this.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    let released = 0;
    let left = 0;
    for (const entry of this.options.lease.held(this.options.owner)) {
      if (this.now() >= deadline) {
        left += 1;
        continue;
      }
      try {
        await this.options.client.writeProperty(
          { host: entry.host, port: entry.port },
          { objectType: entry.objectType, instance: entry.instance, property: entry.property },
          null,
          entry.priority,
        );
        this.options.lease.release(this.options.owner, entry.key);
        released += 1;
      } catch {
        left += 1;
      }
    }
    return { released, left };
  }
}
