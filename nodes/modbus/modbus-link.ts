/**
 * One Modbus link (a TCP gateway or a serial line) shared by every node that uses it. Requests go out one
 * at a time: gateways that bridge to RS-485 serve one request at a time anyway, and several outstanding
 * requests to different unit ids are what makes replies get matched to the wrong request. Writes (relay
 * commands) overtake queued reads.
 *
 * A dead link reconnects in the background with exponential backoff; while it is down requests fail at
 * once instead of each waiting for a timeout. A unit that times out (after its retries) is backed off at once
 * (probed again after 30 s, then 1 min, 2 min... up to 10 min), so one silent meter costs one timeout and its
 * retries, not a timeout per value in every poll cycle.
 */
import { EventEmitter } from 'node:events';
import {
  LinkDownError,
  ModbusExceptionError,
  ModbusTimeoutError,
  describeEndpoint,
  type Endpoint,
  type ModbusTransport,
  type ReadCode,
  type WriteCode,
} from './transport';

export interface LinkOptions {
  /** Request timeout, ms. */
  timeoutMs: number;
  /** Silence after each request before the next, ms (serial lines and slow gateways). */
  pauseMs: number;
  /**
   * Extra attempts after a timeout (never after an exception: the device answered). A gateway's exception 10
   * or 11 counts as a timeout: the device behind it did not answer.
   */
  retries: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Consecutive timed-out requests (each after its retries) before a unit is backed off. */
  deadAfter: number;
  deadBackoffMinMs: number;
  deadBackoffMaxMs: number;
}

export const DEFAULT_LINK_OPTIONS: LinkOptions = {
  timeoutMs: 1000,
  pauseMs: 0,
  retries: 1,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  deadAfter: 1,
  deadBackoffMinMs: 30_000,
  deadBackoffMaxMs: 600_000,
};

export class UnitBackoffError extends Error {
  constructor(
    readonly unitId: number,
    readonly retryAt: number,
    message: string,
  ) {
    super(message);
    this.name = 'UnitBackoffError';
  }
}

export type LinkState = 'connecting' | 'connected' | 'down' | 'closed';

export interface LinkStats {
  state: LinkState;
  requests: number;
  failures: number;
  timeouts: number;
  exceptions: number;
  reconnects: number;
  queued: number;
  deadUnits: number[];
  lastError?: string;
}

interface UnitHealth {
  timeouts: number;
  backoffMs: number;
  retryAt: number;
  /** Why it was backed off (the last timeout's message). */
  reason: string;
}

/** How a request hands its outcome on (in the turn its answer arrives, for reads). */
type Outcome = (error: Error | undefined, value: unknown) => void;

interface Job {
  start: (outcome: Outcome) => void;
  unitId: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class ModbusLink extends EventEmitter {
  readonly options: LinkOptions;
  private state: LinkState = 'down';
  private readonly high: Job[] = [];
  private readonly normal: Job[] = [];
  private busy = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private connecting: Promise<void> | undefined;
  private readonly units = new Map<number, UnitHealth>();
  private readonly counters = { requests: 0, failures: 0, timeouts: 0, exceptions: 0, reconnects: 0 };
  private lastError: string | undefined;
  private users = 0;

  constructor(
    readonly endpoint: Endpoint,
    private readonly transport: ModbusTransport,
    options: Partial<LinkOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.options = { ...DEFAULT_LINK_OPTIONS, ...options };
    this.reconnectDelay = this.options.reconnectMinMs;
    transport.onClose(() => this.lost('connection closed by the peer'));
  }

  get name(): string {
    return describeEndpoint(this.endpoint);
  }

  /** Connects now if not connected (skipping any backoff wait); resolves when the attempt ends either way. */
  open(): Promise<void> {
    if (this.state === 'closed') this.state = 'down';
    if (this.state === 'connected') return Promise.resolve();
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    return this.connect();
  }

  /** Nodes using the link register so the last one out closes it. */
  acquire(): void {
    this.users += 1;
    void this.open();
  }

  async release(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) await this.close();
  }

  stats(): LinkStats {
    const now = this.now();
    const dead = [...this.units.entries()].filter(([, health]) => health.retryAt > now).map(([unit]) => unit);
    const stats: LinkStats = {
      state: this.state,
      ...this.counters,
      queued: this.high.length + this.normal.length,
      deadUnits: dead,
    };
    if (this.lastError !== undefined) stats.lastError = this.lastError;
    return stats;
  }

  isUnitBackedOff(unitId: number): boolean {
    const health = this.units.get(unitId);
    return health !== undefined && health.retryAt > this.now();
  }

  read(unitId: number, code: ReadCode, address: number, length: number): Promise<number[]> {
    return this.enqueue(this.normal, unitId, (outcome) =>
      this.transport.readThen(unitId, code, address, length, this.options.timeoutMs, outcome),
    ) as Promise<number[]>;
  }

  /** Writes go ahead of queued reads: a relay command should not wait for a whole poll cycle. */
  write(unitId: number, code: WriteCode, address: number, values: number[]): Promise<void> {
    return this.enqueue(this.high, unitId, (outcome) =>
      this.transport.write(unitId, code, address, values, this.options.timeoutMs).then(
        () => outcome(undefined, undefined),
        (error: Error) => outcome(error, undefined),
      ),
    ) as Promise<void>;
  }

  /** A read that jumps the queue (relay read-back after a write). */
  readNow(unitId: number, code: ReadCode, address: number, length: number): Promise<number[]> {
    return this.enqueue(this.high, unitId, (outcome) =>
      this.transport.readThen(unitId, code, address, length, this.options.timeoutMs, outcome),
    ) as Promise<number[]>;
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const pending = [...this.high.splice(0), ...this.normal.splice(0)];
    for (const job of pending) job.reject(new LinkDownError(`link ${this.name} closed`));
    await this.transport.close();
    this.emit('state', this.state);
  }

  private enqueue(queue: Job[], unitId: number, start: (outcome: Outcome) => void): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new LinkDownError(`link ${this.name} is closed`));
    if (this.state === 'down') {
      void this.connect();
      return Promise.reject(
        new LinkDownError(`link ${this.name} is down${this.lastError ? `: ${this.lastError}` : ''}`),
      );
    }
    const health = this.units.get(unitId);
    if (health && health.retryAt > this.now()) return Promise.reject(this.backedOff(unitId, health));
    return new Promise((resolve, reject) => {
      queue.push({ start, unitId, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    // While connecting, requests wait; the connection's outcome runs or fails them.
    if (this.busy || this.state !== 'connected') return;
    const job = this.high.shift() ?? this.normal.shift();
    if (!job) return;
    this.busy = true;
    this.attempt(job, 0);
  }

  /** Runs a request (attempt 0, or a retry); its outcome comes to settle() in the turn its answer arrives. */
  private attempt(job: Job, attempt: number): void {
    if (this.state !== 'connected') return this.settle(job, new LinkDownError(`link ${this.name} is down`));
    const health = this.units.get(job.unitId);
    if (health && health.retryAt > this.now()) return this.settle(job, this.backedOff(job.unitId, health));
    this.counters.requests += 1;
    job.start((error, value) => {
      if (!error) {
        this.unitAnswered(job.unitId);
        return this.settle(job, undefined, value);
      }
      this.counters.failures += 1;
      this.lastError = error.message;
      if (error instanceof ModbusExceptionError) {
        this.counters.exceptions += 1;
        this.unitAnswered(job.unitId);
        return this.settle(job, error);
      }
      if (error instanceof ModbusTimeoutError) {
        this.counters.timeouts += 1;
        if (attempt < this.options.retries && this.state === 'connected')
          return this.attempt(job, attempt + 1);
        this.unitSilent(job.unitId, error.message);
        return this.settle(job, error);
      }
      // The link itself failed: fail this request, reconnect in the background.
      this.lost(error.message);
      return this.settle(job, error instanceof LinkDownError ? error : new LinkDownError(error.message));
    });
  }

  /**
   * The next request goes on the wire before the caller of this one hears its answer: what the caller does
   * with it (decoding, billing, sending messages) then overlaps the next round trip instead of delaying it.
   */
  private settle(job: Job, error: Error | undefined, value?: unknown): void {
    this.busy = false;
    if (this.options.pauseMs > 0 && this.high.length + this.normal.length > 0) {
      setTimeout(() => this.pump(), this.options.pauseMs);
    } else {
      this.pump();
    }
    if (error) job.reject(error);
    else job.resolve(value);
  }

  private unitAnswered(unitId: number): void {
    if (this.units.has(unitId)) {
      this.units.delete(unitId);
      this.emit('unit', { unitId, alive: true });
    }
  }

  /** The error for a request to a unit that is backed off: why, and when it is asked again. */
  private backedOff(unitId: number, health: UnitHealth): UnitBackoffError {
    const seconds = Math.ceil((health.retryAt - this.now()) / 1000);
    return new UnitBackoffError(
      unitId,
      health.retryAt,
      `unit ${unitId} on ${this.name} is not answering (${health.reason}); next try in ${seconds} s`,
    );
  }

  private unitSilent(unitId: number, reason: string): void {
    const health = this.units.get(unitId) ?? { timeouts: 0, backoffMs: 0, retryAt: 0, reason };
    health.reason = reason;
    health.timeouts += 1;
    if (health.timeouts >= this.options.deadAfter) {
      health.backoffMs =
        health.backoffMs === 0
          ? this.options.deadBackoffMinMs
          : Math.min(health.backoffMs * 2, this.options.deadBackoffMaxMs);
      health.retryAt = this.now() + health.backoffMs;
      if (health.timeouts === this.options.deadAfter) this.emit('unit', { unitId, alive: false });
    }
    this.units.set(unitId, health);
  }

  private lost(reason: string): void {
    if (this.state === 'closed' || this.state === 'down') return;
    this.lastError = reason;
    this.state = 'down';
    this.emit('state', this.state, reason);
    const pending = [...this.high.splice(0), ...this.normal.splice(0)];
    for (const job of pending) job.reject(new LinkDownError(`link ${this.name} is down: ${reason}`));
    this.scheduleReconnect();
  }

  private connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    if (this.reconnectTimer) return Promise.resolve();
    this.state = 'connecting';
    this.emit('state', this.state);
    this.connecting = this.transport
      .connect(Math.max(this.options.timeoutMs, 2000))
      .then(
        () => {
          if ((this.state as LinkState) === 'closed') {
            void this.transport.close();
            return;
          }
          this.state = 'connected';
          this.reconnectDelay = this.options.reconnectMinMs;
          // A unit that timed out while the link was failing gets a fresh chance on the new connection.
          this.units.clear();
          this.emit('state', this.state);
          this.pump();
        },
        (error: Error) => {
          if ((this.state as LinkState) === 'closed') return;
          this.lastError = error.message;
          this.state = 'down';
          this.emit('state', this.state, error.message);
          const pending = [...this.high.splice(0), ...this.normal.splice(0)];
          for (const job of pending)
            job.reject(new LinkDownError(`link ${this.name} is down: ${error.message}`));
          this.scheduleReconnect();
        },
      )
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state === 'closed') return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.counters.reconnects += 1;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref?.();
  }
}
