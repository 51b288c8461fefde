/**
 * `npm run bench [-- filter]`: runs every bench/*.bench.ts (compiled into .build/bench), prints one
 * table, and writes the same figures as JSON to bench/results.json (not committed).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchModule, BenchResult } from './harness';

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

async function main(): Promise<void> {
  const filter = process.argv[2];
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => !filter || f.includes(filter))
    .sort();
  const results: Array<BenchResult & { file: string }> = [];
  for (const file of files) {
    process.stdout.write(`running ${file}...\n`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(join(__dirname, file)) as BenchModule;
    for (const result of await module.run()) results.push({ ...result, file });
  }
  const rows = results.map((r) => [
    r.name,
    format(r.value),
    r.unit,
    r.baseline,
    format(r.baselineValue),
    `${r.ratio.toFixed(2)}x`,
    r.note ?? '',
  ]);
  const header = ['benchmark', 'value', 'unit', 'baseline', 'baseline value', 'ratio', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ');
  process.stdout.write(
    `\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n${rows.map(line).join('\n')}\n`,
  );
  const out = join(__dirname, '..', '..', 'bench', 'results.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nwrote ${results.length} figures to bench/results.json\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
