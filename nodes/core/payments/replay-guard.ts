/**
 * Remembers the signatures of genuine deliveries while their timestamp is inside the tolerance window, so the
 * same signed request sent again (a captured request replayed, a proxy that delivers twice) is recognised.
 * Outside the window the timestamp check refuses it anyway, so nothing older needs to be kept.
 *
 * In memory, per node: after a restart, or on another gateway, a replay is no longer recognised here, and the
 * ledger's idempotent payment reference is what keeps it from crediting twice.
 */
export class ReplayGuard {
  /** signature -> epoch ms after which it can be forgotten. Insertion order is arrival order. */
  private readonly seen = new Map<string, number>();
  private insertsSincePrune = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /**
   * True when `signature` was seen before (still remembered); otherwise remembers it until its timestamp
   * (`timestampMs`) leaves the window and returns false.
   */
  replayed(signature: string, timestampMs: number, nowMs: number): boolean {
    const until = this.seen.get(signature);
    if (until !== undefined && until >= nowMs) return true;
    this.seen.delete(signature);
    this.seen.set(signature, timestampMs + this.windowMs + 1000);
    this.insertsSincePrune += 1;
    if (this.insertsSincePrune >= 1000 || this.seen.size > this.maxEntries) this.prune(nowMs);
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(nowMs: number): void {
    this.insertsSincePrune = 0;
    for (const [signature, until] of this.seen) if (until < nowMs) this.seen.delete(signature);
    // Still too many genuine deliveries inside one window: forget the earliest arrivals. A replay of one of
    // those is then left to the ledger's reference check, which never credits a payment twice.
    for (const signature of this.seen.keys()) {
      if (this.seen.size <= this.maxEntries) break;
      this.seen.delete(signature);
    }
  }
}
