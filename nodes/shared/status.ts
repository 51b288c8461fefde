/**
 * Node status in the package's one convention: green dot when working, yellow ring when degraded
 * (running on a fallback, backlog, stale data), red ring on a fault that stops the node's work.
 */
import type { NodeStatus } from 'node-red';

export function okStatus(text: string): NodeStatus {
  return { fill: 'green', shape: 'dot', text };
}

export function degradedStatus(text: string): NodeStatus {
  return { fill: 'yellow', shape: 'ring', text };
}

export function faultStatus(text: string): NodeStatus {
  return { fill: 'red', shape: 'ring', text };
}
