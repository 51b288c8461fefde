/**
 * The answers a BEMS polls over and over, kept flat: one fixed-size region per object in one buffer, named by a
 * slot in the object itself. A ReadPropertyMultiple of 20 objects out of 18,000 then
 * touches, per object, the object itself (for its version) and one region, instead of a chain of small heap
 * objects and buffers scattered over a heap of tens of megabytes: with that many objects the reads were bound by
 * memory, not by the work (the same read of 20 of 180 objects cost two thirds as much).
 *
 * A region holds the whole ReadPropertyMultiple answer for the object's last list of one or two properties, and
 * the encoded value of its last ReadProperty, each with the object's version when it was made: a change moves the
 * version, so an answer is never served for a state it was not made from. Answers too long for a region are left
 * to the caller's other caches.
 *
 * The object carries its region number (its `answerSlot`, tagged with the table's own number), so a poll goes from
 * the object straight to its region: after the object itself, one run of octets, not two more lookups in arrays of
 * 18,000 entries each (at one request at a time, each such look is a cache miss, and the reads are bound by them).
 * The index by type and instance is only used to find an object's region the first time.
 */
import type { BacnetObject } from '../core/bacnet/points';
import { viewOf, type Writer } from './codec';

/**
 * Octets per object: the ReadPropertyMultiple answer after its 4-word header, then the ReadProperty value after
 * its 3-word header; each header beside its octets, so that a poll of either reads one short run.
 */
const REGION = 96;
const WORDS = REGION / 4;
const RPM_AT = 16;
export const RPM_MAX = 48;
const RP_HEAD = RPM_AT + RPM_MAX;
const RP_AT = RP_HEAD + 12;
export const RP_MAX = REGION - RP_AT;
/** Header words: [0] version, [1] [2] property ids, [3] length + 1 (0: none) of the ReadPropertyMultiple answer;
 * [16] version, [17] property id, [18] length + 1 of the ReadProperty value. */
const RPM_VERSION = 0;
const RPM_FIRST = 1;
const RPM_SECOND = 2;
const RPM_LENGTH = 3;
const RP_VERSION = RP_HEAD / 4;
const RP_PROPERTY = RP_VERSION + 1;
const RP_LENGTH = RP_VERSION + 2;
/** Instances at or above this (a device numbered in the millions) are not kept: their index would be too large. */
const MAX_INSTANCE = 1 << 20;
const MAX_TYPE = 1024;
/**
 * An object's `answerSlot` is its region * TAGS + the table's tag (1 to TAGS - 1), a small integer: a slot set by
 * another table never matches. Tables made after the tags run out (thousands of device restarts in one process)
 * tag nothing and find regions through the index, as regions too many to tag are.
 */
const TAG_BITS = 12;
const TAGS = 1 << TAG_BITS;
const MAX_TAGGED_REGION = 2 ** (31 - TAG_BITS);
let lastTag = 0;

function isInt32(value: number): boolean {
  return (value | 0) === value;
}

export class AnswerTable {
  private bytes: Buffer;
  private words: Int32Array;
  /** `bytes` for copying answers out four octets at a time. */
  private view: DataView;
  /** The object each region belongs to: an object replaced under the same identifier starts afresh. */
  private readonly objects: BacnetObject[] = [];
  /** Per object type: region number + 1 by instance (0: none yet). */
  private readonly index: Array<Int32Array | undefined> = [];
  /** This table's tag in its objects' `answerSlot`; -1 (matching none) when the tags have run out. */
  private readonly tag: number;

  constructor(capacity = 1024) {
    this.tag = lastTag < TAGS - 1 ? ++lastTag : -1;
    this.bytes = Buffer.alloc(capacity * REGION);
    this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, capacity * WORDS);
    this.view = viewOf(this.bytes);
  }

  /** The object's region, made on first use; -1 for an object not kept here. */
  region(object: BacnetObject): number {
    const slot = object.answerSlot;
    if ((slot & (TAGS - 1)) === this.tag) return slot >>> TAG_BITS;
    return this.find(object);
  }

  /** The region of an object that does not carry it: found (or made) through the index, and tagged on the object. */
  private find(object: BacnetObject): number {
    const type = object.type;
    const instance = object.instance;
    if (instance >= MAX_INSTANCE || type >= MAX_TYPE) return -1;
    let byInstance = this.index[type];
    if (!byInstance || instance >= byInstance.length) byInstance = this.growIndex(type, instance);
    let region = (byInstance[instance] as number) - 1;
    if (region < 0) {
      region = this.objects.length;
      this.objects.push(object);
      if ((region + 1) * REGION > this.bytes.length) this.grow();
      byInstance[instance] = region + 1;
    } else {
      const before = this.objects[region] as BacnetObject;
      if (before !== object) {
        // An object replaced under the same identifier (or another model's, served by the same table) starts
        // afresh, and the one before no longer leads here.
        if (before.answerSlot === this.slotOf(region)) before.answerSlot = 0;
        this.objects[region] = object;
        this.words.fill(0, region * WORDS, region * WORDS + WORDS);
      }
    }
    if (this.tag > 0 && region < MAX_TAGGED_REGION) object.answerSlot = this.slotOf(region);
    return region;
  }

  private slotOf(region: number): number {
    return region * TAGS + this.tag;
  }

  /** Writes the kept ReadPropertyMultiple answer for these properties; false when there is none for `version`. */
  writeRpm(w: Writer, region: number, version: number, first: number, second: number): boolean {
    const words = this.words;
    const h = region * WORDS;
    const length = (words[h + RPM_LENGTH] as number) - 1;
    if (length < 0 || words[h + RPM_VERSION] !== version) return false;
    if (words[h + RPM_FIRST] !== first || words[h + RPM_SECOND] !== second) return false;
    const at = region * REGION + RPM_AT;
    w.copy(this.view, at, at + length);
    return true;
  }

  /** Keeps `source[start, end)` as the answer for these properties; false when it does not fit. */
  keepRpm(
    region: number,
    version: number,
    first: number,
    second: number,
    source: Buffer,
    start: number,
    end: number,
  ): boolean {
    const length = end - start;
    if (length > RPM_MAX || !isInt32(version)) return false;
    const h = region * WORDS;
    source.copy(this.bytes, region * REGION + RPM_AT, start, end);
    this.words[h + RPM_VERSION] = version;
    this.words[h + RPM_FIRST] = first;
    this.words[h + RPM_SECOND] = second;
    this.words[h + RPM_LENGTH] = length + 1;
    return true;
  }

  /** Writes the kept encoded value of `property`; false when there is none for `version`. */
  writeRp(w: Writer, region: number, version: number, property: number): boolean {
    const words = this.words;
    const h = region * WORDS;
    const length = (words[h + RP_LENGTH] as number) - 1;
    if (length < 0 || words[h + RP_VERSION] !== version || words[h + RP_PROPERTY] !== property) return false;
    const at = region * REGION + RP_AT;
    w.copy(this.view, at, at + length);
    return true;
  }

  keepRp(region: number, version: number, property: number, value: Buffer): void {
    if (value.length > RP_MAX || !isInt32(version)) return;
    const h = region * WORDS;
    value.copy(this.bytes, region * REGION + RP_AT);
    this.words[h + RP_VERSION] = version;
    this.words[h + RP_PROPERTY] = property;
    this.words[h + RP_LENGTH] = value.length + 1;
  }

  private growIndex(type: number, instance: number): Int32Array {
    const old = this.index[type];
    let size = old ? old.length : 64;
    while (size <= instance) size *= 2;
    const next = new Int32Array(Math.min(size, MAX_INSTANCE));
    if (old) next.set(old);
    this.index[type] = next;
    return next;
  }

  private grow(): void {
    const bytes = Buffer.alloc(this.bytes.length * 2);
    this.bytes.copy(bytes);
    this.bytes = bytes;
    this.words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    this.view = viewOf(bytes);
  }
}
