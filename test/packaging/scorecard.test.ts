/**
 * What the Node-RED flow library's scorecard checks, checked on every build so a release never
 * loses points: licence, repository, name, keywords, the Node-RED and Node.js versions supported,
 * examples for every node, and a small dependency set.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  validRange(range: string): string | null;
};

const root = join(__dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  license?: string;
  repository?: { url?: string } | string;
  keywords?: string[];
  engines?: { node?: string };
  files?: string[];
  dependencies?: Record<string, string>;
  'node-red': { version: string; nodes: Record<string, string> };
};

/** The Node-RED 5 release current when this was written, and the 4.1 line we also test on. */
const NODE_RED_RELEASES = ['5.0.7', '4.1.8', '4.0.0'];

function isConfigNode(type: string): boolean {
  const html = readFileSync(
    join(root, 'nodes', pkg['node-red'].nodes[type].replace(/^dist\/nodes\//, '').replace(/\.js$/, '.html')),
    'utf8',
  );
  return /category:\s*'config'/.test(html);
}

describe('flow library scorecard', function () {
  it('has a licence, a repository and a README', function () {
    assert.ok(pkg.license && pkg.license.length > 0);
    assert.ok(typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url);
    assert.ok(existsSync(join(root, 'README.md')));
    assert.ok(existsSync(join(root, 'LICENSE')));
  });

  it('is named and tagged for Node-RED', function () {
    assert.match(pkg.name, /^(node-red-contrib-|@[^/]+\/)/);
    assert.ok(pkg.keywords?.includes('node-red'));
  });

  it('declares a Node-RED version that the current 4.x and 5.x releases satisfy', function () {
    assert.ok(semver.validRange(pkg['node-red'].version));
    for (const release of NODE_RED_RELEASES)
      assert.ok(semver.satisfies(release, pkg['node-red'].version), release);
  });

  it('admits Node 20 and Node 22.9', function () {
    assert.ok(pkg.engines?.node);
    for (const version of ['20.0.0', '22.9.0'])
      assert.ok(semver.satisfies(version, pkg.engines.node), version);
  });

  it('uses every non-config node in some example flow', function () {
    const examples = readdirSync(join(root, 'examples'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(root, 'examples', f), 'utf8')) as Array<{ type: string }>);
    const used = new Set(examples.flat().map((n) => n.type));
    for (const type of Object.keys(pkg['node-red'].nodes).filter((t) => !isConfigNode(t))) {
      assert.ok(used.has(type), `no example uses ${type}`);
    }
  });

  it('has at most 6 runtime dependencies', function () {
    assert.ok(
      Object.keys(pkg.dependencies ?? {}).length <= 6,
      Object.keys(pkg.dependencies ?? {}).join(', '),
    );
  });

  it('publishes the built nodes and examples, not the sources or tests', function () {
    const files = pkg.files ?? [];
    assert.ok(files.some((f) => f.startsWith('dist')));
    assert.ok(files.some((f) => f.startsWith('examples')));
    assert.ok(!files.some((f) => /^(test|\.build|nodes)\b/.test(f)));
  });
});
