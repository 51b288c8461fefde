/**
 * The guide's systemd units (docs/examples/*.service, *.timer). systemd cannot run in the test machine, so
 * they are checked two ways: `systemd-analyze verify` (systemd's own parser: unknown keys, bad values,
 * missing programs; skipped loudly where it is not installed) and the keys the guide relies on, read here:
 * the dedicated user, restart on failure, the user directory and settings, the secret's environment file,
 * the file limit, a stop timeout longer than Node-RED's per-node close timeout, and the backup timer.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempUserDir } from '../support/node-red-helper';
import { ROOT } from './guide';

const EXAMPLES = join(ROOT, 'docs', 'examples');
const UNITS = ['node-red.service', 'prepay-backup.service', 'prepay-backup.timer'];
/** Node-RED's default nodeCloseTimeout: how long it waits for each node to close on stop. */
const NODE_CLOSE_TIMEOUT_S = 15;

type Unit = Map<string, Map<string, string[]>>;

/** Sections, keys and every value a key is given (systemd allows a key several times). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `not a key=value line in a section: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

function read(name: string): Unit {
  return parseUnit(readFileSync(join(EXAMPLES, name), 'utf8'));
}

function one(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key);
  assert.ok(values && values.length === 1, `[${section}] ${key} is set once`);
  return values[0] as string;
}

function seconds(value: string): number {
  const match = /^(\d+)(s|min)?$/.exec(value);
  assert.ok(match, `a time span: ${value}`);
  return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
}

describe('site install: the systemd units', function () {
  it('Node-RED: its own user, restart on failure, the user directory, the secret, files, a stop timeout', function () {
    const unit = read('node-red.service');
    assert.equal(one(unit, 'Service', 'User'), 'nodered');
    assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
    assert.ok(seconds(one(unit, 'Service', 'RestartSec')) >= 1);
    const exec = one(unit, 'Service', 'ExecStart').split(/\s+/);
    const arg = (flag: string): string | undefined => exec[exec.indexOf(flag) + 1];
    assert.equal(exec[0], '/usr/bin/node');
    assert.equal(exec[1], '/opt/node-red/node_modules/node-red/red.js');
    assert.equal(arg('--userDir'), '/var/lib/node-red');
    assert.equal(arg('--settings'), '/etc/node-red/settings.js');
    assert.equal(one(unit, 'Service', 'WorkingDirectory'), '/var/lib/node-red');
    assert.ok(one(unit, 'Service', 'ReadWritePaths').split(/\s+/).includes('/var/lib/node-red'));
    assert.equal(one(unit, 'Service', 'EnvironmentFile'), '/etc/node-red/node-red.env');
    assert.match(
      readFileSync(join(EXAMPLES, 'node-red.env'), 'utf8'),
      /^NODE_RED_CREDENTIAL_SECRET=/m,
      'the environment file holds the secret the settings read',
    );
    assert.ok(Number(one(unit, 'Service', 'LimitNOFILE')) >= 16_384);
    const stop = seconds(one(unit, 'Service', 'TimeoutStopSec'));
    assert.ok(
      stop >= 2 * NODE_CLOSE_TIMEOUT_S,
      `TimeoutStopSec ${stop} s leaves room for the nodes to close`,
    );
    assert.equal(one(unit, 'Install', 'WantedBy'), 'multi-user.target');
  });

  it('the backup: the service user, the script as the package ships it, a nightly persistent timer', function () {
    const service = read('prepay-backup.service');
    assert.equal(one(service, 'Service', 'Type'), 'oneshot');
    assert.equal(one(service, 'Service', 'User'), 'nodered');
    const [shell, script] = one(service, 'Service', 'ExecStart').split(/\s+/);
    assert.equal(shell, '/bin/sh');
    const shipped = '/var/lib/node-red/node_modules/node-red-contrib-prepay/';
    assert.ok(script?.startsWith(shipped), script);
    const inPackage = (script as string).slice(shipped.length);
    assert.ok(existsSync(join(ROOT, inPackage)), `${inPackage} exists`);
    const files = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    assert.ok(
      files.some((entry) => inPackage.startsWith(entry)),
      `${inPackage} is in the package's files`,
    );
    const writable = one(service, 'Service', 'ReadWritePaths').split(/\s+/);
    const backupDir = /^PREPAY_BACKUP_DIR=(.+)$/m.exec(
      readFileSync(join(EXAMPLES, 'backup.env'), 'utf8'),
    )?.[1];
    assert.ok(backupDir && writable.includes(backupDir), 'the backup folder is writable');
    assert.match(readFileSync(join(EXAMPLES, 'prepay-backup.sh'), 'utf8'), new RegExp(`:-${backupDir}}`));

    const timer = read('prepay-backup.timer');
    assert.match(one(timer, 'Timer', 'OnCalendar'), /^\*-\*-\* \d\d:\d\d:\d\d$/);
    assert.equal(one(timer, 'Timer', 'Persistent'), 'true');
    assert.equal(one(timer, 'Install', 'WantedBy'), 'timers.target');
  });

  it('pass systemd-analyze verify without a word', function () {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // CI installs it (.ci/run): a missing tool there is a failure, not a skip.
      if (process.env.CI === 'true')
        throw new Error('systemd-analyze is required in CI (apt-get install systemd)');
      console.warn(
        `\n${'!'.repeat(78)}\n!! SKIPPED: systemd-analyze is not installed (apt-get install systemd); the units are\n!! checked by the key tests only.\n${'!'.repeat(78)}\n`,
      );
      this.skip();
    }
    const dir = tempUserDir();
    for (const name of UNITS) {
      let text = readFileSync(join(EXAMPLES, name), 'utf8');
      // verify checks that ExecStart's program exists: where Node.js is elsewhere, point at it.
      if (!existsSync('/usr/bin/node')) text = text.replace('/usr/bin/node', process.execPath);
      writeFileSync(join(dir, name), text);
    }
    copyFileSync(join(EXAMPLES, 'backup.env'), join(dir, 'backup.env'));
    for (const name of UNITS) {
      const result = spawnSync('systemd-analyze', ['verify', join(dir, name)], { encoding: 'utf8' });
      // systemd-analyze reports unknown keys and unparsable values on stderr but still exits 0.
      const said = `${result.stdout}${result.stderr}`
        .split('\n')
        .filter((line) => line.includes(name) || line.includes(dir));
      assert.deepEqual([result.status, said], [0, []], `${name}:\n${result.stderr}`);
    }
    // The check itself catches a misspelt key.
    writeFileSync(
      join(dir, 'broken.service'),
      readFileSync(join(dir, 'node-red.service'), 'utf8').replace('Restart=on-failure', 'Restart=on-failur'),
    );
    const broken = execFileSync(
      'sh',
      ['-c', `systemd-analyze verify ${join(dir, 'broken.service')} 2>&1 || true`],
      {
        encoding: 'utf8',
      },
    );
    assert.match(broken, /broken\.service:\d+: Failed to parse service restart specifier/);
  });
});
