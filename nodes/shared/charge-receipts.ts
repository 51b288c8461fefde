/**
 * How a producer learns that a ledger has what it sent. Node-RED wires carry no acknowledgement: a message
 * sent is forgotten by its sender, and one that is in flight when the process dies, or that reaches no node
 * (a deploy still starting), is gone. So a charge stays in its tariff node's outbox, and a meter reader's day
 * summary in its day tallies, and is sent again (after a restart, and while it is not confirmed) until a
 * ledger in the same runtime says it holds it durably (committed, journaled for commit, or written to its
 * fsynced state). Ledger nodes register here while they run; the ledger ignores what it holds already.
 */
export interface ChargeReceiver {
  /**
   * Of the given references (`charge:<reading id>` for a charge, a credit's own reference; a day summary's
   * `receipt`), those this receiver holds durably.
   */
  holds(references: readonly string[]): Promise<ReadonlySet<string>>;
}

/** The ledgers running in this process that can confirm one kind of receipt. */
export class ReceiptRegistry {
  private readonly receivers = new Set<ChargeReceiver>();

  add(receiver: ChargeReceiver): void {
    this.receivers.add(receiver);
  }

  remove(receiver: ChargeReceiver): void {
    this.receivers.delete(receiver);
  }

  /** How many ledgers in this runtime can confirm receipt. */
  get size(): number {
    return this.receivers.size;
  }

  /** The references any running ledger holds; a ledger that cannot answer now confirms nothing. */
  async held(references: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    if (references.length === 0) return held;
    const answers = await Promise.allSettled(
      [...this.receivers].map((receiver) => receiver.holds(references)),
    );
    for (const answer of answers) {
      if (answer.status === 'fulfilled') for (const id of answer.value) held.add(id);
    }
    return held;
  }
}

const charges = new ReceiptRegistry();

/** Charges and credits (tariff outboxes). */
export const chargeReceipts = {
  add(receiver: ChargeReceiver): void {
    charges.add(receiver);
  },
  remove(receiver: ChargeReceiver): void {
    charges.remove(receiver);
  },
  /** How many ledgers in this runtime can confirm receipt. */
  get receivers(): number {
    return charges.size;
  },
  held(references: readonly string[]): Promise<Set<string>> {
    return charges.held(references);
  },
};

/** Meter readers' day summaries (by their `receipt` reference: meter, date and a hash of the content). */
export const daySummaryReceipts = new ReceiptRegistry();
