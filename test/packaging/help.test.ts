/**
 * Each node's help as Node-RED's core nodes write theirs: a node with inputs documents them under Inputs, one with
 * outputs under Outputs, and the sections come in the core nodes' order (Inputs, Outputs, Details, References),
 * whatever sections of its own a node adds between them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const ORDER = ['Inputs', 'Outputs', 'Details', 'References'];

interface NodeHelp {
  type: string;
  inputs: number;
  outputs: number;
  sections: string[];
}

function helps(): NodeHelp[] {
  const found: NodeHelp[] = [];
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const locales = join(root, 'nodes', dir, 'locales', 'en-US');
    let files: string[];
    try {
      files = readdirSync(locales).filter((f) => f.endsWith('.html'));
    } catch {
      continue;
    }
    for (const file of files) {
      const type = file.replace(/\.html$/, '');
      const editor = readFileSync(join(root, 'nodes', dir, file), 'utf8');
      const count = (key: string) => Number(new RegExp(`\\b${key}:\\s*(\\d+)`).exec(editor)?.[1] ?? 0);
      const help = readFileSync(join(locales, file), 'utf8');
      const sections = [...help.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1]!.trim());
      found.push({ type, inputs: count('inputs'), outputs: count('outputs'), sections });
    }
  }
  return found;
}

describe('node help', function () {
  const all = helps();

  it('finds every node of the package', function () {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      'node-red': { nodes: Record<string, string> };
    };
    assert.deepEqual(all.map((h) => h.type).sort(), Object.keys(pkg['node-red'].nodes).sort());
  });

  for (const help of all) {
    it(`${help.type}: Inputs and Outputs where the node has them, sections in the core nodes' order`, function () {
      if (help.inputs > 0) assert.ok(help.sections.includes('Inputs'), `${help.type} has no Inputs section`);
      if (help.outputs > 0)
        assert.ok(help.sections.includes('Outputs'), `${help.type} has no Outputs section`);
      const standard = help.sections.filter((s) => ORDER.includes(s));
      assert.deepEqual(
        standard,
        [...standard].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)),
        `${help.type}: ${help.sections.join(', ')}`,
      );
    });
  }
});
