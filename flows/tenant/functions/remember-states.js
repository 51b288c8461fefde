// Keeps each account's latest state for the balance endpoint. Wire prepay-forecast's output here (instead of
// the ledger's second output directly) and the states carry daysLeft.
const state = msg.payload;
if (!state || typeof state.accountId !== 'string') return null;
const states = flow.get('tenantStates') || {};
states[state.accountId] = state;
flow.set('tenantStates', states);
return null;
