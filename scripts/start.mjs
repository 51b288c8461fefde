// `npm start`: runs a real Node-RED 4.1 (the dev dependency) with this package installed from the
// working tree. The first start deploys the reference flow from flows/; later starts run the flow as deployed
// (editor changes included) until `npm start -- --reset` deploys the reference flow again. The user directory
// is .userdir/ (not in git); the editor listens on 127.0.0.1 only. PORT overrides the port (default 1880);
// PREPAY_SPEED runs building time that many times faster (60: an hour a minute), continuing where it was
// after a restart.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareFlow } from './start-flow.mjs';

const { values: args } = parseArgs({ options: { reset: { type: 'boolean', default: false } } });
const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const require = createRequire(import.meta.url);
const userDir = join(root, '.userdir');
const port = Number(process.env.PORT || 1880);
const speed = Number(process.env.PREPAY_SPEED || 1);
if (!(speed > 0)) throw new Error('PREPAY_SPEED must be a positive number');

mkdirSync(join(userDir, 'node_modules'), { recursive: true });
// Node-RED finds add-on packages in the user directory's node_modules: link the working tree there.
const link = join(userDir, 'node_modules', 'node-red-contrib-prepay');
if (!existsSync(link) && !isLink(link)) symlinkSync(root, link, 'dir');
if (!existsSync(join(userDir, 'package.json'))) {
  writeFileSync(
    join(userDir, 'package.json'),
    JSON.stringify({ name: 'prepay-reference-site', private: true }, null, 2),
  );
}
// Fast building time keeps one origin across restarts, so meters never see time go backwards.
const clockFile = join(userDir, 'prepay-clock.json');
let prepay = '';
if (speed !== 1) {
  const saved = existsSync(clockFile) ? JSON.parse(readFileSync(clockFile, 'utf8')) : undefined;
  const origin = saved?.speed === speed ? saved.origin : Date.now();
  writeFileSync(clockFile, JSON.stringify({ speed, origin }));
  prepay = `  prepay: { speed: ${speed}, origin: ${origin} },\n`;
}
writeFileSync(
  join(userDir, 'settings.js'),
  `// Written by scripts/start.mjs on every start.
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || 'prepay-reference-site',
  contextStorage: { default: { module: 'memory' } },
  // A closed site network: no update checks, no prompt about them.
  telemetry: { enabled: false },
  editorTheme: { tours: false },
  logging: { console: { level: 'info', metrics: false, audit: false } },
${prepay}};
`,
);
console.log(prepareFlow({ userDir, reference: join(root, 'flows', 'reference.json'), reset: args.reset }));
console.log('start: editor at http://127.0.0.1:' + port + '/');

const red = spawn(
  process.execPath,
  [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', join(userDir, 'settings.js')],
  {
    stdio: 'inherit',
    // The address the demo's tenant page links start with.
    env: { ...process.env, PREPAY_PUBLIC_URL: process.env.PREPAY_PUBLIC_URL || `http://127.0.0.1:${port}` },
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => red.kill(signal));
red.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));

function isLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
