/**
 * Who may act as an operator: our copy of Node-RED's permission rule, used only to tell 403 from 401, agrees
 * with Node-RED's own (the one its admin API enforces) on every scope a site would write, and the identity
 * recorded for an action is the signed-in user's name.
 */
import assert from 'node:assert/strict';
import type { Request } from 'express';
import {
  hasPermission,
  NO_LOGIN,
  OPERATOR_PERMISSION,
  operatorOf,
} from '../../dist/nodes/shared/operator-access';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeRed = require('@node-red/editor-api/lib/auth/permissions.js') as {
  hasPermission(scope: unknown, permission: string): boolean;
};

describe('operator access', function () {
  it("decides every scope as Node-RED's own permission check does", function () {
    const scopes: unknown[] = [
      '*',
      'read',
      'write',
      '*.read',
      '*.write',
      'prepay.write',
      'prepay.read',
      'prepay-ledger.read',
      'flows.write',
      '',
      [],
      ['read'],
      ['read', 'prepay.write'],
      ['flows.read', 'prepay.write'],
      ['read', 'flows.write'],
      ['*'],
    ];
    const permissions = [OPERATOR_PERMISSION, 'prepay.read', 'prepay-ledger.read', 'flows.write', ''];
    for (const scope of scopes)
      for (const permission of permissions)
        assert.equal(
          hasPermission(scope, permission),
          nodeRed.hasPermission(scope, permission),
          `${JSON.stringify(scope)} for ${JSON.stringify(permission)}`,
        );
    // The operator role the install guide describes: acts, cannot deploy.
    assert.equal(hasPermission(['read', 'prepay.write'], 'prepay.write'), true);
    assert.equal(hasPermission(['read', 'prepay.write'], 'flows.write'), false);
    assert.equal(hasPermission('read', 'prepay.write'), false);
  });

  it('records the signed-in user, "anonymous" for a default user, and says so when there is no login', function () {
    const req = (user?: unknown): Request => ({ user }) as unknown as Request;
    assert.equal(operatorOf(req({ username: 'alice', permissions: ['read', 'prepay.write'] })), 'alice');
    assert.equal(operatorOf(req({ anonymous: true, permissions: '*' })), 'anonymous');
    assert.equal(operatorOf(req()), NO_LOGIN);
  });
});
