// Writes schemas/tariff.schema.json from the rules the tariff node checks (nodes/core/tariff/schema.ts),
// so the published schema and the runtime cannot drift. Run after `npm run build`:
//   node scripts/build-tariff-schema.mjs          writes the file
//   node scripts/build-tariff-schema.mjs --check  exits 1 when the committed file differs
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { buildTariffSchema } = require(join(root, 'dist', 'nodes', 'core', 'tariff', 'schema.js'));
const prettier = await import('prettier');

const target = join(root, 'schemas', 'tariff.schema.json');
const options = { ...(await prettier.resolveConfig(target)), filepath: target };
const text = await prettier.format(JSON.stringify(buildTariffSchema()), options);
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== text) {
    console.error(
      'schemas/tariff.schema.json is not what the rules build: run node scripts/build-tariff-schema.mjs',
    );
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
}
