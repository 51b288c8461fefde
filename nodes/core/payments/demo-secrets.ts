/**
 * Secrets that are published (in the tenant API example, its README and its tests) so the demo works out of
 * the box. Anyone can sign with them, so they are accepted only in demo mode: a site that forgot to set its
 * provider's real secret is refused, not left open.
 */
export const DEMO_WEBHOOK_SECRETS: readonly string[] = ['demo-webhook-secret-replace-me'];

export function isDemoSecret(secret: string): boolean {
  return DEMO_WEBHOOK_SECRETS.includes(secret);
}
