/**
 * The package's guard in front of Node-RED's HTTP handling, for the webhook routes the payment node serves
 * itself. It has to stand first: Node-RED reads every body before any route or httpNodeMiddleware sees it
 * (the http in node's "Do not parse request body" capture sits at the top of the root express app and reads
 * the whole body with no limit; the admin app, mounted at "/" by default, parses every JSON body up to
 * apiMaxLength, 5 MB). So the guard is put at the top of the root app too, the same way Node-RED puts its own
 * capture there, and reads the bodies of the routes registered with it under their limit, while they stream.
 * A body read here is handed on as req.body (a Buffer, the exact bytes) with req._body set, so no parser
 * after it reads the stream again.
 */
import type { NodeAPI } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readLimitedBody, refuseTooLarge } from './limited-body';

type Next = (err?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The part of an express application the guard touches. */
interface ExpressApp {
  parent?: ExpressApp;
  path?: () => string;
  use: (handler: Middleware) => void;
  _router?: { stack: Array<{ handle: unknown }> };
}

/** What express adds to a request that the guard reads or sets. */
interface GuardedRequest extends IncomingMessage {
  body?: unknown;
  _body?: boolean;
  skipRawBodyParser?: boolean;
}

/** "/a//b/" and "/A/b" are the route "/a/b", as express matches by default (not case or slash sensitive). */
export function routeKey(path: string): string {
  const key = path
    .replace(/\/{2,}/g, '/')
    .replace(/\/$/, '')
    .toLowerCase();
  return key === '' ? '/' : key;
}

/** The request's path as express matches routes: not percent-decoded, without the query. */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return routeKey(query === -1 ? url : url.slice(0, query));
}

export class HttpGuard {
  /** Full paths (under httpNodeRoot) whose POST bodies the guard reads, with their limit in bytes. */
  private readonly bodyRoutes = new Map<string, { maxBytes: number; owner: string }>();

  constructor(private readonly nodeRootPath: () => string) {}

  /** The path a route of the http node app has from the root: "/prepay/x" under httpNodeRoot "/api" is "/api/prepay/x". */
  fullPath(url: string): string {
    return routeKey(`${this.nodeRootPath()}/${url}`);
  }

  /** Reads POST bodies of `url` under `maxBytes`; returns false when another owner has the route. */
  addBodyRoute(url: string, maxBytes: number, owner: string): boolean {
    const key = this.fullPath(url);
    const existing = this.bodyRoutes.get(key);
    if (existing && existing.owner !== owner) return false;
    this.bodyRoutes.set(key, { maxBytes, owner });
    return true;
  }

  removeBodyRoute(url: string, owner: string): void {
    const key = this.fullPath(url);
    if (this.bodyRoutes.get(key)?.owner === owner) this.bodyRoutes.delete(key);
  }

  readonly middleware: Middleware = (req, res, next) => {
    const route = req.method === 'POST' ? this.bodyRoutes.get(pathOf(req)) : undefined;
    if (!route) return next();
    const request = req as GuardedRequest;
    readLimitedBody(req, route.maxBytes).then((result) => {
      if (result.ok) {
        request.body = result.body;
        request._body = true; // body-parser (the admin app's and the http in node's) skips a read body
        request.skipRawBodyParser = true;
        return next();
      }
      if (result.reason === 'too-large') return refuseTooLarge(req, res, route.maxBytes);
      res.destroy(); // the sender went away mid-body: nothing to answer
    }, next);
  };
}

const guards = new WeakMap<object, HttpGuard>();

function rootOf(app: ExpressApp): ExpressApp {
  return app.parent ? rootOf(app.parent) : app;
}

/**
 * The guard of this runtime's HTTP server, installed at the top of the root app on first use; undefined when
 * Node-RED serves no http nodes (httpNodeRoot: false).
 */
export function httpGuard(RED: NodeAPI): HttpGuard | undefined {
  const nodeApp = (RED as unknown as { httpNode?: ExpressApp }).httpNode;
  if (!nodeApp || typeof nodeApp.use !== 'function') return undefined;
  const root = rootOf(nodeApp);
  let guard = guards.get(root);
  if (guard) return guard;
  guard = new HttpGuard(() => (typeof nodeApp.path === 'function' ? nodeApp.path() : ''));
  guards.set(root, guard);
  root.use(guard.middleware);
  // Move it ahead of everything, including the http in node's raw body capture (which Node-RED moved to the
  // top the same way when its http nodes loaded).
  const stack = root._router?.stack;
  const index = stack?.findIndex((layer) => layer.handle === guard.middleware) ?? -1;
  if (stack && index > 0) stack.unshift(...stack.splice(index, 1));
  return guard;
}
