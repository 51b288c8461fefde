/**
 * The package's guard in front of Node-RED's HTTP handling, for the tenant interface: the webhook routes the
 * payment node serves itself, and the tenant API's paths (by default everything under /prepay/ below
 * httpNodeRoot; settings.js `prepay: { httpGuard: { paths, maxBody } }`).
 *
 * It has to stand first. Node-RED reads every body before any route or httpNodeMiddleware sees it (the http in
 * node's "Do not parse request body" capture sits at the top of the root express app and reads the whole body
 * with no limit; the admin app, mounted at "/" by default, parses every JSON body up to apiMaxLength, 5 MB), and
 * that admin app answers every request, the tenant API's included, with `Access-Control-Allow-Origin: *`, and
 * every preflight with "allowed". So the guard is put at the top of the root app, the same way Node-RED puts its
 * own capture there. On its paths it:
 *  - reads the body of a payment node's own route under that node's limit while it streams (413 beyond), and
 *    hands it on as req.body (the exact bytes) with req._body set, so no parser after it reads the stream again;
 *  - refuses other bodies over the limit by their Content-Length before reading them (413), and bodies without
 *    one (chunked) with 411, since the http in node's parsers would read them whole;
 *  - sends no CORS headers, whoever sets them, and answers a preflight without any, so a browser on another
 *    site can neither call these routes with a tenant's token nor read their answers;
 *  - answers errors raised before a route (malformed JSON, an unknown charset, a bad percent-escape in the path)
 *    with a short JSON error instead of express's page with the stack trace and install paths.
 */
import type { NodeAPI } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readLimitedBody, refuseTooLarge } from './limited-body';

type Next = (err?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The part of an express application the guard touches. */
interface ExpressApp {
  parent?: ExpressApp;
  path?: () => string;
  use: (handler: Middleware | ErrorMiddleware) => void;
  _router?: { stack: Array<{ handle: unknown }> };
}

/** What express adds to a request that the guard reads or sets. */
interface GuardedRequest extends IncomingMessage {
  body?: unknown;
  _body?: boolean;
  skipRawBodyParser?: boolean;
}

export interface HttpGuardSettings {
  /** Path prefixes under httpNodeRoot; [] leaves CORS and body sizes of those routes to Node-RED. */
  paths?: string[];
  /** Largest body on those paths, in bytes. */
  maxBody?: number;
}

export const DEFAULT_GUARDED_PATHS = ['/prepay/'];
export const DEFAULT_GUARD_MAX_BODY = 64 * 1024;

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

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}

/** Drops every Access-Control-* header set on this response from now on (the admin app's cors sets them next). */
function withoutCors(res: ServerResponse): void {
  const setHeader = res.setHeader;
  res.setHeader = function (this: ServerResponse, name: string, value: number | string | readonly string[]) {
    if (/^access-control-/i.test(name)) return this;
    return setHeader.call(this, name, value);
  } as ServerResponse['setHeader'];
}

function answer(res: ServerResponse, status: number, error: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ ok: false, error, message });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** What an error raised before a route becomes: its status, and words that give nothing of the server away. */
function errorAnswer(err: unknown): { status: number; error: string; message: string } {
  const raw = Number(
    (err as { status?: unknown; statusCode?: unknown })?.status ??
      (err as { statusCode?: unknown })?.statusCode,
  );
  const status = Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  if (status === 413) return { status, error: 'body-too-large', message: 'the request body is too large' };
  if (status === 415)
    return { status, error: 'unsupported-media-type', message: 'the body type or charset is not supported' };
  if (status >= 500) return { status, error: 'failed', message: 'the request failed' };
  return { status, error: 'bad-request', message: 'the request is malformed (its path, query or body)' };
}

export class HttpGuard {
  /** Full paths (under httpNodeRoot) whose POST bodies the guard reads, with their limit in bytes. */
  private readonly bodyRoutes = new Map<string, { maxBytes: number; owner: string }>();
  private prefixes: string[] = [];
  private maxBytes = DEFAULT_GUARD_MAX_BODY;

  constructor(private readonly nodeRootPath: () => string) {}

  /** The path a route of the http node app has from the root: "/prepay/x" under httpNodeRoot "/api" is "/api/prepay/x". */
  fullPath(url: string): string {
    return routeKey(`${this.nodeRootPath()}/${url}`);
  }

  /** The tenant API's paths: prefixes under httpNodeRoot, and their body limit. */
  guardPaths(paths: string[], maxBytes: number): void {
    this.prefixes = paths.map((p) => this.fullPath(p));
    this.maxBytes = maxBytes;
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

  private guarded(path: string): boolean {
    return (
      this.bodyRoutes.has(path) ||
      this.prefixes.some((prefix) => path === prefix || path.startsWith(prefix === '/' ? '/' : `${prefix}/`))
    );
  }

  readonly middleware: Middleware = (req, res, next) => {
    const path = pathOf(req);
    if (!this.guarded(path)) return next();
    withoutCors(res);
    if (req.method === 'OPTIONS') {
      // A preflight gets no Access-Control-Allow-* header: the browser does not send the request.
      res.writeHead(204, { allow: 'GET, HEAD, POST', 'cache-control': 'no-store', 'content-length': 0 });
      res.end();
      return;
    }
    const route = req.method === 'POST' ? this.bodyRoutes.get(path) : undefined;
    if (!route) {
      if (!hasBody(req)) return next();
      const declared = req.headers['content-length'];
      if (declared === undefined)
        return answer(res, 411, 'length-required', 'send the body with a Content-Length');
      if (Number(declared) > this.maxBytes) return refuseTooLarge(req, res, this.maxBytes);
      return next();
    }
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

  /** Last in the root app: errors on the guarded paths that no route answered. */
  readonly errors: ErrorMiddleware = (err, req, res, next) => {
    if (!this.guarded(pathOf(req))) return next(err);
    const { status, error, message } = errorAnswer(err);
    answer(res, status, error, message);
  };
}

const guards = new WeakMap<object, HttpGuard>();

function rootOf(app: ExpressApp): ExpressApp {
  return app.parent ? rootOf(app.parent) : app;
}

/** The guard's settings from settings.js (`prepay.httpGuard`), checked. */
export function guardSettings(settings: unknown): { paths: string[]; maxBytes: number } {
  const given = (settings as { prepay?: { httpGuard?: HttpGuardSettings } } | undefined)?.prepay?.httpGuard;
  const paths = given?.paths ?? DEFAULT_GUARDED_PATHS;
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string' || !p.startsWith('/')))
    throw new Error('settings prepay.httpGuard.paths: a list of paths starting with "/"');
  const maxBytes = given?.maxBody ?? DEFAULT_GUARD_MAX_BODY;
  if (!(Number.isInteger(maxBytes) && maxBytes >= 1024))
    throw new Error('settings prepay.httpGuard.maxBody: whole bytes, at least 1024');
  return { paths, maxBytes };
}

/**
 * The guard of this runtime's HTTP server, installed at the top of the root app on first use (with its error
 * answers last); undefined when Node-RED serves no http nodes (httpNodeRoot: false).
 */
export function httpGuard(RED: NodeAPI): HttpGuard | undefined {
  const nodeApp = (RED as unknown as { httpNode?: ExpressApp }).httpNode;
  if (!nodeApp || typeof nodeApp.use !== 'function') return undefined;
  const root = rootOf(nodeApp);
  let guard = guards.get(root);
  if (guard) return guard;
  guard = new HttpGuard(() => (typeof nodeApp.path === 'function' ? nodeApp.path() : ''));
  try {
    const { paths, maxBytes } = guardSettings(RED.settings);
    guard.guardPaths(paths, maxBytes);
  } catch (error) {
    // Guarded with the defaults rather than not at all.
    RED.log.error(
      `prepay: ${(error as Error).message}; guarding ${DEFAULT_GUARDED_PATHS.join(', ')} instead`,
    );
    guard.guardPaths(DEFAULT_GUARDED_PATHS, DEFAULT_GUARD_MAX_BODY);
  }
  guards.set(root, guard);
  root.use(guard.middleware);
  root.use(guard.errors);
  // Move it ahead of everything, including the http in node's raw body capture (which Node-RED moved to the
  // top the same way when its http nodes loaded) and the admin app's CORS and body parsers.
  const stack = root._router?.stack;
  const index = stack?.findIndex((layer) => layer.handle === guard.middleware) ?? -1;
  if (stack && index > 0) stack.unshift(...stack.splice(index, 1));
  return guard;
}
