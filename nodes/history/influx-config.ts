/** What a prepay-influx config node offers the history nodes that name it. */
import type { Node } from 'node-red';
import type { HistoryWriter } from './history-writer';
import type { InfluxTarget } from './influx-target';

export interface InfluxConfigNode extends Node {
  writer?: HistoryWriter;
  target?: InfluxTarget;
  /** Why the server could not be set up (bad settings). */
  problem?: string;
  /** Zone for day and month boundaries in trend queries. */
  timeZone: string;
}
