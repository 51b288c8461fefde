/**
 * prepay-history: writes what flows past (readings, consumption, charges, account states, meter events) to
 * InfluxDB through the server's disk buffer, and answers trend queries (`msg.topic = "query"`). A message is
 * acknowledged once its points are on disk; a full buffer fails the message to Catch nodes, never silently.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeMessage } from 'node-red';
import { pointOf, type Point } from '../core/history/points';
import { readTrendRequest, trendQuery } from '../core/history/trend-query';
import { TimeZone } from '../core/tariff/zone';
import { runtimeClock } from '../shared/runtime-clock';
import { degradedStatus, faultStatus, okStatus } from '../shared/status';
import { DeadLetter, deadLetterText } from './dead-letters';
import type { InfluxConfigNode } from './influx-config';

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

interface HistoryNodeDef extends NodeDef {
  server?: string;
}

export = function register(RED: NodeAPI): void {
  function PrepayHistoryNode(this: Node, config: HistoryNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock = runtimeClock(RED.settings);
    const server = RED.nodes.getNode(config.server ?? '') as InfluxConfigNode | null;
    if (!server?.writer || !server.target) {
      const problem = server
        ? `InfluxDB server not usable: ${server.problem}`
        : 'no InfluxDB server configured';
      node.status(faultStatus(problem.slice(0, 60)));
      node.error(`prepay-history: ${problem}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-history: ${problem}`)),
      );
      return;
    }
    const writer = server.writer;
    const target = server.target;
    let accepted = 0;
    const showStatus = (): void => {
      const stats = writer.stats();
      const refused = stats.deadLettered > 0 ? ` · ${stats.deadLettered} dead letter(s)` : '';
      if (!stats.up) node.status(faultStatus(`InfluxDB down · ${stats.backlog} waiting on disk`));
      else if (stats.backlog > 10_000) node.status(degradedStatus(`${stats.backlog} waiting${refused}`));
      else node.status(okStatus(`${stats.written} written · ${stats.backlog} waiting${refused}`));
    };
    // A point the database refused: an error for this node's Catch nodes, the point as the message.
    server.reporters.set(node.id, (letter: DeadLetter) => {
      node.error(`prepay-history: ${deadLetterText(letter, writer.deadLetters.path)}`, {
        topic: 'dead-letter',
        payload: letter.point,
        deadLetter: letter,
      } as NodeMessage);
      showStatus();
    });
    const statusTimer = setInterval(showStatus, 1000);
    statusTimer.unref?.();
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (msg.topic === 'query') {
        void answer(msg, send).then(
          () => done(),
          (error: Error) => done(new Error(error.message)),
        );
        return;
      }
      try {
        const now = clock.now();
        const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
        // Every item is checked before any is queued: a bad one in a batch queues nothing.
        const points: Point[] = items.map((item, index) => {
          try {
            return pointOf(item, now);
          } catch (error) {
            throw new Error(
              items.length > 1
                ? `payload[${index}].${(error as Error).message.replace(/^payload: /, '')}`
                : (error as Error).message,
            );
          }
        });
        writer.enqueue(points, node.id);
        accepted += points.length;
        done();
      } catch (error) {
        showStatus();
        done(new Error((error as Error).message));
      }
    });

    async function answer(msg: NodeMessageInFlow, send: Send): Promise<void> {
      const request = readTrendRequest(msg.payload, clock.now(), server!.timeZone);
      const rows = await target.query(trendQuery(request));
      let series = rows.map((row) => ({
        time: row.time instanceof Date ? row.time.getTime() : Number(row.time),
        value: typeof row.value === 'number' ? row.value : 0,
        ...(request.groupBy ? { [request.groupBy]: row[request.groupBy] } : {}),
      }));
      if (request.every === 'month') {
        // InfluxQL has no calendar months: days are summed into the zone's months here.
        const zone = TimeZone.get(request.timeZone);
        const months = new Map<string, { time: number; value: number; [tag: string]: unknown }>();
        for (const day of series) {
          const parts = zone.wallParts(day.time);
          const key = `${parts.year}-${String(parts.month).padStart(2, '0')}${request.groupBy ? `:${String((day as Record<string, unknown>)[request.groupBy])}` : ''}`;
          const month = months.get(key) ?? {
            ...day,
            time: zone.wallToInstant(parts.year, parts.month, 1),
            value: 0,
          };
          month.value += day.value;
          months.set(key, month);
        }
        series = [...months.values()];
      }
      send({ ...msg, payload: series, request, accepted });
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(statusTimer);
      server.reporters.delete(node.id);
      done();
    });
  }

  RED.nodes.registerType('prepay-history', PrepayHistoryNode);
};
