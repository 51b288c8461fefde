/**
 * A prepay-ledger node as the editor saves it with its default settings spelt out (account policy in minor
 * units, rounding, state output, no snapshots), for the flows tests deploy. `fields` gives the node its id, store,
 * wires and whatever a test sets otherwise.
 */
export function ledgerNodeConfig(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(
    {
      type: 'prepay-ledger',
      lowThreshold: '1000',
      lowHysteresis: '500',
      emergencyCredit: '0',
      emergencyMode: 'off',
      reconnectAbove: '100',
      debtRecoveryShare: '0',
      debtRecoveryCap: '0',
      debtRecoveryPerDay: '0',
      maxBalance: '0',
      maxTopup: '0',
      standingWhileOff: 'accrue-debt',
      rounding: 'half-even',
      stateOutput: 'change',
      snapshotMinutes: '0',
      maxQueue: '10000',
      timezone: 'UTC',
      wires: [[], [], []],
    },
    fields,
  );
}
