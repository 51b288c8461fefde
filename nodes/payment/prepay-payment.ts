/**
 * prepay-payment: a payment provider's webhook, verified and turned into a ledger `topup` command.
 *
 * Input: the node's own POST route (_Listen on_: the body read under a limit while it streams, 413 beyond
 * it), or an `http in` message (POST, "Do not parse request body" ticked, so msg.payload is the raw body
 * Buffer the provider signed; msg.req.rawBody is used when a settings middleware keeps it instead).
 * Output 1: the topup command for prepay-ledger, with msg.req/msg.res kept so an `http response` after the
 * ledger answers once the posting is committed. Output 2: refused (and acknowledged non-top-up) deliveries
 * with msg.statusCode and a JSON error payload, for an `http response`.
 *
 * Refusals are normal traffic on a public endpoint: answered on output 2, counted in the status and warned
 * about at most once a minute, not thrown to Catch nodes. Configuration faults (no secret, no raw body) are
 * errors (done(err)), because someone has to fix them.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { isDemoSecret } from '../core/payments/demo-secrets';
import { ReplayGuard } from '../core/payments/replay-guard';
import { Delivery, handleDelivery, WebhookOutcome, WebhookSettings } from '../core/payments/webhook';
import { wallClock } from '../shared/runtime-clock';
import { faultStatus, okStatus } from '../shared/status';
import { PaymentNodeOptions, PaymentNodeSettings, readPaymentSettings, secretList } from './payment-config';
import { httpGuard } from './http-guard';
import { RefusalLog } from './refusal-log';
import { demoMode, DEMO_MODE_VARIABLE, firstSetVariable } from './site-settings';
import { serveWebhookRoute, WebhookRoute } from './webhook-route';

type Done = (err?: Error) => void;
const STATUS_INTERVAL_MS = 500;
type Send = (msg: NodeMessage | Array<NodeMessage | null>) => void;

interface Credentials {
  secret: unknown;
}

/** What an http in node leaves on the message (express's request, of which we read two things). */
interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  rawBody?: unknown;
}

function rawBodyOf(msg: NodeMessageInFlow): Buffer | string | undefined {
  if (Buffer.isBuffer(msg.payload) || typeof msg.payload === 'string') return msg.payload;
  const raw = (msg as { req?: RequestLike }).req?.rawBody;
  return Buffer.isBuffer(raw) || typeof raw === 'string' ? raw : undefined;
}

function headerOf(msg: NodeMessageInFlow, name: string): string | undefined {
  const headers =
    (msg as { req?: RequestLike }).req?.headers ?? (msg as { headers?: RequestLike['headers'] }).headers;
  if (!headers) return undefined;
  const value = headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value.join(',') : value;
}

export = function register(RED: NodeAPI): void {
  // The tenant interface's paths are guarded (CORS, body sizes, error answers) from the start, whether or not a
  // payment node is deployed: see http-guard.ts.
  httpGuard(RED);

  function PrepayPaymentNode(this: Node<Credentials>, config: NodeDef & PaymentNodeSettings): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const clock = wallClock(RED.settings);
    let options: PaymentNodeOptions;
    try {
      options = readPaymentSettings(config);
    } catch (error) {
      const problem = (error as Error).message;
      node.status(faultStatus(problem.slice(0, 60)));
      node.error(`prepay-payment: ${problem}`);
      node.on('input', (_msg: NodeMessageInFlow, _send: Send, done: Done) =>
        done(new Error(`prepay-payment: ${problem}`)),
      );
      return;
    }
    // Env values resolve through the node's group and flow (their env tabs) before the process environment;
    // of several variables, the first one set is used.
    const fromEnv = options.secretFrom === 'env' ? firstSetVariable(RED, node, options.secretEnv) : undefined;
    const secrets =
      options.secretFrom === 'env' ? secretList(fromEnv?.value) : secretList(node.credentials?.secret);
    // A published demo secret lets anyone sign top-ups: outside demo mode the node serves nothing with it.
    const demoSecretRefused = secrets.some(isDemoSecret) && !demoMode(RED, node);
    const settings: WebhookSettings = {
      secrets: demoSecretRefused ? [] : secrets,
      toleranceSeconds: options.toleranceSeconds,
      notification: options.notification,
    };
    const guard = new ReplayGuard(options.toleranceSeconds * 1000);
    const log = new RefusalLog((text) => node.warn(text));
    let accepted = 0;
    let refused = 0;

    const where =
      options.secretFrom === 'env'
        ? `environment variable ${fromEnv?.name ?? options.secretEnv.join(' or ')}`
        : 'the credentials';
    const secretProblem = demoSecretRefused
      ? `the webhook secret in ${where} is the published demo secret and ${DEMO_MODE_VARIABLE} is not "on": set the provider's real secret`
      : secrets.length > 0
        ? undefined
        : options.secretFrom === 'env'
          ? `no webhook secret: environment variable ${options.secretEnv.join(' or ')} is not set`
          : 'no webhook secret in the credentials';
    // Counts are shown at most twice a second: a status per delivery costs more than verifying it.
    let statusTimer: NodeJS.Timeout | undefined;
    let statusShownAt = 0;
    const paintStatus = (): void => {
      statusTimer = undefined;
      statusShownAt = Date.now();
      const problem = demoSecretRefused
        ? 'demo secret refused: demo mode is off'
        : (secretProblem ?? routeProblem);
      if (problem) node.status(faultStatus(problem.slice(0, 60)));
      else node.status(okStatus(`${accepted} accepted · ${refused} refused`));
    };
    const showStatus = (): void => {
      if (statusTimer) return;
      const wait = statusShownAt + STATUS_INTERVAL_MS - Date.now();
      if (wait <= 0) return paintStatus();
      statusTimer = setTimeout(paintStatus, wait);
      statusTimer.unref?.();
    };
    let route: WebhookRoute | undefined;
    let routeProblem: string | undefined;
    if (options.url) {
      try {
        route = serveWebhookRoute(RED, node, options.url, options.maxBodyBytes);
      } catch (error) {
        routeProblem = (error as Error).message;
        node.error(`prepay-payment: cannot serve ${options.url}: ${routeProblem}`);
      }
    }
    node.on('close', () => {
      if (statusTimer) clearTimeout(statusTimer);
      route?.close();
    });
    if (secretProblem) node.error(`prepay-payment: ${secretProblem}`);
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      const delivery: Delivery = { rawBody: rawBodyOf(msg), signature: headerOf(msg, options.header) };
      const out = msg as NodeMessage & Record<string, unknown>;
      if (demoSecretRefused) {
        refused += 1;
        out.statusCode = 500;
        out.payload = { ok: false, error: 'demo-secret', message: secretProblem };
        out.payment = { refused: 'demo-secret' };
        showStatus();
        send([null, out]);
        return done(new Error(`prepay-payment: ${secretProblem}`));
      }
      let outcome: WebhookOutcome;
      try {
        outcome = handleDelivery(delivery, settings, guard, clock.now());
      } catch (error) {
        return done(error as Error);
      }
      if (outcome.kind === 'accepted') {
        accepted += 1;
        out.payload = outcome.command;
        out.topic = 'topup';
        out.payment = { providerReference: outcome.providerReference, timestamp: outcome.timestamp };
        showStatus();
        send([out, null]);
        return done();
      }
      out.statusCode = outcome.statusCode;
      if (outcome.kind === 'ignored') {
        out.payload = { ok: true, ignored: true, message: outcome.message };
        send([null, out]);
        return done();
      }
      refused += 1;
      out.payload = {
        ok: false,
        error: outcome.code,
        message: outcome.message,
        ...(outcome.field ? { field: outcome.field } : {}),
      };
      out.payment = { refused: outcome.code };
      showStatus();
      send([null, out]);
      if (outcome.fault) return done(new Error(`prepay-payment: ${outcome.message}`));
      log.refused(
        `prepay-payment: refused a delivery (${outcome.statusCode} ${outcome.code}): ${outcome.message}`,
        clock.now(),
      );
      done();
    });
  }

  RED.nodes.registerType('prepay-payment', PrepayPaymentNode, {
    credentials: { secret: { type: 'password' } },
  });
};
