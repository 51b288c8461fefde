/**
 * A small Modbus TCP server: MBAP framing, function codes 1, 2, 3, 4, 5, 6, 15 and 16, one device per unit
 * id behind it as a gateway would have. Written here rather than taken from a library because the
 * simulator must misbehave on demand: a unit that stays silent, answers with an exception, or answers late.
 */
import { createServer, type Server, type Socket } from 'node:net';

export const EXCEPTION = {
  ILLEGAL_FUNCTION: 1,
  ILLEGAL_DATA_ADDRESS: 2,
  ILLEGAL_DATA_VALUE: 3,
  SERVER_DEVICE_FAILURE: 4,
  GATEWAY_TARGET_FAILED: 11,
} as const;

/** A Modbus device behind the server. Returning a number from a method answers with that exception code. */
export interface ModbusDevice {
  readRegisters(fn: 3 | 4, address: number, length: number): number[] | number;
  readBits(fn: 1 | 2, address: number, length: number): number[] | number;
  writeRegisters(address: number, values: number[]): number | void;
  writeCoils(address: number, values: number[]): number | void;
}

export type UnitFault =
  { kind: 'silent' } | { kind: 'exception'; code: number } | { kind: 'delay'; ms: number };

export interface ModbusTcpServerOptions {
  host?: string;
  port?: number;
  device: (unitId: number) => ModbusDevice | undefined;
}

export interface ServerStats {
  requests: number;
  byFunction: Record<number, number>;
  connections: number;
}

export class ModbusTcpServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly faults = new Map<number, UnitFault>();
  private boundPort = 0;
  readonly stats: ServerStats = { requests: 0, byFunction: {}, connections: 0 };

  constructor(private readonly options: ModbusTcpServerOptions) {}

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  /** Listens; a restart reuses the port it had. */
  async start(): Promise<number> {
    if (this.server) return this.boundPort;
    const server = createServer((socket) => this.accept(socket));
    const port = this.boundPort || this.options.port || 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.server = server;
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : port;
    return this.boundPort;
  }

  /** Stops listening and drops every connection, as a gateway losing power would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  setFault(unitId: number, fault: UnitFault | undefined): void {
    if (fault) this.faults.set(unitId, fault);
    else this.faults.delete(unitId);
  }

  private accept(socket: Socket): void {
    this.stats.connections += 1;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (buffer.length >= 8) {
        const length = buffer.readUInt16BE(4);
        if (length < 2 || length > 254 || buffer.readUInt16BE(2) !== 0) {
          // Not Modbus: a real device would drop the connection.
          socket.destroy();
          return;
        }
        if (buffer.length < 6 + length) break;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        this.handle(socket, frame);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(socket: Socket, frame: Buffer): void {
    const transaction = frame.readUInt16BE(0);
    const unitId = frame[6]!;
    const pdu = frame.subarray(7);
    const fn = pdu[0]!;
    this.stats.requests += 1;
    this.stats.byFunction[fn] = (this.stats.byFunction[fn] ?? 0) + 1;
    const fault = this.faults.get(unitId);
    const device = this.options.device(unitId);
    if (fault?.kind === 'silent' || !device) return;
    const reply = (body: Buffer): void => {
      const out = Buffer.alloc(7 + body.length);
      out.writeUInt16BE(transaction, 0);
      out.writeUInt16BE(0, 2);
      out.writeUInt16BE(body.length + 1, 4);
      out[6] = unitId;
      body.copy(out, 7);
      if (fault?.kind === 'delay') setTimeout(() => socket.writable && socket.write(out), fault.ms);
      else if (socket.writable) socket.write(out);
    };
    if (fault?.kind === 'exception') return reply(Buffer.from([fn | 0x80, fault.code]));
    reply(this.execute(device, fn, pdu));
  }

  private execute(device: ModbusDevice, fn: number, pdu: Buffer): Buffer {
    const exception = (code: number): Buffer => Buffer.from([fn | 0x80, code]);
    if (pdu.length < 5) return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
    const address = pdu.readUInt16BE(1);
    switch (fn) {
      case 1:
      case 2: {
        const count = pdu.readUInt16BE(3);
        if (count < 1 || count > 2000) return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
        if (address + count > 65536) return exception(EXCEPTION.ILLEGAL_DATA_ADDRESS);
        const bits = device.readBits(fn, address, count);
        if (typeof bits === 'number') return exception(bits);
        const bytes = Math.ceil(count / 8);
        const out = Buffer.alloc(2 + bytes);
        out[0] = fn;
        out[1] = bytes;
        for (let i = 0; i < count; i += 1) if (bits[i]) out[2 + (i >> 3)]! |= 1 << (i & 7);
        return out;
      }
      case 3:
      case 4: {
        const count = pdu.readUInt16BE(3);
        if (count < 1 || count > 125) return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
        if (address + count > 65536) return exception(EXCEPTION.ILLEGAL_DATA_ADDRESS);
        const words = device.readRegisters(fn, address, count);
        if (typeof words === 'number') return exception(words);
        const out = Buffer.alloc(2 + count * 2);
        out[0] = fn;
        out[1] = count * 2;
        for (let i = 0; i < count; i += 1) out.writeUInt16BE((words[i] ?? 0) & 0xffff, 2 + i * 2);
        return out;
      }
      case 5: {
        const raw = pdu.readUInt16BE(3);
        if (raw !== 0xff00 && raw !== 0) return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
        const result = device.writeCoils(address, [raw === 0xff00 ? 1 : 0]);
        return typeof result === 'number' ? exception(result) : Buffer.from(pdu.subarray(0, 5));
      }
      case 6: {
        const result = device.writeRegisters(address, [pdu.readUInt16BE(3)]);
        return typeof result === 'number' ? exception(result) : Buffer.from(pdu.subarray(0, 5));
      }
      case 15: {
        const count = pdu.readUInt16BE(3);
        const bytes = pdu[5] ?? 0;
        if (count < 1 || count > 1968 || bytes !== Math.ceil(count / 8) || pdu.length < 6 + bytes)
          return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
        const values: number[] = [];
        for (let i = 0; i < count; i += 1) values.push((pdu[6 + (i >> 3)]! >> (i & 7)) & 1);
        const result = device.writeCoils(address, values);
        return typeof result === 'number' ? exception(result) : Buffer.from(pdu.subarray(0, 5));
      }
      case 16: {
        const count = pdu.readUInt16BE(3);
        const bytes = pdu[5] ?? 0;
        if (count < 1 || count > 123 || bytes !== count * 2 || pdu.length < 6 + bytes)
          return exception(EXCEPTION.ILLEGAL_DATA_VALUE);
        const values: number[] = [];
        for (let i = 0; i < count; i += 1) values.push(pdu.readUInt16BE(6 + i * 2));
        const result = device.writeRegisters(address, values);
        return typeof result === 'number' ? exception(result) : Buffer.from(pdu.subarray(0, 5));
      }
      default:
        return exception(EXCEPTION.ILLEGAL_FUNCTION);
    }
  }
}
