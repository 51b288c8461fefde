/**
 * Versioned schema of the SQLite ledger. Each migration runs once, in order, inside a transaction,
 * and is recorded in schema_migrations; a database from a newer version of the package is refused.
 */
export const SQLITE_MIGRATIONS: Array<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        currency TEXT NOT NULL,
        utilities TEXT NOT NULL,
        status TEXT NOT NULL,
        balance INTEGER NOT NULL,
        debt INTEGER NOT NULL,
        emergency_active INTEGER NOT NULL,
        charge_sub_total INTEGER NOT NULL,
        state TEXT NOT NULL,
        state_changed_at INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL,
        version INTEGER NOT NULL,
        policy TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        closed_at INTEGER
      );
      CREATE TABLE postings (
        reference TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        account_id TEXT,
        reverses TEXT,
        result TEXT NOT NULL,
        posted_at INTEGER NOT NULL
      );
      CREATE TABLE entries (
        account_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        part INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        debt_delta INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        debt_after INTEGER NOT NULL,
        currency TEXT NOT NULL,
        posted_at INTEGER NOT NULL,
        effective_at INTEGER NOT NULL,
        meta TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (account_id, seq)
      );
      -- Only reversals carry a target: a partial index costs nothing for every other posting.
      CREATE UNIQUE INDEX postings_reverses ON postings (reverses) WHERE reverses IS NOT NULL;
      CREATE INDEX entries_reference ON entries (reference);
      CREATE TABLE bindings (
        meter_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        reference TEXT NOT NULL,
        PRIMARY KEY (meter_id, valid_from)
      );
      CREATE UNIQUE INDEX bindings_current ON bindings (meter_id) WHERE valid_to IS NULL;
      CREATE INDEX bindings_account ON bindings (account_id);
      -- Entries are append-only: corrections are compensating entries, never edits.
      CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
      CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
    `,
  },
  {
    version: 2,
    sql: `
      -- The supply audit log: relay commands and operator overrides, append-only like the entries.
      CREATE TABLE supply_audit (
        reference TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        meter_id TEXT NOT NULL,
        account_id TEXT,
        action TEXT,
        reason TEXT NOT NULL,
        policy TEXT,
        actor TEXT,
        detail TEXT NOT NULL
      );
      CREATE INDEX supply_audit_meter ON supply_audit (meter_id, at);
      CREATE TRIGGER supply_audit_no_update BEFORE UPDATE ON supply_audit BEGIN SELECT RAISE(ABORT, 'the supply audit log is append-only'); END;
      CREATE TRIGGER supply_audit_no_delete BEFORE DELETE ON supply_audit BEGIN SELECT RAISE(ABORT, 'the supply audit log is append-only'); END;
    `,
  },
  {
    version: 3,
    sql: `
      -- Tamper evidence beyond the chain. Postings records are what makes a retry a duplicate: deleting
      -- one would let a retried payment be credited again, so they are append-only like the entries.
      CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'ledger postings are append-only'); END;
      CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'ledger postings are append-only'); END;
      -- Accounts change with every posting but are never removed (closing is an entry).
      CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts BEGIN SELECT RAISE(ABORT, 'ledger accounts are never deleted'); END;
      -- Bindings are the history of which account pays for a meter: never deleted, and the one change
      -- allowed is the move-out, which sets valid_to once (not before valid_from) and nothing else.
      CREATE TRIGGER bindings_no_delete BEFORE DELETE ON bindings BEGIN SELECT RAISE(ABORT, 'meter bindings are history: they are never deleted'); END;
      CREATE TRIGGER bindings_close_only BEFORE UPDATE ON bindings
        WHEN OLD.valid_to IS NOT NULL OR NEW.valid_to IS NULL OR NEW.valid_to < OLD.valid_from
          OR NEW.meter_id IS NOT OLD.meter_id OR NEW.account_id IS NOT OLD.account_id
          OR NEW.valid_from IS NOT OLD.valid_from OR NEW.reference IS NOT OLD.reference
        BEGIN SELECT RAISE(ABORT, 'a meter binding can only be closed, once (valid_to)'); END;
      -- Each entry's seal: an HMAC of its hash under a key kept outside the database (NULL without one).
      ALTER TABLE entries ADD COLUMN seal TEXT;
      -- One set of entries per reference: should a postings record go (the triggers dropped first), a
      -- retried payment cannot be credited again. Replaces the plain index on reference.
      DROP INDEX entries_reference;
      CREATE UNIQUE INDEX entries_reference_part ON entries (reference, part);
      -- The postings that may leave no entry (a binding, a daily debt recovery that took nothing),
      -- counted per account by checkpoints and verify; every other posting is vouched for by its
      -- entries. A command that can post without an entry belongs in this list.
      CREATE INDEX postings_entryless ON postings (account_id) WHERE command IN ('bind', 'unbind', 'debt-recovery');
    `,
  },
  {
    version: 4,
    sql: `
      -- Tenant access tokens, kept as their SHA-256 only: the token itself is shown once, when issued.
      CREATE TABLE tenant_tokens (
        token_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        issued_by TEXT NOT NULL,
        revoked_at INTEGER,
        revoked_by TEXT
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
  {
    version: 6,
    sql: `
      -- Compact postings records: for a posting whose answer its entries can rebuild, the record keeps only what
      -- they cannot say (see posting-record.ts) and how many entries it wrote (entry_count). NULL, as on every
      -- record written before: the result holds the whole answer. A package older than this version refuses the
      -- file rather than answer a duplicate with a compact record.
      -- The table is kept by its reference (WITHOUT ROWID): one b-tree to write per posting instead of a table
      -- and its primary key index. Rebuilt once, the records copied as they are; the indexes and the append-only
      -- triggers go with the old table and are made again on the new one.
      CREATE TABLE postings_by_reference (
        reference TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        account_id TEXT,
        reverses TEXT,
        result TEXT NOT NULL,
        posted_at INTEGER NOT NULL,
        entry_count INTEGER
      ) WITHOUT ROWID;
      INSERT INTO postings_by_reference (reference, command, account_id, reverses, result, posted_at)
        SELECT reference, command, account_id, reverses, result, posted_at FROM postings;
      DROP TABLE postings;
      ALTER TABLE postings_by_reference RENAME TO postings;
      CREATE UNIQUE INDEX postings_reverses ON postings (reverses) WHERE reverses IS NOT NULL;
      CREATE INDEX postings_entryless ON postings (account_id) WHERE command IN ('bind', 'unbind', 'debt-recovery');
      CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'ledger postings are append-only'); END;
      CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'ledger postings are append-only'); END;
    `,
  },
];
