/**
 * The JSON text of a record with many entries of which only a few change between saves: a meter reader
 * saves the state of its 200 meters before each batch of consumption it sends, and one or two of them were
 * read since the last save. Serialising the whole record every time was most of a large site's CPU; here
 * each entry's JSON is kept and only the entries marked changed are serialised again. The text parses to
 * what `JSON.stringify` of the whole record would give (bigints as decimal strings, as `StateFile` writes).
 */
import { stringify } from './state-file';

export class IncrementalRecordJson<T> {
  private readonly texts = new Map<string, string>();
  private readonly changed = new Set<string>();

  /** `entry(key)` is the entry's current value, or undefined when it is gone from the record. */
  constructor(private readonly entry: (key: string) => T | undefined) {}

  /** The entry was added, changed or removed since the last `text()`. */
  markChanged(key: string): void {
    this.changed.add(key);
  }

  /** `{"<key>":<entry>,...}` for the entries as they are now. */
  text(): string {
    for (const key of this.changed) {
      const value = this.entry(key);
      if (value === undefined) this.texts.delete(key);
      // Without a replacer unless the entry holds a bigint: a replacer made this most of a cycle's CPU.
      else this.texts.set(key, `${JSON.stringify(key)}:${stringify(value)}`);
    }
    this.changed.clear();
    return `{${[...this.texts.values()].join(',')}}`;
  }
}
