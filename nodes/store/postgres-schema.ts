/**
 * Versioned schema of the shared PostgreSQL ledger. Migrations run under an advisory lock, so
 * several gateways starting together migrate once. `prepay_apply` applies a batch of prepared
 * postings in ONE round trip: per posting, in its own subtransaction, it records the reference
 * (a duplicate returns the stored result), moves the account only from the version the posting
 * was prepared from (else "stale": the gateway reloads and retries), and appends the entries.
 */
export const POSTGRES_MIGRATIONS: Array<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE accounts (
        id text PRIMARY KEY,
        tenant text NOT NULL,
        name text NOT NULL,
        currency text NOT NULL,
        utilities jsonb NOT NULL,
        status text NOT NULL,
        balance bigint NOT NULL,
        debt bigint NOT NULL,
        emergency_active boolean NOT NULL,
        charge_sub_total numeric(38, 0) NOT NULL,
        state text NOT NULL,
        state_changed_at bigint NOT NULL,
        seq integer NOT NULL,
        last_hash text NOT NULL,
        version integer NOT NULL,
        policy jsonb NOT NULL,
        opened_at bigint NOT NULL,
        closed_at bigint
      );
      CREATE TABLE postings (
        reference text PRIMARY KEY,
        command text NOT NULL,
        account_id text,
        reverses text UNIQUE,
        result jsonb NOT NULL,
        posted_at bigint NOT NULL
      );
      CREATE TABLE entries (
        account_id text NOT NULL,
        seq integer NOT NULL,
        kind text NOT NULL,
        reference text NOT NULL,
        part integer NOT NULL,
        amount bigint NOT NULL,
        debt_delta bigint NOT NULL,
        balance_after bigint NOT NULL,
        debt_after bigint NOT NULL,
        currency text NOT NULL,
        posted_at bigint NOT NULL,
        effective_at bigint NOT NULL,
        meta jsonb NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        PRIMARY KEY (account_id, seq)
      );
      CREATE INDEX entries_reference ON entries (reference);
      CREATE INDEX entries_posted_at ON entries (posted_at);
      CREATE TABLE bindings (
        meter_id text NOT NULL,
        account_id text NOT NULL,
        valid_from bigint NOT NULL,
        valid_to bigint,
        reference text NOT NULL,
        PRIMARY KEY (meter_id, valid_from)
      );
      CREATE UNIQUE INDEX bindings_current ON bindings (meter_id) WHERE valid_to IS NULL;
      CREATE INDEX bindings_account ON bindings (account_id);

      CREATE FUNCTION prepay_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        RAISE EXCEPTION 'ledger entries are append-only';
      END $fn$;
      CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION prepay_entries_append_only();
      -- Row triggers do not see TRUNCATE, which would empty the ledger in one statement.
      CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_entries_append_only();

      CREATE FUNCTION prepay_apply(batch jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
      DECLARE
        p jsonb;
        a jsonb;
        b jsonb;
        existing jsonb;
        n integer;
        outcomes jsonb := '[]'::jsonb;
        -- Accounts with a posting not applied in this batch: later postings for them were prepared
        -- on top of it, so they are stale even if another writer moved the account to the same version
        -- (a duplicate is still answered as one, so a replayed backlog settles in one round).
        broken text[] := '{}';
      BEGIN
        -- Lock the batch's accounts up front, in one order for every writer: gateways posting to the
        -- same accounts then queue for them instead of deadlocking.
        PERFORM 1 FROM accounts
          WHERE id IN (SELECT DISTINCT value->'account'->>'id' FROM jsonb_array_elements(batch))
          ORDER BY id FOR UPDATE;
        FOR p IN SELECT value FROM jsonb_array_elements(batch) LOOP
          a := p->'account';
          IF jsonb_typeof(a) = 'object' AND (a->>'id') = ANY (broken) THEN
            SELECT result INTO existing FROM postings WHERE reference = p->>'reference';
            IF FOUND THEN
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'duplicate', 'result', existing));
            ELSE
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'stale'));
            END IF;
            CONTINUE;
          END IF;
          BEGIN
            INSERT INTO postings (reference, command, account_id, reverses, result, posted_at)
              VALUES (p->>'reference', p->>'command', p->>'accountId', p->>'reverses', p->'result', (p->>'postedAt')::bigint)
              ON CONFLICT (reference) DO NOTHING;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n = 0 THEN
              SELECT result INTO existing FROM postings WHERE reference = p->>'reference';
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'duplicate', 'result', existing));
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
              CONTINUE;
            END IF;
            IF a IS NOT NULL AND jsonb_typeof(a) = 'object' THEN
              IF (p->>'expectedVersion')::integer = 0 THEN
                INSERT INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
                  charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
                VALUES (a->>'id', a->>'tenant', a->>'name', a->>'currency', a->'utilities', a->>'status',
                  (a->>'balance')::bigint, (a->>'debt')::bigint, (a->>'emergencyActive')::boolean,
                  (a->>'chargeSubTotal')::numeric, a->>'state', (a->>'stateChangedAt')::bigint, (a->>'seq')::integer,
                  a->>'lastHash', (a->>'version')::integer, a->'policy', (a->>'openedAt')::bigint, (a->>'closedAt')::bigint);
              ELSE
                UPDATE accounts SET status = a->>'status', balance = (a->>'balance')::bigint, debt = (a->>'debt')::bigint,
                  emergency_active = (a->>'emergencyActive')::boolean, charge_sub_total = (a->>'chargeSubTotal')::numeric,
                  state = a->>'state', state_changed_at = (a->>'stateChangedAt')::bigint, seq = (a->>'seq')::integer,
                  last_hash = a->>'lastHash', version = (a->>'version')::integer, policy = a->'policy',
                  closed_at = (a->>'closedAt')::bigint
                WHERE id = a->>'id' AND version = (p->>'expectedVersion')::integer;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n = 0 THEN
                  RAISE EXCEPTION 'stale' USING ERRCODE = 'PP001';
                END IF;
              END IF;
            END IF;
            b := p->'bindings'->'add';
            IF b IS NOT NULL AND jsonb_typeof(b) = 'object' THEN
              INSERT INTO bindings (meter_id, account_id, valid_from, valid_to, reference)
                VALUES (b->>'meterId', b->>'accountId', (b->>'from')::bigint, NULL, b->>'reference');
            END IF;
            b := p->'bindings'->'close';
            IF b IS NOT NULL AND jsonb_typeof(b) = 'object' THEN
              UPDATE bindings SET valid_to = (b->>'at')::bigint
                WHERE meter_id = b->>'meterId' AND valid_to IS NULL AND valid_from <= (b->>'at')::bigint;
              GET DIAGNOSTICS n = ROW_COUNT;
              IF n = 0 THEN
                RAISE EXCEPTION 'meter "%" has no current binding to end', b->>'meterId' USING ERRCODE = 'PP002';
              END IF;
            END IF;
            INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
                currency, posted_at, effective_at, meta, prev_hash, hash)
              SELECT e.account_id, e.seq, e.kind, e.reference, e.part, e.amount, e.debt_delta, e.balance_after,
                e.debt_after, e.currency, e.posted_at, e.effective_at, e.meta, e.prev_hash, e.hash
              FROM jsonb_to_recordset(p->'entries') AS e(account_id text, seq integer, kind text, reference text,
                part integer, amount bigint, debt_delta bigint, balance_after bigint, debt_after bigint, currency text,
                posted_at bigint, effective_at bigint, meta jsonb, prev_hash text, hash text);
            outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'applied'));
          EXCEPTION
            WHEN SQLSTATE 'PP001' THEN
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'stale'));
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
            WHEN SQLSTATE 'PP002' OR unique_violation THEN
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'rejected', 'reason', SQLERRM));
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
          END;
        END LOOP;
        RETURN outcomes;
      END $fn$;
    `,
  },
  {
    version: 2,
    sql: `
      -- The supply audit log: relay commands and operator overrides, append-only like the entries.
      CREATE TABLE supply_audit (
        reference text PRIMARY KEY,
        at bigint NOT NULL,
        kind text NOT NULL,
        meter_id text NOT NULL,
        account_id text,
        action text,
        reason text NOT NULL,
        policy text,
        actor text,
        detail jsonb NOT NULL
      );
      CREATE INDEX supply_audit_meter ON supply_audit (meter_id, at);
      CREATE TRIGGER supply_audit_append_only BEFORE UPDATE OR DELETE ON supply_audit
        FOR EACH ROW EXECUTE FUNCTION prepay_entries_append_only();
      CREATE TRIGGER supply_audit_no_truncate BEFORE TRUNCATE ON supply_audit
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_entries_append_only();
    `,
  },
  {
    version: 3,
    sql: `
      -- Tamper evidence beyond the chain. One trigger function for every protected table, its
      -- message given by the trigger.
      CREATE FUNCTION prepay_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0];
      END $fn$;
      -- Postings records are what makes a retry a duplicate: deleting one would let a retried payment
      -- be credited again, so they are append-only like the entries.
      CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
        FOR EACH ROW EXECUTE FUNCTION prepay_refuse_change('ledger postings are append-only');
      CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_refuse_change('ledger postings are append-only');
      -- Accounts change with every posting but are never removed (closing is an entry).
      CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION prepay_refuse_change('ledger accounts are never deleted');
      CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_refuse_change('ledger accounts are never deleted');
      -- Bindings are the history of which account pays for a meter: never deleted, and the one change
      -- allowed is the move-out, which sets valid_to once (not before valid_from) and nothing else.
      CREATE TRIGGER bindings_no_delete BEFORE DELETE ON bindings
        FOR EACH ROW EXECUTE FUNCTION prepay_refuse_change('meter bindings are history: they are never deleted');
      CREATE TRIGGER bindings_no_truncate BEFORE TRUNCATE ON bindings
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_refuse_change('meter bindings are history: they are never deleted');
      CREATE TRIGGER bindings_close_only BEFORE UPDATE ON bindings FOR EACH ROW
        WHEN (OLD.valid_to IS NOT NULL OR NEW.valid_to IS NULL OR NEW.valid_to < OLD.valid_from
          OR NEW.meter_id IS DISTINCT FROM OLD.meter_id OR NEW.account_id IS DISTINCT FROM OLD.account_id
          OR NEW.valid_from IS DISTINCT FROM OLD.valid_from OR NEW.reference IS DISTINCT FROM OLD.reference)
        EXECUTE FUNCTION prepay_refuse_change('a meter binding can only be closed, once (valid_to)');
      -- The supply audit log said "ledger entries" when refusing a change: its own words now.
      DROP TRIGGER supply_audit_append_only ON supply_audit;
      DROP TRIGGER supply_audit_no_truncate ON supply_audit;
      CREATE TRIGGER supply_audit_append_only BEFORE UPDATE OR DELETE ON supply_audit
        FOR EACH ROW EXECUTE FUNCTION prepay_refuse_change('the supply audit log is append-only');
      CREATE TRIGGER supply_audit_no_truncate BEFORE TRUNCATE ON supply_audit
        FOR EACH STATEMENT EXECUTE FUNCTION prepay_refuse_change('the supply audit log is append-only');
      -- Each entry's seal: an HMAC of its hash under a key kept outside the database (NULL without one).
      ALTER TABLE entries ADD COLUMN seal text;
      -- One set of entries per reference: should a postings record go (the triggers dropped first), a
      -- retried payment cannot be credited again. Replaces the plain index on reference.
      DROP INDEX entries_reference;
      CREATE UNIQUE INDEX entries_reference_part ON entries (reference, part);
      -- The postings that may leave no entry (a binding, a daily debt recovery that took nothing),
      -- counted per account by checkpoints and verify; every other posting is vouched for by its
      -- entries. A command that can post without an entry belongs in this list.
      CREATE INDEX postings_entryless ON postings (account_id) WHERE command IN ('bind', 'unbind', 'debt-recovery');

      -- The answer for a reference posted before: its stored result, unless that record lists entries
      -- the ledger does not have (forged ahead of the posting, or its entries deleted): then a refusal,
      -- so a payment is never taken for a duplicate of a record nobody posted.
      CREATE FUNCTION prepay_earlier(reference text, existing jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
      BEGIN
        IF jsonb_typeof(existing->'entries') = 'array' AND jsonb_array_length(existing->'entries') > 0
            AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.reference = prepay_earlier.reference) THEN
          RETURN jsonb_build_array(jsonb_build_object('status', 'rejected', 'reason', format(
            'the postings record of reference "%s" lists entries the ledger does not have (forged, or its entries deleted): not answered as a duplicate, not posted',
            reference)));
        END IF;
        RETURN jsonb_build_array(jsonb_build_object('status', 'duplicate', 'result', existing));
      END $fn$;

      -- prepay_apply as in version 1: entries now with their seals, and a duplicate answered through
      -- prepay_earlier.
      CREATE OR REPLACE FUNCTION prepay_apply(batch jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
      DECLARE
        p jsonb;
        a jsonb;
        b jsonb;
        existing jsonb;
        n integer;
        outcomes jsonb := '[]'::jsonb;
        -- Accounts with a posting not applied in this batch: later postings for them were prepared
        -- on top of it, so they are stale even if another writer moved the account to the same version
        -- (a duplicate is still answered as one, so a replayed backlog settles in one round).
        broken text[] := '{}';
      BEGIN
        -- Lock the batch's accounts up front, in one order for every writer: gateways posting to the
        -- same accounts then queue for them instead of deadlocking.
        PERFORM 1 FROM accounts
          WHERE id IN (SELECT DISTINCT value->'account'->>'id' FROM jsonb_array_elements(batch))
          ORDER BY id FOR UPDATE;
        FOR p IN SELECT value FROM jsonb_array_elements(batch) LOOP
          a := p->'account';
          IF jsonb_typeof(a) = 'object' AND (a->>'id') = ANY (broken) THEN
            SELECT result INTO existing FROM postings WHERE reference = p->>'reference';
            IF FOUND THEN
              outcomes := outcomes || prepay_earlier(p->>'reference', existing);
            ELSE
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'stale'));
            END IF;
            CONTINUE;
          END IF;
          BEGIN
            INSERT INTO postings (reference, command, account_id, reverses, result, posted_at)
              VALUES (p->>'reference', p->>'command', p->>'accountId', p->>'reverses', p->'result', (p->>'postedAt')::bigint)
              ON CONFLICT (reference) DO NOTHING;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n = 0 THEN
              SELECT result INTO existing FROM postings WHERE reference = p->>'reference';
              outcomes := outcomes || prepay_earlier(p->>'reference', existing);
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
              CONTINUE;
            END IF;
            IF a IS NOT NULL AND jsonb_typeof(a) = 'object' THEN
              IF (p->>'expectedVersion')::integer = 0 THEN
                INSERT INTO accounts (id, tenant, name, currency, utilities, status, balance, debt, emergency_active,
                  charge_sub_total, state, state_changed_at, seq, last_hash, version, policy, opened_at, closed_at)
                VALUES (a->>'id', a->>'tenant', a->>'name', a->>'currency', a->'utilities', a->>'status',
                  (a->>'balance')::bigint, (a->>'debt')::bigint, (a->>'emergencyActive')::boolean,
                  (a->>'chargeSubTotal')::numeric, a->>'state', (a->>'stateChangedAt')::bigint, (a->>'seq')::integer,
                  a->>'lastHash', (a->>'version')::integer, a->'policy', (a->>'openedAt')::bigint, (a->>'closedAt')::bigint);
              ELSE
                UPDATE accounts SET status = a->>'status', balance = (a->>'balance')::bigint, debt = (a->>'debt')::bigint,
                  emergency_active = (a->>'emergencyActive')::boolean, charge_sub_total = (a->>'chargeSubTotal')::numeric,
                  state = a->>'state', state_changed_at = (a->>'stateChangedAt')::bigint, seq = (a->>'seq')::integer,
                  last_hash = a->>'lastHash', version = (a->>'version')::integer, policy = a->'policy',
                  closed_at = (a->>'closedAt')::bigint
                WHERE id = a->>'id' AND version = (p->>'expectedVersion')::integer;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n = 0 THEN
                  RAISE EXCEPTION 'stale' USING ERRCODE = 'PP001';
                END IF;
              END IF;
            END IF;
            b := p->'bindings'->'add';
            IF b IS NOT NULL AND jsonb_typeof(b) = 'object' THEN
              INSERT INTO bindings (meter_id, account_id, valid_from, valid_to, reference)
                VALUES (b->>'meterId', b->>'accountId', (b->>'from')::bigint, NULL, b->>'reference');
            END IF;
            b := p->'bindings'->'close';
            IF b IS NOT NULL AND jsonb_typeof(b) = 'object' THEN
              UPDATE bindings SET valid_to = (b->>'at')::bigint
                WHERE meter_id = b->>'meterId' AND valid_to IS NULL AND valid_from <= (b->>'at')::bigint;
              GET DIAGNOSTICS n = ROW_COUNT;
              IF n = 0 THEN
                RAISE EXCEPTION 'meter "%" has no current binding to end', b->>'meterId' USING ERRCODE = 'PP002';
              END IF;
            END IF;
            INSERT INTO entries (account_id, seq, kind, reference, part, amount, debt_delta, balance_after, debt_after,
                currency, posted_at, effective_at, meta, prev_hash, hash, seal)
              SELECT e.account_id, e.seq, e.kind, e.reference, e.part, e.amount, e.debt_delta, e.balance_after,
                e.debt_after, e.currency, e.posted_at, e.effective_at, e.meta, e.prev_hash, e.hash, e.seal
              FROM jsonb_to_recordset(p->'entries') AS e(account_id text, seq integer, kind text, reference text,
                part integer, amount bigint, debt_delta bigint, balance_after bigint, debt_after bigint, currency text,
                posted_at bigint, effective_at bigint, meta jsonb, prev_hash text, hash text, seal text);
            outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'applied'));
          EXCEPTION
            WHEN SQLSTATE 'PP001' THEN
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'stale'));
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
            WHEN SQLSTATE 'PP002' OR unique_violation THEN
              outcomes := outcomes || jsonb_build_array(jsonb_build_object('status', 'rejected', 'reason', SQLERRM));
              IF jsonb_typeof(a) = 'object' THEN broken := broken || (a->>'id'); END IF;
          END;
        END LOOP;
        RETURN outcomes;
      END $fn$;
    `,
  },
  {
    version: 4,
    sql: `
      -- Tenant access tokens, kept as their SHA-256 only: the token itself is shown once, when issued.
      CREATE TABLE tenant_tokens (
        token_id text PRIMARY KEY,
        account_id text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        label text NOT NULL,
        issued_at bigint NOT NULL,
        issued_by text NOT NULL,
        revoked_at bigint,
        revoked_by text
      );
      CREATE INDEX tenant_tokens_account ON tenant_tokens (account_id);
    `,
  },
  {
    version: 5,
    sql: `
      -- The daily reconciliation reads the charges of a period by when they happened, for every account.
      CREATE INDEX entries_charges_effective ON entries (effective_at)
        WHERE kind IN ('charge', 'standing', 'monthly');
    `,
  },
];
