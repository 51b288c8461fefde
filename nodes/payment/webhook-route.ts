/**
 * The payment node's own POST route, for a webhook served without an http in node. Its body is read by the
 * HTTP guard under the node's limit while it streams (an http in node reads any body whole before anything
 * can refuse it), then handed to the node as the message an http in node would send: msg.req, msg.res (for
 * an http response node) and msg.payload, the raw body Buffer.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpGuard } from './http-guard';

type Handler = (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: () => void) => void;

interface RouteLayer {
  route?: { path?: string; methods?: Record<string, boolean>; stack?: Array<{ handle: unknown }> };
}

interface NodeApp {
  post: (path: string, ...handlers: Handler[]) => void;
  _router?: { stack: RouteLayer[] };
}

export interface WebhookRoute {
  close(): void;
}

/** Serves POST `url` for `node`; throws with a message for the node's status when it cannot. */
export function serveWebhookRoute(RED: NodeAPI, node: Node, url: string, maxBytes: number): WebhookRoute {
  const app = (RED as unknown as { httpNode?: NodeApp }).httpNode;
  const guard = httpGuard(RED);
  if (!app || !guard) throw new Error('Node-RED serves no http nodes here (httpNodeRoot is false)');
  if (!guard.addBodyRoute(url, maxBytes, node.id))
    throw new Error(`another prepay-payment node already serves ${url}`);
  const handler: Handler = (req, res) => {
    const msg = { req, res: { _res: res }, payload: req.body } as unknown as NodeMessageInFlow;
    node.receive(msg);
  };
  // httpNodeMiddleware runs here as it does for an http in node (a site's logging or access rules).
  const configured = (RED.settings as unknown as { httpNodeMiddleware?: Handler | Handler[] })
    .httpNodeMiddleware;
  const middleware =
    typeof configured === 'function' ? [configured] : Array.isArray(configured) ? configured : [];
  app.post(url, ...middleware, handler);
  return {
    close(): void {
      guard.removeBodyRoute(url, node.id);
      const stack = app._router?.stack;
      if (!stack) return;
      const index = stack.findIndex((layer) => layer.route?.stack?.some((s) => s.handle === handler));
      if (index >= 0) stack.splice(index, 1);
    },
  };
}
