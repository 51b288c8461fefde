// The ledger accepted the tenant's access token for the account: the endpoint's own command goes to the
// ledger, a top-up to the demo payment provider. (A refused token never gets here: the ledger's refusal goes
// to the "ledger refusals" catch, answered 401.)
// Outputs: 1 the endpoint's ledger command, 2 the demo provider.
msg.tenantApi = msg.tenantEndpoint;
msg.payload = msg.tenantRequest;
delete msg.tenantRequest;
return msg.tenantEndpoint === 'topup' ? [null, msg] : [msg, null];
