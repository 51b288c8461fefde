// Compiled tests live in .build/test/ and import the package as '../../dist/...', exactly as the
// TypeScript sources in test/ do; a link .build/dist -> dist makes those paths hold after compiling,
// so the tests run against the real built package rather than a second compiled copy.
import { existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const link = join(root, '.build', 'dist');
mkdirSync(join(root, '.build'), { recursive: true });
if (!existsSync(link) && !isLink(link)) symlinkSync('../dist', link, 'dir');

function isLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
