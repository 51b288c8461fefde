/**
 * The one place that talks to InfluxDB 1.x (the `influx` package): write points, run a query, make sure the
 * database exists. The writer and the node see only this small interface.
 */
import { InfluxDB, type IPoint } from 'influx';
import type { Point } from '../core/history/points';

export interface TimeSeriesTarget {
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
    await this.client.writePoints(batch, {
      precision: 'ms',
      ...(this.settings.retentionPolicy ? { retentionPolicy: this.settings.retentionPolicy } : {}),
    });
  }

  async query(influxql: string): Promise<Array<Record<string, unknown>>> {
    const rows = await this.client.query<Record<string, unknown>>(influxql, { precision: 'ms' });
    return rows.map((row) => ({ ...row }));
  }
}
