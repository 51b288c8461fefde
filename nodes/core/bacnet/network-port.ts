/**
 * The Network Port object (ASHRAE 135 clause 12.56, required from protocol revision 17): the device's one
 * BACnet/IP port, read-only. The protocol layer tells it the address it is bound to once the socket listens.
 */
import { ObjectType, PropertyId as P, Reliability } from './constants';
import { arrayRead, NOT_AN_ARRAY, UNKNOWN_PROPERTY, type ReadResult } from './properties';

/** BACnetNetworkType ipv4, BACnetProtocolLevel bacnet-application, BACnetIPMode. */
const NETWORK_TYPE_IPV4 = 5;
const PROTOCOL_LEVEL_BACNET_APPLICATION = 2;
const IP_MODE_NORMAL = 0;
const IP_MODE_FOREIGN = 1;

export interface PortBinding {
  /** The device's IPv4 address on its network (not 0.0.0.0), its UDP port and the network's mask. */
  address: string;
  port: number;
  mask: string;
  /** Registered as a foreign device with this BBMD. */
  foreignDevice?: { host: string; port: number; ttlSeconds: number };
}

function octets(address: string): number[] {
  return address.split('.').map((o) => Number(o) & 0xff);
}

const REQUIRED = [
  P.OBJECT_IDENTIFIER,
  P.OBJECT_NAME,
  P.OBJECT_TYPE,
  P.STATUS_FLAGS,
  P.RELIABILITY,
  P.OUT_OF_SERVICE,
  P.NETWORK_TYPE,
  P.PROTOCOL_LEVEL,
  P.NETWORK_NUMBER,
  P.NETWORK_NUMBER_QUALITY,
  P.CHANGES_PENDING,
  P.APDU_LENGTH,
  P.LINK_SPEED,
  P.PROPERTY_LIST,
  P.MAC_ADDRESS,
  P.BACNET_IP_MODE,
  P.IP_ADDRESS,
  P.BACNET_IP_UDP_PORT,
  P.IP_SUBNET_MASK,
  P.IP_DEFAULT_GATEWAY,
  P.IP_DNS_SERVER,
];
const FOREIGN = [P.FD_BBMD_ADDRESS, P.FD_SUBSCRIPTION_LIFETIME];
const OPTIONAL = [P.DESCRIPTION];
const UNLISTED = new Set<number>([P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.PROPERTY_LIST]);

export class NetworkPortObject {
  readonly type = ObjectType.NETWORK_PORT;
  readonly instance = 1;
  readonly name: string;
  readonly supportsCov = false;
  version = 1;
  encodings: unknown = undefined;
  answerSlot = 0;
  private binding: PortBinding = { address: '0.0.0.0', port: 47808, mask: '0.0.0.0' };

  constructor(
    deviceName: string,
    private readonly maxApdu: number,
  ) {
    this.name = `${deviceName}.BACnetIP`;
  }

  /** The socket is bound: the port reads this address from now on. */
  bind(binding: PortBinding): void {
    this.binding = binding;
    this.version += 1;
  }

  private required(): number[] {
    return this.binding.foreignDevice ? [...REQUIRED, ...FOREIGN] : REQUIRED;
  }

  propertyIds(which: 'all' | 'required' | 'optional'): readonly number[] {
    if (which === 'required') return this.required();
    if (which === 'optional') return OPTIONAL;
    return [...this.required(), ...OPTIONAL];
  }

  isVolatile(): boolean {
    return false;
  }

  read(property: number, index?: number): ReadResult {
    const all = this.propertyIds('all');
    if (!all.includes(property)) return UNKNOWN_PROPERTY;
    const b = this.binding;
    if (property === P.PROPERTY_LIST)
      return arrayRead(
        all.filter((p) => !UNLISTED.has(p)).map((v) => ({ t: 'enum', v })),
        index,
      );
    if (property === P.IP_DNS_SERVER) return arrayRead([], index);
    if (index !== undefined) return NOT_AN_ARRAY;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { t: 'oid', type: this.type, instance: this.instance };
      case P.OBJECT_NAME:
        return { t: 'string', v: this.name };
      case P.OBJECT_TYPE:
        return { t: 'enum', v: this.type };
      case P.DESCRIPTION:
        return { t: 'string', v: 'BACnet/IP' };
      case P.STATUS_FLAGS:
        return { t: 'bits', length: 4, set: [] };
      case P.RELIABILITY:
        return { t: 'enum', v: Reliability.NO_FAULT_DETECTED };
      case P.OUT_OF_SERVICE:
      case P.CHANGES_PENDING:
        return { t: 'bool', v: false };
      case P.NETWORK_TYPE:
        return { t: 'enum', v: NETWORK_TYPE_IPV4 };
      case P.PROTOCOL_LEVEL:
        return { t: 'enum', v: PROTOCOL_LEVEL_BACNET_APPLICATION };
      case P.NETWORK_NUMBER:
        return { t: 'unsigned', v: 0 };
      case P.NETWORK_NUMBER_QUALITY:
        return { t: 'enum', v: 0 }; // unknown: the device is no router and learns no number
      case P.APDU_LENGTH:
        return { t: 'unsigned', v: this.maxApdu };
      case P.LINK_SPEED:
        return { t: 'real', v: 0 }; // unknown
      case P.MAC_ADDRESS:
        return { t: 'octets', v: [...octets(b.address), b.port >> 8, b.port & 0xff] };
      case P.BACNET_IP_MODE:
        return { t: 'enum', v: b.foreignDevice ? IP_MODE_FOREIGN : IP_MODE_NORMAL };
      case P.IP_ADDRESS:
        return { t: 'octets', v: octets(b.address) };
      case P.BACNET_IP_UDP_PORT:
        return { t: 'unsigned', v: b.port };
      case P.IP_SUBNET_MASK:
        return { t: 'octets', v: octets(b.mask) };
      case P.IP_DEFAULT_GATEWAY:
        return { t: 'octets', v: [0, 0, 0, 0] }; // not known to the device
      case P.FD_BBMD_ADDRESS:
        return b.foreignDevice
          ? { t: 'host-n-port', host: octets(b.foreignDevice.host), port: b.foreignDevice.port }
          : UNKNOWN_PROPERTY;
      case P.FD_SUBSCRIPTION_LIFETIME:
        return { t: 'unsigned', v: b.foreignDevice?.ttlSeconds ?? 0 };
    }
    return UNKNOWN_PROPERTY;
  }
}
