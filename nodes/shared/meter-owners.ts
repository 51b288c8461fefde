/**
 * The running nodes that own meters (meter readers, cutoff relays), so that an operator's action on the
 * admin API, which names a meter, reaches the node that can carry it out, or is told that none can.
 */
export interface MeterOwner {
  readonly id: string;
  readonly name: string;
  has(meterId: string): boolean;
}

export class MeterOwners<T extends MeterOwner> {
  private readonly byId = new Map<string, T>();

  add(owner: T): void {
    this.byId.set(owner.id, owner);
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  /** The running nodes that have the meter in their table (normally one). */
  owning(meterId: string): T[] {
    return [...this.byId.values()].filter((owner) => owner.has(meterId));
  }
}
