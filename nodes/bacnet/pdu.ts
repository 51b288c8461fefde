/**
 * BACnet/IP framing: the BVLC header (Annex J), the NPDU (clause 6) and the fixed part of each APDU type
 * (clause 20.1), parsed with bounds checks, and the framing of what the device sends. A datagram that does not
 * parse is `undefined`, never an exception.
 */
import { Writer } from './codec';

export const Bvlc = {
  RESULT: 0x00,
  FORWARDED_NPDU: 0x04,
  REGISTER_FOREIGN_DEVICE: 0x05,
  DISTRIBUTE_BROADCAST_TO_NETWORK: 0x09,
  ORIGINAL_UNICAST_NPDU: 0x0a,
  ORIGINAL_BROADCAST_NPDU: 0x0b,
} as const;

export const Pdu = {
  CONFIRMED_REQUEST: 0,
  UNCONFIRMED_REQUEST: 1,
  SIMPLE_ACK: 2,
  COMPLEX_ACK: 3,
  SEGMENT_ACK: 4,
  ERROR: 5,
  REJECT: 6,
  ABORT: 7,
} as const;

export const Service = {
  ACKNOWLEDGE_ALARM: 0,
  CONFIRMED_COV_NOTIFICATION: 1,
  CONFIRMED_EVENT_NOTIFICATION: 2,
  GET_ALARM_SUMMARY: 3,
  SUBSCRIBE_COV: 5,
  ADD_LIST_ELEMENT: 8,
  REMOVE_LIST_ELEMENT: 9,
  READ_PROPERTY: 12,
  READ_PROPERTY_MULTIPLE: 14,
  WRITE_PROPERTY: 15,
  SUBSCRIBE_COV_PROPERTY: 28,
  GET_EVENT_INFORMATION: 29,
  // unconfirmed
  I_AM: 0,
  I_HAVE: 1,
  UNCONFIRMED_COV_NOTIFICATION: 2,
  UNCONFIRMED_EVENT_NOTIFICATION: 3,
  WHO_HAS: 7,
  WHO_IS: 8,
} as const;

export const AbortReason = {
  OTHER: 0,
  BUFFER_OVERFLOW: 1,
  SEGMENTATION_NOT_SUPPORTED: 4,
  OUT_OF_RESOURCES: 9,
  TSM_TIMEOUT: 10,
} as const;

/** A network address behind a router (SNET/SADR of a request, DNET/DADR of the answer). */
export interface RemoteStation {
  net: number;
  adr: number[];
}

export interface Datagram {
  bvlcFunction: number;
  /** Set for a Forwarded-NPDU: the originating station "a.b.c.d:port" (answers go there directly). */
  forwardedFrom?: string;
  expectingReply: boolean;
  source?: RemoteStation;
  /** Offset of the APDU's first octet. */
  apdu: number;
  pduType: number;
}

/** Where an answer goes: the UDP address and, for a station behind a router, its network address. */
export interface Peer {
  host: string;
  port: number;
  station?: RemoteStation;
}

export function peerKey(peer: Peer): string {
  return peer.station
    ? `${peer.host}:${peer.port}/${peer.station.net}:${peer.station.adr.join('.')}`
    : `${peer.host}:${peer.port}`;
}

/** Parses the BVLC and NPDU; undefined for anything not an application message for this device. */
export function parseDatagram(buf: Buffer): Datagram | undefined {
  if (buf.length < 6 || buf[0] !== 0x81) return undefined;
  const length = buf.readUInt16BE(2);
  if (length !== buf.length) return undefined;
  const func = buf[1] as number;
  let offset = 4;
  let forwardedFrom: string | undefined;
  if (func === Bvlc.FORWARDED_NPDU) {
    if (buf.length < 12) return undefined;
    forwardedFrom = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}:${buf.readUInt16BE(8)}`;
    offset = 10;
  } else if (func !== Bvlc.ORIGINAL_UNICAST_NPDU && func !== Bvlc.ORIGINAL_BROADCAST_NPDU) {
    return undefined;
  }
  // NPDU: version, control, [DNET DLEN DADR], [SNET SLEN SADR], [hop count]
  if (buf[offset] !== 0x01 || offset + 2 > buf.length) return undefined;
  const control = buf[offset + 1] as number;
  offset += 2;
  if (control & 0x80) return undefined; // network layer message: for routers, not for a device
  let destinationNet: number | undefined;
  if (control & 0x20) {
    if (offset + 3 > buf.length) return undefined;
    destinationNet = buf.readUInt16BE(offset);
    const dlen = buf[offset + 2] as number;
    offset += 3 + dlen;
  }
  let source: RemoteStation | undefined;
  if (control & 0x08) {
    if (offset + 3 > buf.length) return undefined;
    const net = buf.readUInt16BE(offset);
    const slen = buf[offset + 2] as number;
    if (slen === 0 || net === 0 || net === 0xffff || offset + 3 + slen > buf.length) return undefined;
    source = { net, adr: [...buf.subarray(offset + 3, offset + 3 + slen)] };
    offset += 3 + slen;
  }
  if (control & 0x20) offset += 1; // hop count
  // A message routed to a remote network is not for us; a global broadcast (0xFFFF) is.
  if (destinationNet !== undefined && destinationNet !== 0xffff) return undefined;
  if (offset >= buf.length) return undefined;
  const datagram: Datagram = {
    bvlcFunction: func,
    expectingReply: (control & 0x04) !== 0,
    apdu: offset,
    pduType: (buf[offset] as number) >> 4,
  };
  if (forwardedFrom) datagram.forwardedFrom = forwardedFrom;
  if (source) datagram.source = source;
  return datagram;
}

/**
 * Starts a datagram to `peer` in `w`: the BVLC header (length set by `finishFrame`) and the NPDU. A broadcast
 * (`bvlc` Original-Broadcast, or Distribute-Broadcast-To-Network through a BBMD) has no peer.
 */
export function beginFrame(
  w: Writer,
  peer: Peer | undefined,
  expectingReply = false,
  bvlc: number = Bvlc.ORIGINAL_UNICAST_NPDU,
): void {
  w.reset();
  w.u8(0x81);
  w.u8(bvlc);
  w.u16(0); // length, set by finishFrame
  w.u8(0x01);
  const station = peer?.station;
  w.u8((station ? 0x20 : 0) | (expectingReply ? 0x04 : 0));
  if (station) {
    w.u16(station.net);
    w.u8(station.adr.length);
    for (const octet of station.adr) w.u8(octet);
    w.u8(0xff); // hop count
  }
}

/** Patches the BVLC length and returns the finished datagram (a copy: the writer can be reused at once). */
export function finishFrame(w: Writer): Buffer {
  w.buf.writeUInt16BE(w.pos, 2);
  return w.take();
}

/** Patches the BVLC length and returns the finished datagram in the writer's own octets (not a copy). */
export function finishFrameInPlace(w: Writer): Buffer {
  w.buf.writeUInt16BE(w.pos, 2);
  return w.buf.subarray(0, w.pos);
}

/** The max-APDU-length-accepted code of a confirmed request, in octets. */
const MAX_APDU_OCTETS: readonly number[] = [50, 128, 206, 480, 1024, 1476];
const MAX_SEGMENTS: readonly number[] = [64, 2, 4, 8, 16, 32, 64, 255];

export function maxApduOctets(code: number): number {
  return MAX_APDU_OCTETS[code] ?? 1476;
}

/** The max-segments-accepted code of a confirmed request (0 unspecified: taken as 64; 7: more than 64). */
export function maxSegmentsCount(code: number): number {
  return MAX_SEGMENTS[code & 0x07] as number;
}

export interface ConfirmedHeader {
  segmented: boolean;
  segmentedResponseAccepted: boolean;
  maxSegments: number;
  maxApdu: number;
  invokeId: number;
  service: number;
  /** Offset of the service request's first octet. */
  body: number;
}

export function parseConfirmed(buf: Buffer, apdu: number): ConfirmedHeader | undefined {
  if (apdu + 4 > buf.length) return undefined;
  const first = buf[apdu] as number;
  const segmented = (first & 0x08) !== 0;
  const second = buf[apdu + 1] as number;
  const headerLength = segmented ? 6 : 4;
  if (apdu + headerLength > buf.length) return undefined;
  return {
    segmented,
    segmentedResponseAccepted: (first & 0x02) !== 0,
    maxSegments: maxSegmentsCount((second >> 4) & 0x07),
    maxApdu: maxApduOctets(second & 0x0f),
    invokeId: buf[apdu + 2] as number,
    service: buf[apdu + headerLength - 1] as number,
    body: apdu + headerLength,
  };
}
