// Which flow `npm start` runs. The reference flow is deployed on the first start only: from then on Node-RED
// runs the flow deployed in the user directory, with whatever was changed and deployed in the editor since.
// `--reset` deploys the reference flow again, and keeps the flow it replaces beside it.
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Puts the flow to run in place as `<userDir>/flows.json` and says what it did, in one line for the console.
 * `reference`: the reference flow's file; `reset`: deploy it even over a deployed flow; `now`: for the name of
 * the copy kept on a reset.
 */
export function prepareFlow({ userDir, reference, reset = false, now = new Date() }) {
  const deployed = join(userDir, 'flows.json');
  if (!existsSync(deployed)) {
    copyFileSync(reference, deployed);
    return 'start: first start: deploying flows/reference.json (later starts keep the flow as deployed then)';
  }
  if (reset) {
    const stamp = now.toISOString().replace(/[:.]/g, '-');
    const kept = `flows.before-reset-${stamp}.json`;
    renameSync(deployed, join(userDir, kept));
    copyFileSync(reference, deployed);
    return `start: --reset: deploying flows/reference.json again; the flow it replaces is kept as .userdir/${kept}`;
  }
  return (
    'start: running the flow deployed in .userdir/flows.json, editor changes included ' +
    '(npm start -- --reset deploys flows/reference.json again)'
  );
}
