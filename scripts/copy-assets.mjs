// Copies what Node-RED loads beside each node's compiled .js: the editor .html, the locales/
// folder and the icons/ folder (Node-RED resolves both relative to the node file, not the package).
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const nodesDir = join(root, 'nodes');
let copied = 0;
for (const name of readdirSync(nodesDir)) {
  const source = join(nodesDir, name);
  if (!statSync(source).isDirectory()) continue;
  const target = join(root, 'dist', 'nodes', name);
  const htmlFiles = readdirSync(source).filter((file) => file.endsWith('.html'));
  if (htmlFiles.length === 0) continue;
  for (const file of htmlFiles) cpSync(join(source, file), join(target, file));
  if (existsSync(join(source, 'locales')))
    cpSync(join(source, 'locales'), join(target, 'locales'), { recursive: true });
  cpSync(join(root, 'icons'), join(target, 'icons'), { recursive: true });
  copied += 1;
}
console.log(`copy-assets: editor files, locales and icons copied for ${copied} node folder(s)`);
