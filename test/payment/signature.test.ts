/**
 * Webhook signatures (nodes/core/payments/signature.ts) against an independent computation with
 * node:crypto and against `openssl dgst`: good, wrong secret, tampered body, missing and malformed headers,
 * rotated secrets on either side, timestamps too old and too far in the future.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  computeSignature,
  parseSignatureHeader,
  signatureHeader,
  verifySignature,
} from '../../dist/nodes/core/payments/signature';

const SECRET = 'whsec_test_5f2c0e';
const BODY = '{"accountId":"T0101","amount":1250,"currency":"GBP","reference":"pi_3001"}';
const T = 1_767_225_600; // 2026-01-01T00:00:00Z
const NOW = T * 1000 + 20_000;

function hmac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

function check(
  header: string | undefined,
  options: Partial<{ body: string | Buffer; secrets: string[]; now: number }> = {},
) {
  return verifySignature({
    header,
    rawBody: options.body ?? BODY,
    secrets: options.secrets ?? [SECRET],
    nowMs: options.now ?? NOW,
    toleranceSeconds: 300,
  });
}

describe('payments: webhook signatures', function () {
  it('computes HMAC-SHA256 over "<t>.<raw body>" in hex, as node:crypto and openssl do', function () {
    const expected = hmac(SECRET, `${T}.${BODY}`);
    assert.equal(computeSignature(SECRET, T, BODY), expected);
    assert.equal(computeSignature(SECRET, T, Buffer.from(BODY)), expected);
    if (spawnSync('openssl', ['version']).error === undefined) {
      const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', SECRET], {
        input: `${T}.${BODY}`,
      }).toString();
      assert.match(out, new RegExp(`${expected}\\s*$`));
    }
  });

  it('accepts a good signature and reports its timestamp and matched value', function () {
    const v1 = hmac(SECRET, `${T}.${BODY}`);
    assert.deepEqual(check(`t=${T},v1=${v1}`), { ok: true, timestamp: T, signature: v1 });
    // Upper-case hex and spaces after commas are the same signature.
    assert.equal(check(`t=${T}, v1=${v1.toUpperCase()}`).ok, true);
  });

  it('refuses a signature made with another secret', function () {
    const result = check(signatureHeader('whsec_other', T, BODY));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'bad-signature');
  });

  it('refuses a tampered body, even one that parses to the same JSON', function () {
    const header = signatureHeader(SECRET, T, BODY);
    const tampered = BODY.replace('1250', '125000');
    assert.equal(!check(header, { body: tampered }).ok && 'refused', 'refused');
    // Re-serialised JSON (another key order or spacing) is not the signed bytes.
    const reserialised = JSON.stringify(JSON.parse(BODY), null, 1);
    const result = check(header, { body: reserialised });
    assert.equal(!result.ok && result.reason, 'bad-signature');
  });

  it('refuses a missing or empty header', function () {
    for (const header of [undefined, '', '   ']) {
      const result = check(header);
      assert.equal(!result.ok && result.reason, 'missing-header', String(header));
    }
  });

  it('refuses malformed headers and says what is wrong', function () {
    const v1 = hmac(SECRET, `${T}.${BODY}`);
    const cases: Array<[string, RegExp]> = [
      [`v1=${v1}`, /no timestamp/],
      [`t=${T}`, /no v1 signature/],
      [`t=${T},v1=abc123`, /no v1 signature/],
      [`t=${T},v1=${v1}zz`, /no v1 signature/],
      [`t=soon,v1=${v1}`, /whole Unix seconds/],
      [`t=${T}.5,v1=${v1}`, /whole Unix seconds/],
      [`t=-${T},v1=${v1}`, /whole Unix seconds/],
      [`t=${T},t=${T + 1},v1=${v1}`, /more than one timestamp/],
      [`sha256=${v1}`, /no timestamp/],
      [`t=${T},v1=${'a'.repeat(5000)}`, /longer than 4096/],
    ];
    for (const [header, message] of cases) {
      const result = check(header);
      assert.equal(!result.ok && result.reason, 'malformed-header', header);
      assert.match(!result.ok ? result.message : '', message, header);
    }
  });

  it('ignores unknown schemes beside v1', function () {
    const v1 = hmac(SECRET, `${T}.${BODY}`);
    assert.equal(check(`t=${T},v0=${'0'.repeat(64)},v1=${v1}`).ok, true);
    assert.deepEqual(parseSignatureHeader(`t=${T},v0=x,v1=${v1}`), { timestamp: T, signatures: [v1] });
  });

  it('accepts any of several v1 values: a provider rotating its secret signs with both', function () {
    const header = signatureHeader(['whsec_new', 'whsec_old'], T, BODY);
    assert.equal((header.match(/v1=/g) ?? []).length, 2);
    assert.equal(check(header, { secrets: ['whsec_old'] }).ok, true);
    assert.equal(check(header, { secrets: ['whsec_new'] }).ok, true);
    assert.equal(check(header, { secrets: ['whsec_unrelated'] }).ok, false);
  });

  it('accepts any of several secrets on our side: the new and the old one during a rotation', function () {
    const old = signatureHeader('whsec_old', T, BODY);
    const fresh = signatureHeader('whsec_new', T, BODY);
    assert.equal(check(old, { secrets: ['whsec_new', 'whsec_old'] }).ok, true);
    assert.equal(check(fresh, { secrets: ['whsec_new', 'whsec_old'] }).ok, true);
    assert.equal(check(old, { secrets: ['whsec_new'] }).ok, false);
    // An empty secret never verifies anything.
    assert.equal(check(signatureHeader('', T, BODY), { secrets: [''] }).ok, false);
  });

  it('refuses a timestamp older than the window, and one too far in the future', function () {
    const header = signatureHeader(SECRET, T, BODY);
    assert.equal(check(header, { now: (T + 300) * 1000 }).ok, true, 'exactly 300 s old is inside');
    const old = check(header, { now: (T + 301) * 1000 });
    assert.equal(!old.ok && old.reason, 'stale');
    assert.match(!old.ok ? old.message : '', /301 s old, more than the 300 s allowed/);
    assert.equal(check(header, { now: (T - 300) * 1000 }).ok, true, 'exactly 300 s ahead is inside');
    const future = check(header, { now: (T - 301) * 1000 });
    assert.equal(!future.ok && future.reason, 'future');
  });

  it('checks the signature before the timestamp: a stale forgery is a bad signature', function () {
    const result = check(signatureHeader('whsec_other', T - 3600, BODY));
    assert.equal(!result.ok && result.reason, 'bad-signature');
  });
});
