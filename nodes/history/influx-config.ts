/** What a prepay-influx config node offers the history nodes that name it. */
import type { Node } from 'node-red';
import type { DeadLetter } from './dead-letters';
import type { HistoryWriter } from './history-writer';
import type { InfluxTarget } from './influx-target';

export interface InfluxConfigNode extends Node {
  writer?: HistoryWriter;
  target?: InfluxTarget;
  /** Why the server could not be set up (bad settings). */
  problem?: string;
  /** Zone for day and month boundaries in trend queries. */
  timeZone: string;
  /**
   * History nodes naming this server, by id: each reports the dead letters of the points it queued to its Catch
   * nodes (a config node's errors reach none); points queued before a restart go to the first one.
   */
  reporters: Map<string, (letter: DeadLetter) => void>;
}
