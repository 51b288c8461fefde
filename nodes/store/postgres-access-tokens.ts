/**
 * Tenant access tokens in the shared PostgreSQL ledger (table tenant_tokens, schema version 4), on the ledger
 * store's pool: every gateway sees a revocation at once.
 */
import type { Pool } from 'pg';
import { AccessTokenRecord, AccessTokenStore, TokenSelection } from '../core/tenant/access-tokens';
import { tokenFromRow } from './sqlite-access-tokens';

export class PostgresAccessTokens implements AccessTokenStore {
  constructor(private readonly pool: Pool) {}

  async insertToken(record: AccessTokenRecord, replacing?: { at: number; by: string }): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const revoked = replacing
        ? ((
            await client.query(
              'UPDATE tenant_tokens SET revoked_at = $1, revoked_by = $2 WHERE account_id = $3 AND revoked_at IS NULL',
              [replacing.at, replacing.by, record.accountId],
            )
          ).rowCount ?? 0)
        : 0;
      await client.query(
        `INSERT INTO tenant_tokens (token_id, account_id, token_hash, label, issued_at, issued_by)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [record.tokenId, record.accountId, record.hash, record.label, record.issuedAt, record.issuedBy],
      );
      await client.query('COMMIT');
      return revoked;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async tokenByHash(hash: string): Promise<AccessTokenRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM tenant_tokens WHERE token_hash = $1', [hash]);
    return rows[0] ? tokenFromRow(rows[0] as Record<string, unknown>) : undefined;
  }

  async tokensOf(accountId: string): Promise<AccessTokenRecord[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM tenant_tokens WHERE account_id = $1 ORDER BY issued_at, token_id',
      [accountId],
    );
    return rows.map((row) => tokenFromRow(row as Record<string, unknown>));
  }

  async revokeTokens(which: TokenSelection, at: number, by: string): Promise<number> {
    const result =
      'tokenId' in which
        ? await this.pool.query(
            'UPDATE tenant_tokens SET revoked_at = $1, revoked_by = $2 WHERE token_id = $3 AND ($4::text IS NULL OR account_id = $4) AND revoked_at IS NULL',
            [at, by, which.tokenId, which.accountId ?? null],
          )
        : await this.pool.query(
            'UPDATE tenant_tokens SET revoked_at = $1, revoked_by = $2 WHERE account_id = $3 AND revoked_at IS NULL',
            [at, by, which.accountId],
          );
    return result.rowCount ?? 0;
  }
}
