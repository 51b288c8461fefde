/**
 * The one place that talks to modbus-serial. Everything above it sees a transport that reads and writes
 * words for a unit id and fails with one of three errors: the device said no (ModbusExceptionError), the
 * device said nothing (ModbusTimeoutError), or the link is gone (LinkDownError). A gateway answering
 * exception 10 or 11 (path unavailable, target device failed to respond) says the device behind it said
 * nothing: that is a GatewayNoAnswerError, a kind of timeout, not an answer of the device.
 */
import ModbusRTU from 'modbus-serial';

export type ReadCode = 1 | 2 | 3 | 4;
export type WriteCode = 5 | 6 | 15 | 16;

export interface TcpEndpoint {
  kind: 'tcp';
  host: string;
  port: number;
}

export interface SerialEndpoint {
  kind: 'rtu';
  path: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
}

export type Endpoint = TcpEndpoint | SerialEndpoint;

export interface ModbusTransport {
  readonly isOpen: boolean;
  connect(timeoutMs: number): Promise<void>;
  /** Registers as 16-bit words; coils and inputs as 0/1. */
  read(unitId: number, code: ReadCode, address: number, length: number, timeoutMs: number): Promise<number[]>;
  /**
   * The same read, its outcome handed to `done` in the turn the answer arrives (no promise between): the
   * link puts its next request on the wire from there. `done` is called once, never from within this call.
   */
  readThen(
    unitId: number,
    code: ReadCode,
    address: number,
    length: number,
    timeoutMs: number,
    done: ReadDone,
  ): void;
  write(unitId: number, code: WriteCode, address: number, values: number[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /** Called once when the connection drops after it was open. */
  onClose(listener: () => void): void;
}

/** A read's outcome: the error, or the words. */
export type ReadDone = (error: Error | undefined, words: number[] | undefined) => void;

export class ModbusExceptionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModbusExceptionError';
  }
}

export class ModbusTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModbusTimeoutError';
  }
}

/** A gateway's exception 10 or 11: the device behind it did not answer (the gateway did). */
export class GatewayNoAnswerError extends ModbusTimeoutError {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayNoAnswerError';
  }
}

/** The Modbus exception codes' names (Modbus Application Protocol v1.1b3, section 7). */
const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** "exception 2 (illegal data address)". */
export function describeException(code: number): string {
  const name = EXCEPTION_NAMES[code];
  return name ? `exception ${code} (${name})` : `exception ${code}`;
}

export class LinkDownError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkDownError';
  }
}

export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.kind === 'tcp'
    ? `${endpoint.host}:${endpoint.port}`
    : `${endpoint.path} ${endpoint.baudRate} ${endpoint.dataBits}${endpoint.parity[0]!.toUpperCase()}${endpoint.stopBits}`;
}

interface ModbusSerialError extends Error {
  modbusCode?: number;
  errno?: string;
}

/**
 * modbus-serial's private bookkeeping. Over TCP it files each request under its transaction id and never
 * removes it: the entry, with the closure that held its reply, lives until the id comes round again 256
 * requests later (on a site of 40 gateways, 10,240 old transactions and 12 MB of heap).
 */
interface ModbusSerialInternals {
  _port?: { _transactionIdWrite?: number };
  _transactions?: Record<string, unknown>;
}

/** The id the next request will be filed under. */
function nextTransactionId(client: ModbusRTU): number | undefined {
  return (client as unknown as ModbusSerialInternals)._port?._transactionIdWrite;
}

/**
 * Forgets an answered (or abandoned) transaction. Requests go out one at a time, so nothing else is filed
 * under that id; a late reply to it finds no transaction and is ignored, as it was after a timeout.
 */
function forgetTransaction(client: ModbusRTU, id: number | undefined): void {
  const transactions = (client as unknown as ModbusSerialInternals)._transactions;
  if (id !== undefined && transactions) delete transactions[id];
}

export class ModbusSerialTransport implements ModbusTransport {
  private client: ModbusRTU | undefined;
  private closeListener: (() => void) | undefined;

  constructor(private readonly endpoint: Endpoint) {}

  get isOpen(): boolean {
    return this.client?.isOpen === true;
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  async connect(timeoutMs: number): Promise<void> {
    await this.close();
    const client = new ModbusRTU();
    this.client = client;
    const endpoint = this.endpoint;
    const opening =
      endpoint.kind === 'tcp'
        ? client.connectTCP(endpoint.host, { port: endpoint.port })
        : client.connectRTUBuffered(endpoint.path, {
            baudRate: endpoint.baudRate,
            parity: endpoint.parity,
            dataBits: endpoint.dataBits,
            stopBits: endpoint.stopBits,
          });
    // connectTCP waits for the operating system's own connect timeout (minutes) when packets are dropped.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opening,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new LinkDownError(`no connection to ${describeEndpoint(endpoint)} within ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      this.client = undefined;
      destroyQuietly(client);
      if (error instanceof LinkDownError) throw error;
      throw new LinkDownError(`cannot connect to ${describeEndpoint(endpoint)}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    // A socket error after the connection is up arrives as 'error' then 'close'; without a listener the
    // error event would end the process.
    client.on('error', () => undefined);
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.closeListener?.();
    });
  }

  read(
    unitId: number,
    code: ReadCode,
    address: number,
    length: number,
    timeoutMs: number,
  ): Promise<number[]> {
    return new Promise((resolve, reject) =>
      this.readThen(unitId, code, address, length, timeoutMs, (error, words) =>
        error ? reject(error) : resolve(words!),
      ),
    );
  }

  readThen(
    unitId: number,
    code: ReadCode,
    address: number,
    length: number,
    timeoutMs: number,
    done: ReadDone,
  ): void {
    let client: ModbusRTU;
    try {
      client = this.ready(unitId, timeoutMs);
    } catch (error) {
      queueMicrotask(() => done(error as Error, undefined));
      return;
    }
    const transaction = nextTransactionId(client);
    // modbus-serial's callback API: the answer comes to `answered` from the socket's data event, where the
    // promise API would add a turn of the microtask queue per request.
    let inCall = true;
    let settled = false;
    const answered = (error: Error | null, result: { data: number[] | boolean[] }): void => {
      if (settled) return;
      settled = true;
      forgetTransaction(client, transaction);
      const outcome = error
        ? this.translate(
            error as ModbusSerialError,
            unitId,
            `read of ${length} from ${address} (function ${code})`,
          )
        : undefined;
      const words =
        outcome || !result
          ? undefined
          : code <= 2
            ? bitsToNumbers(result.data as boolean[], length)
            : (result.data as number[]);
      if (inCall) queueMicrotask(() => done(outcome, words));
      else done(outcome, words);
    };
    try {
      switch (code) {
        case 1:
          client.writeFC1(unitId, address, length, answered);
          break;
        case 2:
          client.writeFC2(unitId, address, length, answered);
          break;
        case 3:
          client.writeFC3(unitId, address, length, answered);
          break;
        case 4:
          client.writeFC4(unitId, address, length, answered);
          break;
      }
    } catch (error) {
      answered(error as Error, { data: [] });
    } finally {
      inCall = false;
    }
  }

  async write(
    unitId: number,
    code: WriteCode,
    address: number,
    values: number[],
    timeoutMs: number,
  ): Promise<void> {
    const client = this.ready(unitId, timeoutMs);
    const transaction = nextTransactionId(client);
    try {
      switch (code) {
        case 5:
          await client.writeCoil(address, values[0] !== 0);
          return;
        case 15:
          await client.writeCoils(
            address,
            values.map((value) => value !== 0),
          );
          return;
        case 6:
          await client.writeRegister(address, values[0] ?? 0);
          return;
        case 16:
          await client.writeRegisters(address, values);
          return;
      }
    } catch (error) {
      throw this.translate(error as ModbusSerialError, unitId, `write to ${address} (function ${code})`);
    } finally {
      forgetTransaction(client, transaction);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 500);
      try {
        client.close(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    destroyQuietly(client);
  }

  private ready(unitId: number, timeoutMs: number): ModbusRTU {
    const client = this.client;
    if (!client || !client.isOpen)
      throw new LinkDownError(`link to ${describeEndpoint(this.endpoint)} is not open`);
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    return client;
  }

  private translate(error: ModbusSerialError, unitId: number, what: string): Error {
    const where = `unit ${unitId} at ${describeEndpoint(this.endpoint)}`;
    if (error.modbusCode === 10 || error.modbusCode === 11) {
      return new GatewayNoAnswerError(
        error.modbusCode,
        `${where} did not answer the ${what}: the gateway answered for it with ${describeException(error.modbusCode)}`,
      );
    }
    if (typeof error.modbusCode === 'number') {
      return new ModbusExceptionError(error.modbusCode, `${where} refused the ${what}: ${error.message}`);
    }
    if (error.name === 'TransactionTimedOutError' || error.errno === 'ETIMEDOUT') {
      return new ModbusTimeoutError(`${where} did not answer the ${what} in time`);
    }
    if (error.name === 'PortNotOpenError' || !this.isOpen) {
      return new LinkDownError(`link to ${describeEndpoint(this.endpoint)} dropped during the ${what}`);
    }
    // Garbled or mismatched replies ("expected address 3 got 4", bad CRC): the device answered wrongly.
    return new ModbusTimeoutError(`${where} gave no valid answer to the ${what}: ${error.message}`);
  }
}

function bitsToNumbers(bits: boolean[], length: number): number[] {
  const out = new Array<number>(length);
  for (let i = 0; i < length; i += 1) out[i] = bits[i] ? 1 : 0;
  return out;
}

function destroyQuietly(client: ModbusRTU): void {
  try {
    client.destroy(() => undefined);
  } catch {
    // already gone
  }
}
