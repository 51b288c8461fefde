/**
 * `npm start` deploys the reference flow on the first start only: a restart runs the flow as deployed, editor
 * changes included, and `npm start -- --reset` deploys the reference flow again, keeping the one it replaces.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempUserDir } from '../support/node-red-helper';

const root = join(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareFlow } = require(join(root, 'scripts', 'start-flow.mjs')) as {
  prepareFlow(options: { userDir: string; reference: string; reset?: boolean; now?: Date }): string;
};

describe('npm start: which flow it runs', function () {
  const reference = join(root, 'flows', 'reference.json');

  it('deploys the reference flow on the first start, keeps editor changes on later starts, and resets when asked', function () {
    const userDir = tempUserDir();
    const deployed = join(userDir, 'flows.json');
    assert.match(prepareFlow({ userDir, reference }), /first start: deploying flows\/reference\.json/);
    assert.equal(readFileSync(deployed, 'utf8'), readFileSync(reference, 'utf8'));

    // The operator changes the flow in the editor and deploys: Node-RED writes flows.json.
    const edited = JSON.parse(readFileSync(deployed, 'utf8')) as Array<Record<string, unknown>>;
    edited.push({ id: 'operatorsnote01', type: 'comment', z: edited[0]!.id, name: 'added in the editor' });
    const editedText = JSON.stringify(edited);
    writeFileSync(deployed, editedText);

    const restart = prepareFlow({ userDir, reference });
    assert.match(restart, /running the flow deployed in \.userdir\/flows\.json, editor changes included/);
    assert.match(restart, /npm start -- --reset/);
    assert.equal(readFileSync(deployed, 'utf8'), editedText, 'a restart keeps the deployed flow');

    const reset = prepareFlow({
      userDir,
      reference,
      reset: true,
      now: new Date(Date.UTC(2026, 11, 6, 3, 30)),
    });
    assert.match(reset, /--reset: deploying flows\/reference\.json again/);
    assert.equal(readFileSync(deployed, 'utf8'), readFileSync(reference, 'utf8'));
    const kept = readdirSync(userDir).filter((f) => f.startsWith('flows.before-reset-'));
    assert.deepEqual(kept, ['flows.before-reset-2026-12-06T03-30-00-000Z.json']);
    assert.equal(readFileSync(join(userDir, kept[0]!), 'utf8'), editedText, 'the replaced flow is kept');
    assert.match(reset, new RegExp(kept[0]!.replace(/\./g, '\\.')));
  });
});
