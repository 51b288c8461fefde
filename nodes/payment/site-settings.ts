/**
 * Settings the tenant interface reads from Node-RED environment variables. An example's group carries demo
 * defaults in its environment; a value set outside the group (the tab's environment, the global one, or the
 * process environment) wins over the group's own, so an operator who sets PREPAY_DEMO=off or a real secret
 * for the process is obeyed rather than shadowed by the demo value the group was imported with.
 */
import type { Node, NodeAPI } from 'node-red';

/** The variable that switches demo mode on ("on"); anything else, or unset, is off. */
export const DEMO_MODE_VARIABLE = 'PREPAY_DEMO';

function present(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** A variable's value, outside the node's group first (Node-RED's "$parent." skips the group's own env). */
export function outsideFirst(RED: NodeAPI, node: Node, name: string): string | undefined {
  const outside: unknown = RED.util.getSetting(node, `$parent.${name}`);
  if (present(outside)) return outside;
  const own: unknown = RED.util.getSetting(node, name);
  return present(own) ? own : undefined;
}

export function demoMode(RED: NodeAPI, node: Node): boolean {
  return outsideFirst(RED, node, DEMO_MODE_VARIABLE) === 'on';
}

/** The first of `names` that is set, resolved the usual way (the node's group, its tab, the process). */
export function firstSetVariable(
  RED: NodeAPI,
  node: Node,
  names: string[],
): { name: string; value: string } | undefined {
  for (const name of names) {
    const value: unknown = RED.util.getSetting(node, name);
    if (present(value)) return { name, value };
  }
  return undefined;
}
