/**
 * Stable object instances. Each object name gets an instance number of its type once, kept for good: the same
 * name gets the same number after restarts and redeploys (the map is persisted), a retired object's number is
 * never given to another name, and a name that comes back gets its own number again. The database revision,
 * which BEMS front ends poll to know when to re-read the object list, lives here too.
 */
import { copy } from '../shapes';
import { MAX_INSTANCE } from './constants';

export interface RegistrySnapshot {
  version: 1;
  databaseRevision: number;
  /** Per object type, the next number to try. */
  next: Record<string, number>;
  /** [name, type, instance, retired (1) or active (0)]: compact, a 10,000-object site is a few hundred kB. */
  entries: Array<[string, number, number, 0 | 1]>;
}

interface Entry {
  type: number;
  instance: number;
  retired: boolean;
}

export function readRegistrySnapshot(value: unknown): RegistrySnapshot {
  const snapshot = value as RegistrySnapshot;
  if (snapshot?.version !== 1 || !Array.isArray(snapshot.entries) || typeof snapshot.next !== 'object')
    throw new Error('not a BACnet instance registry');
  for (const entry of snapshot.entries) {
    if (
      !Array.isArray(entry) ||
      typeof entry[0] !== 'string' ||
      !Number.isInteger(entry[1]) ||
      !Number.isInteger(entry[2])
    )
      throw new Error('a registry entry is not [name, type, instance, retired]');
  }
  return snapshot;
}

export class InstanceRegistry {
  private readonly byName = new Map<string, Entry>();
  /** Every number ever handed out, per type, retired ones included. */
  private readonly used = new Map<number, Set<number>>();
  private readonly next = new Map<number, number>();
  private revision: number;

  constructor(snapshot?: RegistrySnapshot) {
    this.revision = snapshot?.databaseRevision ?? 1;
    for (const [type, next] of Object.entries(snapshot?.next ?? {})) this.next.set(Number(type), next);
    for (const [name, type, instance, retired] of snapshot?.entries ?? []) {
      this.byName.set(name, { type, instance, retired: retired === 1 });
      this.usedOf(type).add(instance);
    }
  }

  get databaseRevision(): number {
    return this.revision;
  }

  /** The object set or a name changed: BEMS front ends re-read the object list when this moves. */
  bumpRevision(): void {
    this.revision += 1;
  }

  /** The instance for `name` as an object of `type`: its own if it had one, else the next never used. */
  allocate(name: string, type: number): number {
    const entry = this.byName.get(name);
    if (entry && entry.type === type) {
      entry.retired = false;
      return entry.instance;
    }
    const used = this.usedOf(type);
    let candidate = this.next.get(type) ?? 1;
    while (used.has(candidate)) candidate += 1;
    if (candidate > MAX_INSTANCE)
      throw new RangeError(`no free instance numbers left for object type ${type}`);
    used.add(candidate);
    this.next.set(type, candidate + 1);
    // A name reused for another type keeps its old number retired (in `used`) and takes a new one.
    this.byName.set(name, { type, instance: candidate, retired: false });
    return candidate;
  }

  /** Marks `name`'s object removed; its number stays reserved for it. */
  retire(name: string): boolean {
    const entry = this.byName.get(name);
    if (!entry || entry.retired) return false;
    entry.retired = true;
    return true;
  }

  lookup(name: string): { type: number; instance: number; retired: boolean } | undefined {
    const entry = this.byName.get(name);
    return entry ? copy(entry) : undefined;
  }

  snapshot(): RegistrySnapshot {
    return {
      version: 1,
      databaseRevision: this.revision,
      next: Object.fromEntries([...this.next].map(([type, next]) => [String(type), next])),
      entries: [...this.byName].map(([name, e]) => [name, e.type, e.instance, e.retired ? 1 : 0]),
    };
  }

  private usedOf(type: number): Set<number> {
    let set = this.used.get(type);
    if (!set) {
      set = new Set();
      this.used.set(type, set);
    }
    return set;
  }
}
