/**
 * Seals: HMAC-SHA256 under a secret the database never holds. The hash chain alone shows that rows
 * were changed only to someone who cannot recompute it, and anyone who can write the database can;
 * a seal cannot be made without the key. The store seals each entry's hash as it writes it, and each
 * checkpoint line is sealed the same way (see checkpoint.ts).
 *
 * A keyring holds the key that seals now and the keys that only verify (the previous key, during a
 * rotation). Seals say nothing of which key made them: a seal is valid when any key of the ring made it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Shortest key accepted: 32 characters (`openssl rand -hex 32` gives 64). */
export const MIN_KEY_LENGTH = 32;

export interface SealKey {
  /** A short public name of the key (a hash of it), recorded with each checkpoint. */
  readonly id: string;
  readonly secret: Buffer;
}

/** A key from its text; refuses one too short to resist guessing, naming `field`. */
export function sealKey(text: string, field: string): SealKey {
  if (text.length < MIN_KEY_LENGTH)
    throw new RangeError(
      `${field}: must be at least ${MIN_KEY_LENGTH} characters (generate one with "openssl rand -hex 32")`,
    );
  return {
    id: createHash('sha256').update(`prepay-ledger/key-id/${text}`).digest('hex').slice(0, 12),
    secret: Buffer.from(text, 'utf8'),
  };
}

/** An entry's seal: 128 bits of HMAC-SHA256 over its hash (which covers its content and its place). */
function entrySeal(key: SealKey, hash: string): string {
  return createHmac('sha256', key.secret).update(`prepay-ledger/entry/${hash}`).digest('hex').slice(0, 32);
}

function lineSeal(key: SealKey, body: string): string {
  return createHmac('sha256', key.secret).update(`prepay-ledger/checkpoint/${body}`).digest('hex');
}

function same(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export class Keyring {
  readonly all: SealKey[];

  /** `current` seals (and verifies); `previous` keys only verify. */
  constructor(
    readonly current: SealKey | undefined,
    previous: SealKey[] = [],
  ) {
    this.all = [...(current ? [current] : []), ...previous.filter((k) => k.id !== current?.id)];
  }

  get empty(): boolean {
    return this.all.length === 0;
  }

  /** The seal of an entry hash under the current key, or undefined when there is none. */
  sealEntry(hash: string): string | undefined {
    return this.current ? entrySeal(this.current, hash) : undefined;
  }

  entrySealValid(hash: string, seal: string): boolean {
    return this.all.some((key) => same(entrySeal(key, hash), seal));
  }

  /** A checkpoint line's seal under the current key. */
  sealLine(body: string): string | undefined {
    return this.current ? lineSeal(this.current, body) : undefined;
  }

  /** Whether key `keyId` sealed this line; undefined when the ring does not hold that key. */
  lineSealValid(keyId: string, body: string, seal: string): boolean | undefined {
    const key = this.all.find((k) => k.id === keyId);
    return key ? same(lineSeal(key, body), seal) : undefined;
  }
}
