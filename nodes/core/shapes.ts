/**
 * Building objects so that V8 keeps their shapes (hidden classes) shared. An object's shape is its keys in
 * order; objects that share one take no extra memory for it and are fast to read. Two ways of building
 * objects give every object a shape of its own instead (about 300 bytes more each, and slower access for
 * whatever reads them), and on a site of thousands of meters both cost megabytes of live heap:
 *
 * - An object literal that begins with a spread (`{ ...reading, delta }`): Node 20's V8 makes a new shape for
 *   each such copy (Node 22's does not). `extend` and `copy` build the same object with shared shapes.
 * - Many small objects keyed by ids (a meter id each): every new key is a transition from the empty object's
 *   shape, which keeps at most 1,536; once they are full, every object in the process that is built key by
 *   key gets a shape of its own. `idRecord` builds a record without a prototype, which is a dictionary from
 *   the start and makes no transitions (JSON.stringify writes it like any other object).
 */

/** The type a spread gives: a plain object type, which (unlike an interface) fits `Record<string, unknown>`. */
export type Plain<T> = { [K in keyof T]: T[K] };

/** `{ ...base, ...extra }`, keys in the same order, with a shared shape. */
export function extend<T extends object, U extends object>(base: T, extra: U): Plain<Omit<T, keyof U> & U> {
  return Object.assign({}, base, extra);
}

/** `{ ...base }` with a shared shape. */
export function copy<T extends object>(base: T): Plain<T> {
  return Object.assign({}, base);
}

/** A record keyed by ids, for JSON. */
export function idRecord<V>(entries: Iterable<readonly [string, V]>): Record<string, V> {
  const record = Object.create(null) as Record<string, V>;
  for (const [key, value] of entries) record[key] = value;
  return record;
}
