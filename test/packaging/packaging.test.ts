/**
 * The package as a user gets it: `npm pack` in a clean clone of the repository's HEAD (no dist/: the
 * prepack script builds it), the tarball's file list checked, then installed into a fresh Node-RED user
 * directory and loaded by a real Node-RED process. Asserted through the admin API: every node type registered and
 * enabled, icons served, every example flow listed; and the BACnet example's device answering a
 * BACnet client. Run on Node-RED 4.1 (Node 20) and on Node-RED 5 (Node 22, fetched from the npm
 * registry into .cache/; skipped loudly when unavailable locally, required under CI=true).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { flowOnFreePorts, NodeRedProcess } from '../support/node-red-process';
import { sleep, testClient } from '../bacnet/support';

const root = join(__dirname, '..', '..', '..');
interface PackageJson {
  name: string;
  version: string;
  bin?: Record<string, string>;
  'node-red': { nodes: Record<string, string> };
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
const nodeTypes = Object.keys(pkg['node-red'].nodes);
const exampleFiles = readdirSync(join(root, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

interface NodeSetInfo {
  id: string;
  module: string;
  types: string[];
  enabled: boolean;
  loaded: boolean;
  err?: string;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const versionOf = (dir: string): string | undefined =>
  existsSync(join(dir, 'package.json'))
    ? (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
    : undefined;

/**
 * Installs the tarball into a fresh user directory for the Node 20 leg. better-sqlite3 has no prebuilt
 * binary reachable here and compiles from source, minutes on two cores: when npm picks the project's own
 * version, the project's addon (built by the same Node) is copied in instead of compiled again; otherwise
 * every install script runs as usual. The Node 22 leg installs with every script, as a user does.
 */
function installedUserDir(tarball: string): string {
  const userDir = mkdtempSync(join(tmpdir(), 'prepay-pack-'));
  writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], userDir);
  const own = join(root, 'node_modules', 'better-sqlite3');
  const installed = join(userDir, 'node_modules', 'better-sqlite3');
  const addon = join('build', 'Release', 'better_sqlite3.node');
  if (versionOf(installed) === versionOf(own) && existsSync(join(own, addon))) {
    mkdirSync(join(installed, 'build', 'Release'), { recursive: true });
    copyFileSync(join(own, addon), join(installed, addon));
  } else {
    run('npm', ['rebuild'], userDir);
  }
  return userDir;
}

function iconsOf(type: string): string[] {
  const htmlFile = join(
    root,
    'nodes',
    pkg['node-red'].nodes[type].replace(/^dist\/nodes\//, '').replace(/\.js$/, '.html'),
  );
  const html = readFileSync(htmlFile, 'utf8');
  return [...html.matchAll(/icon:\s*'([^']+)'/g)].map((m) => m[1]);
}

/**
 * `npm pack` in a clean clone of HEAD, as a release is made: no dist/ until the prepack script builds it
 * (the clone borrows the project's node_modules for the compiler). Checks the tarball's file list and
 * returns its path.
 */
function packCleanClone(packDir: string): string {
  const clone = mkdtempSync(join(tmpdir(), 'prepay-clone-'));
  try {
    run('git', ['clone', '--quiet', '--no-hardlinks', root, clone], tmpdir());
    assert.equal(existsSync(join(clone, 'dist')), false, 'a clean clone has no dist/');
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const out = run('npm', ['pack', '--json', '--pack-destination', packDir], clone);
    // The build scripts print to stdout too: the JSON report is the array that starts a line.
    const info = JSON.parse(out.slice(out.search(/^\[/m))) as Array<{
      filename: string;
      files: Array<{ path: string; mode: number }>;
    }>;
    const packed = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as PackageJson;
    assertPackedFiles(
      packed,
      info[0].files.map((f) => f.path),
    );
    return join(packDir, info[0].filename);
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
}

/** Everything Node-RED loads, the command-line tools and the documents are in; sources, tests and builds of tests are not. */
function assertPackedFiles(packed: PackageJson, files: string[]): void {
  const expected: string[] = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'docs/INSTALL.md'];
  expected.push(...readdirSync(join(root, 'docs', 'examples')).map((file) => `docs/examples/${file}`));
  for (const [type, js] of Object.entries(packed['node-red'].nodes)) {
    const dir = dirname(js);
    expected.push(
      js,
      `${dir}/${type}.html`,
      `${dir}/locales/en-US/${type}.json`,
      `${dir}/locales/en-US/${type}.html`,
      ...iconsOf(type).map((icon) => `${dir}/icons/${icon}`),
    );
  }
  expected.push(...Object.values(packed.bin ?? {}).map((file) => file.replace(/^\.\//, '')));
  expected.push(...exampleFiles.map((name) => `examples/${name}.json`));
  const missing = expected.filter((file) => !files.includes(file));
  assert.deepEqual(missing, [], `missing from the tarball:\n${missing.join('\n')}`);
  const unwanted = files.filter(
    (f) =>
      /^(test|\.build|nodes|bench|scripts|flows|node_modules|\.ci)\//.test(f) ||
      f.endsWith('.d.ts') ||
      f.endsWith('.map') ||
      f.endsWith('.ts'),
  );
  assert.deepEqual(unwanted, [], `not for the tarball:\n${unwanted.join('\n')}`);
}

async function checkRuntime(red: NodeRedProcess): Promise<void> {
  const sets = (await red.json('/nodes')) as NodeSetInfo[];
  const ours = sets.filter((s) => s.module === pkg.name);
  assert.ok(ours.length > 0, `module ${pkg.name} not loaded:\n${red.log().slice(-3000)}`);
  for (const set of ours) {
    assert.equal(set.err, undefined, `${set.id} failed to load: ${set.err}`);
    assert.equal(set.enabled, true, `${set.id} is disabled`);
  }
  const registered = ours.flatMap((s) => s.types).sort();
  assert.deepEqual(registered, [...nodeTypes].sort());

  for (const type of nodeTypes) {
    for (const icon of iconsOf(type)) {
      const response = await red.request(`/icons/${pkg.name}/${icon}`);
      assert.equal(response.status, 200, `icon ${icon} of ${type}`);
      assert.match(await response.text(), /<svg/);
    }
  }

  const listing = (await red.json(`/library/examples/flows/${pkg.name}`)) as Array<{ fn?: string } | string>;
  const listed = listing.map((entry) => (typeof entry === 'string' ? entry : (entry.fn ?? ''))).sort();
  assert.deepEqual(listed, exampleFiles);
  for (const name of exampleFiles) {
    const flow = (await red.json(`/library/examples/flows/${pkg.name}/${name}`)) as unknown[];
    assert.ok(Array.isArray(flow) && flow.length > 0, `example ${name} is served`);
  }
}

/**
 * The BACnet example deployed in the installed package: its device answers a BACnet client on this Node.js and
 * Node-RED (UDP sockets and the protocol library under each runtime).
 */
async function checkBacnet(red: NodeRedProcess): Promise<void> {
  const flow = JSON.parse(readFileSync(join(root, 'examples', 'bacnet-points.json'), 'utf8')) as Array<
    Record<string, unknown>
  >;
  const tab = { id: 'packtab0000001', type: 'tab', label: 'bacnet' };
  await flowOnFreePorts(flow as Array<{ type: string }>);
  const device = flow.find((n) => n.type === 'prepay-bacnet-device')!;
  const nodes = flow.map((n) => (n.type === 'prepay-bacnet-device' ? n : { ...n, z: tab.id }));
  const deployed = await red.request('/flows', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify([tab, ...nodes]),
  });
  assert.equal(deployed.status, 204);
  const peer = await testClient(Number(device.port));
  try {
    const address = { address: `127.0.0.1:${String(device.port)}` };
    let name: unknown;
    for (let i = 0; i < 60 && name === undefined; i++) {
      try {
        // The example's first tenant's balance is the first analog value.
        name = (await peer.client.readProperty(address, { type: 2, instance: 1 }, 77)).values[0]?.value;
      } catch {
        await sleep(250);
      }
    }
    assert.equal(name, 'T0101.Balance', red.log().slice(-2000));
    const balance = await peer.client.readProperty(address, { type: 2, instance: 1 }, 85);
    assert.equal(balance.values[0]?.value, 42.5);
  } finally {
    peer.close();
  }
}

describe('packaging: the npm tarball in a real Node-RED', function () {
  this.timeout(600_000);
  let tarball: string;
  let packDir: string;
  let userDir: string;

  before(function () {
    packDir = mkdtempSync(join(tmpdir(), 'prepay-tgz-'));
    tarball = packCleanClone(packDir);
    userDir = installedUserDir(tarball);
  });

  after(function () {
    rmSync(packDir, { recursive: true, force: true });
    rmSync(userDir, { recursive: true, force: true });
  });

  it('registers every node, serves icons and lists every example on Node-RED 4.1 (Node 20)', async function () {
    // The package's command, as npm installed it: its link, its shebang and its modules.
    const bin = join(userDir, 'node_modules', '.bin', 'prepay-ledger-backup');
    assert.equal(run(bin, ['--version'], userDir).trim(), pkg.version);
    let refused: { status?: number; stderr?: string } = {};
    try {
      run(bin, ['check', join(userDir, 'no-such-ledger.db')], userDir);
    } catch (error) {
      refused = error as typeof refused;
    }
    assert.equal(refused.status, 1);
    assert.match(String(refused.stderr), /no-such-ledger\.db does not exist/);
    const red = await NodeRedProcess.start({ userDir, flows: [] });
    try {
      await checkRuntime(red);
      await checkBacnet(red);
    } finally {
      await red.stop();
    }
  });

  it('does the same on Node-RED 5 (Node 22)', async function () {
    let paths: { node: string; red: string };
    try {
      const out = run(process.execPath, [join(root, 'scripts', 'fetch-node22.mjs')], root)
        .trim()
        .split('\n');
      paths = JSON.parse(out[out.length - 1]) as { node: string; red: string };
    } catch (error) {
      if (process.env.CI === 'true') throw error;
      console.warn(
        `\n${'!'.repeat(78)}\n!! SKIPPED: Node-RED 5 / Node 22 leg: could not install them (${(error as Error).message.split('\n')[0]})\n!! Under CI=true this is a failure.\n${'!'.repeat(78)}\n`,
      );
      this.skip();
    }
    assert.ok(existsSync(paths.node) && existsSync(paths.red));
    // Native modules (better-sqlite3) are built per Node ABI: install the tarball again under Node 22.
    const userDir22 = mkdtempSync(join(tmpdir(), 'prepay-pack22-'));
    try {
      writeFileSync(
        join(userDir22, 'package.json'),
        JSON.stringify({ name: 'node-red-project', private: true }),
      );
      execFileSync('npm', ['install', '--no-audit', '--no-fund', tarball], {
        cwd: userDir22,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          PATH: `${join(paths.node, '..')}:${process.env.PATH ?? ''}`,
          npm_config_nodedir: '',
        },
      });
      const red = await NodeRedProcess.start({
        userDir: userDir22,
        flows: [],
        nodeBin: paths.node,
        redJs: paths.red,
      });
      try {
        assert.match(red.log(), /Node-RED version: v5\./);
        await checkRuntime(red);
        await checkBacnet(red);
      } finally {
        await red.stop();
      }
    } finally {
      rmSync(userDir22, { recursive: true, force: true });
    }
  });
});
