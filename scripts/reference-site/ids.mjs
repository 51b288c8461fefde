// Node ids of the reference site: stable hashes of readable keys, so regenerating the flow keeps every id
// (state files in the user directory are named by node id) and a key names its node in the generator.
import { createHash } from 'node:crypto';

export function id(key) {
  return createHash('sha1').update(`prepay-reference:${key}`).digest('hex').slice(0, 16);
}

export const TAB = {
  building: id('tab:building'),
  tenants: id('tab:tenants'),
  dashboard: id('tab:dashboard'),
  bems: id('tab:bems'),
  loadcontrol: id('tab:loadcontrol'),
};
