/**
 * The one place that talks to InfluxDB 1.x (the `influx` package): write points, run a query, make sure the
 * database exists. The writer and the node see only this small interface.
 */
import { InfluxDB, type IPoint } from 'influx';
import type { Point } from '../core/history/points';

/**
 * The database refused the content of a write (InfluxDB 1.x: 400 for a point it cannot parse or store, such as a
 * time out of range, a point beyond the retention policy or a field type conflict, with the good points of the
 * batch stored all the same; 413 for a body too large; 422 from InfluxDB 2.x's 1.x API). Retrying the same points
 * cannot help, unlike a server that is down (5xx, no answer), which is retried with backoff.
 */
export class PointsRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(`InfluxDB refused the points (${status}): ${reason}`);
    this.name = 'PointsRefusedError';
  }
}

/** Statuses for which the points themselves are at fault. */
const REFUSED_CONTENT = new Set([400, 413, 422]);

export interface TimeSeriesTarget {
  /** Throws PointsRefusedError when the database refuses the points' content, anything else when it is unavailable. */
  write(points: Point[]): Promise<void>;
  query(influxql: string): Promise<Array<Record<string, unknown>>>;
  ensureDatabase(): Promise<void>;
  describe(): string;
}

export interface InfluxSettings {
  host: string;
  port: number;
  database: string;
  retentionPolicy?: string;
  username?: string;
  password?: string;
  timeoutMs: number;
}

export class InfluxTarget implements TimeSeriesTarget {
  private readonly client: InfluxDB;

  constructor(private readonly settings: InfluxSettings) {
    this.client = new InfluxDB({
      host: settings.host,
      port: settings.port,
      database: settings.database,
      ...(settings.username ? { username: settings.username, password: settings.password ?? '' } : {}),
      pool: { requestTimeout: settings.timeoutMs, maxRetries: 0 },
    });
  }

  describe(): string {
    return `influxdb://${this.settings.host}:${this.settings.port}/${this.settings.database}`;
  }

  async ensureDatabase(): Promise<void> {
    const names = await this.client.getDatabaseNames();
    if (!names.includes(this.settings.database)) await this.client.createDatabase(this.settings.database);
  }

  async write(points: Point[]): Promise<void> {
    const batch: IPoint[] = points.map((point) => ({
      measurement: point.measurement,
      tags: point.tags,
      fields: point.fields,
      timestamp: new Date(point.timestamp),
    }));
    try {
      await this.client.writePoints(batch, {
        precision: 'ms',
        ...(this.settings.retentionPolicy ? { retentionPolicy: this.settings.retentionPolicy } : {}),
      });
    } catch (error) {
      // The client's RequestError (3xx and 4xx answers) carries the response; its message ends with the body.
      const status = (error as { res?: { statusCode?: unknown } }).res?.statusCode;
      if (typeof status === 'number' && REFUSED_CONTENT.has(status))
        throw new PointsRefusedError(status, serverReason((error as Error).message));
      throw error;
    }
  }

  async query(influxql: string): Promise<Array<Record<string, unknown>>> {
    const rows = await this.client.query<Record<string, unknown>>(influxql, { precision: 'ms' });
    return rows.map((row) => ({ ...row }));
  }
}

/** InfluxDB's own words from the client's "A 400 Bad Request error occurred: {"error":"..."}". */
function serverReason(message: string): string {
  const body = message.slice(message.indexOf('{'));
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: the message as it is
  }
  return message.trim();
}
