/**
 * The installation guide shows what the tests run: every file it includes equals the file in
 * docs/examples/ (the settings file, the units and the environment files the install tests start), every
 * example file is in it, and the commands the tests run (openssl, hash-pw, pg_dump, pg_restore) are written
 * there with the same options. The README's Install section points to it and the changelog has its sections.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guideCommand, guideFiles, guideShellLines, guideText, OPENSSL_SELF_SIGNED, ROOT } from './guide';

describe('site install guide (docs/INSTALL.md)', function () {
  it('shows each included file exactly as it is in docs/examples', function () {
    const shown = guideFiles();
    assert.deepEqual(
      shown.map((f) => f.file),
      [
        'docs/examples/settings.js',
        'docs/examples/site.json',
        'docs/examples/dashboard-socket-guard.js',
        'docs/examples/node-red.env',
        'docs/examples/node-red.service',
        'docs/examples/prepay-backup.service',
        'docs/examples/prepay-backup.timer',
        'docs/examples/backup.env',
      ],
    );
    for (const { file, text } of shown) assert.equal(text, readFileSync(join(ROOT, file), 'utf8'), file);
  });

  it('names every example file', function () {
    const guide = guideText();
    const missing = readdirSync(join(ROOT, 'docs', 'examples')).filter((file) => !guide.includes(file));
    assert.deepEqual(missing, []);
  });

  it('writes the commands the tests run, with their options', function () {
    const lines = guideShellLines();
    const openssl = ['openssl', ...OPENSSL_SELF_SIGNED].join(' ');
    assert.ok(
      lines.some((line) => line.includes(openssl)),
      `the guide makes its certificate with: ${openssl}`,
    );
    assert.ok(lines.some((line) => line.endsWith('node-red admin hash-pw')));
    // The backup script runs the guide's pg_dump line, and the PostgreSQL test the guide's pg_restore options.
    const script = readFileSync(join(ROOT, 'docs', 'examples', 'prepay-backup.sh'), 'utf8');
    const pgDump = lines.find((line) => line.startsWith('pg_dump '));
    assert.ok(pgDump && script.includes(`  ${pgDump}\n`), `the script runs: ${pgDump}`);
    assert.deepEqual(guideCommand('pg_restore'), [
      'pg_restore',
      '--no-owner',
      '--exit-on-error',
      '--single-transaction',
    ]);
    assert.ok(lines.some((line) => /prepay-ledger-backup restore \S+ \S+$/.test(line)));
  });

  it('is linked from the README and the changelog has the sections others add to', function () {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const install = readme.slice(
      readme.indexOf('## Install'),
      readme.indexOf('\n## ', readme.indexOf('## Install') + 1),
    );
    assert.match(install, /\(docs\/INSTALL\.md\)/);
    const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
    assert.match(changelog, /^## \[Unreleased\]$/m);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    assert.match(
      changelog,
      new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d\\d-\\d\\d$`, 'm'),
    );
  });
});
