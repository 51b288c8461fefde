/**
 * A real Chromium (Debian's /usr/bin/chromium) driven by playwright-core, headless, with a fresh temporary
 * profile removed afterwards. Playwright's own browser downloads are never used. Missing locally, a browser
 * suite skips loudly; under CI=true that is a failure (.ci/run installs the package).
 *
 * Pages under test talk to 127.0.0.1 only: the editor's online catalogue and update checks are switched off
 * in EDITOR_SETTINGS, and any request that leaves the loopback is failed and recorded.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(__dirname, '..', '..', '..', 'test', 'artifacts');

/** Node-RED settings for an editor under test: no tours, no update prompt, no online palette catalogue. */
export const EDITOR_SETTINGS = {
  editorTheme: { tours: false, palette: { catalogues: [] } },
  telemetry: { enabled: false },
};

export interface Browser {
  context: BrowserContext;
  /** URLs the pages tried to reach outside 127.0.0.1 (blocked). */
  offsite: string[];
  close(): Promise<void>;
}

/** Skips the suite loudly when Chromium is missing locally; throws under CI=true. */
export function requireChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  const message = `${CHROMIUM} is missing (apt-get install -y chromium)`;
  if (process.env.CI === 'true') throw new Error(`${message}: the browser suites must run in CI`);
  console.warn(
    `\n${'!'.repeat(78)}\n!! SKIPPED: browser tests: ${message}\n!! Under CI=true this is a failure.\n${'!'.repeat(78)}\n`,
  );
  context.skip();
}

export async function launchChromium(
  viewport = { width: 1280, height: 800 },
  /** The user and password the browser answers a Basic authentication challenge with (httpNodeAuth). */
  httpCredentials?: { username: string; password: string },
): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'prepay-chromium-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    ...(httpCredentials ? { httpCredentials } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const offsite: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'blob:' || url.protocol === 'data:' || url.hostname === '127.0.0.1')
      return route.continue();
    offsite.push(url.href);
    return route.abort();
  });
  return {
    context,
    offsite,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
