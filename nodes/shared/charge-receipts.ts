/**
 * How a producer of charges learns that a ledger has them. Node-RED wires carry no acknowledgement: a message
 * sent is forgotten by its sender, and one that is in flight when the process dies, or that reaches no node
 * (a deploy still starting), is gone. So a charge stays in its tariff node's outbox, and is sent again after a
 * restart, until a ledger in the same runtime says it holds the charge durably (committed, or journaled for
 * commit). Ledger nodes register here while they run; the ledger ignores a charge it holds already.
 */
export interface ChargeReceiver {
  /**
   * Of the given posting references (`charge:<reading id>` for a charge, a credit's own reference), those this
   * receiver holds durably.
   */
  holds(references: readonly string[]): Promise<ReadonlySet<string>>;
}

const receivers = new Set<ChargeReceiver>();

export const chargeReceipts = {
  add(receiver: ChargeReceiver): void {
    receivers.add(receiver);
  },
  remove(receiver: ChargeReceiver): void {
    receivers.delete(receiver);
  },
  /** How many ledgers in this runtime can confirm receipt. */
  get receivers(): number {
    return receivers.size;
  },
  /** The posting references any running ledger holds; a ledger that cannot answer now confirms nothing. */
  async held(references: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    if (references.length === 0) return held;
    const answers = await Promise.allSettled([...receivers].map((receiver) => receiver.holds(references)));
    for (const answer of answers) {
      if (answer.status === 'fulfilled') for (const id of answer.value) held.add(id);
    }
    return held;
  },
};
