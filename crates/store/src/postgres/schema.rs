//! The PostgreSQL store's schema, as an ordered list of migrations; the version reached is kept
//! in `provhost_schema`. Hosts that start together migrate one at a time: each migration runs
//! under a transaction-scoped advisory lock.

use postgres::Client;

use super::StoreError;

/// Migrations in order; migration `i` brings the schema from version `i` to `i + 1`.
/// Released migrations are never edited: a change is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: everything the embedded store keeps at its version 12, in the same shapes; the head of
    // each tenant's audit chain in a row of its own, which every append locks.
    r#"
    CREATE TABLE tenants (
        id    TEXT PRIMARY KEY,
        name  TEXT NOT NULL
    );
    CREATE TABLE systems (
        tenant    TEXT NOT NULL REFERENCES tenants(id),
        id        TEXT NOT NULL,
        name      TEXT NOT NULL,
        consumes  TEXT NOT NULL,
        failure   TEXT,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE persons (
        tenant        TEXT NOT NULL REFERENCES tenants(id),
        id            TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        attributes    TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE entitlements (
        tenant        TEXT NOT NULL,
        id            TEXT NOT NULL,
        person        TEXT NOT NULL,
        system        TEXT NOT NULL,
        kind          TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        managed       BOOLEAN NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, person) REFERENCES persons(tenant, id),
        FOREIGN KEY (tenant, system) REFERENCES systems(tenant, id)
    );
    CREATE INDEX entitlements_by_person ON entitlements(tenant, person);
    CREATE TABLE accounts (
        tenant      TEXT NOT NULL,
        id          TEXT NOT NULL,
        person      TEXT NOT NULL,
        system      TEXT NOT NULL,
        reference   TEXT NOT NULL,
        enabled     BOOLEAN NOT NULL,
        attributes  TEXT NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, person) REFERENCES persons(tenant, id),
        FOREIGN KEY (tenant, system) REFERENCES systems(tenant, id)
    );
    CREATE INDEX accounts_by_person ON accounts(tenant, person);
    CREATE TABLE invocations (
        tenant         TEXT NOT NULL,
        id             TEXT NOT NULL,
        plugin_name    TEXT NOT NULL,
        plugin_sha256  TEXT NOT NULL,
        event_kind     TEXT NOT NULL,
        outcome        TEXT NOT NULL,
        detail         TEXT NOT NULL,
        dry_run        BOOLEAN NOT NULL,
        started_at     TEXT NOT NULL,
        duration_us    BIGINT NOT NULL,
        fuel_used      BIGINT NOT NULL,
        peak_memory    BIGINT NOT NULL,
        host_calls     BIGINT NOT NULL,
        guest_output   TEXT NOT NULL,
        key_id         TEXT,
        event_digest   TEXT NOT NULL,
        event_summary  TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE actions (
        tenant           TEXT NOT NULL,
        id               TEXT NOT NULL,
        n                BIGSERIAL NOT NULL,
        person           TEXT NOT NULL,
        system           TEXT NOT NULL,
        target_type      TEXT NOT NULL,
        target_id        TEXT NOT NULL,
        kind             TEXT NOT NULL,
        state            TEXT NOT NULL,
        origin           TEXT NOT NULL,
        message          TEXT NOT NULL,
        retry_of         TEXT,
        invocation       TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        decided_by       TEXT,
        counted_at       TEXT,
        lease_owner      TEXT,
        lease_until_ms   BIGINT,
        lease_token      BIGINT NOT NULL DEFAULT 0,
        attempts         BIGINT NOT NULL DEFAULT 0,
        follow_ref       TEXT,
        follow_since_ms  BIGINT,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX actions_by_state ON actions(tenant, state);
    CREATE INDEX actions_by_person_state ON actions(tenant, person, state, created_at);
    CREATE INDEX actions_by_retry ON actions(tenant, retry_of) WHERE retry_of IS NOT NULL;
    CREATE INDEX actions_by_window ON actions(tenant, system, kind, counted_at);
    CREATE INDEX actions_due ON actions(tenant, state, lease_until_ms)
        WHERE state IN ('pending', 'running', 'waiting');
    CREATE TABLE action_history (
        tenant   TEXT NOT NULL,
        action   TEXT NOT NULL,
        seq      BIGINT NOT NULL,
        state    TEXT NOT NULL,
        message  TEXT NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (tenant, action, seq)
    );
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        tenant       TEXT NOT NULL REFERENCES tenants(id),
        salt         BYTEA NOT NULL,
        hash         BYTEA NOT NULL,
        scopes       TEXT NOT NULL,
        description  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
    );
    CREATE INDEX api_keys_by_tenant ON api_keys(tenant);
    CREATE TABLE audit (
        tenant        TEXT NOT NULL,
        seq           BIGINT NOT NULL,
        id            TEXT NOT NULL UNIQUE,
        at            TEXT NOT NULL,
        kind          TEXT NOT NULL,
        invocation    TEXT,
        key_id        TEXT,
        plugin        TEXT,
        person        TEXT,
        action        TEXT,
        system        TEXT,
        decision      TEXT NOT NULL,
        audit_action  TEXT,
        message       TEXT NOT NULL,
        details       TEXT NOT NULL,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL,
        format        BIGINT NOT NULL,
        PRIMARY KEY (tenant, seq)
    );
    CREATE INDEX audit_by_invocation ON audit(invocation);
    CREATE INDEX audit_by_person ON audit(tenant, person);
    CREATE INDEX audit_by_action ON audit(tenant, action);
    CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit records are never updated or deleted'; END $$;
    CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
    CREATE TABLE audit_refs (
        tenant  TEXT NOT NULL,
        ref     TEXT NOT NULL,
        seq     BIGINT NOT NULL,
        PRIMARY KEY (tenant, ref, seq)
    );
    CREATE TABLE audit_heads (
        tenant  TEXT PRIMARY KEY,
        seq     BIGINT NOT NULL,
        hash    TEXT NOT NULL
    );
    CREATE TABLE requests (
        tenant           TEXT NOT NULL,
        id               TEXT NOT NULL,
        idempotency_key  TEXT,
        request_hash     TEXT NOT NULL,
        status           TEXT NOT NULL,
        http_status      INTEGER,
        response         TEXT,
        created_at       TEXT NOT NULL,
        PRIMARY KEY (tenant, id),
        UNIQUE (tenant, idempotency_key)
    );
    CREATE INDEX requests_by_age ON requests(created_at);
    CREATE TABLE deliveries (
        id               TEXT PRIMARY KEY,
        tenant           TEXT NOT NULL,
        url              TEXT NOT NULL,
        payload          TEXT NOT NULL,
        status           TEXT NOT NULL,
        attempts         BIGINT NOT NULL,
        next_attempt_at  TEXT NOT NULL,
        last_error       TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE INDEX deliveries_by_tenant ON deliveries(tenant, status, next_attempt_at);
    "#,
    // 2: the events kept for replays (the embedded store's version 13).
    r#"
    CREATE TABLE kept_events (
        seq         BIGSERIAL PRIMARY KEY,
        tenant      TEXT NOT NULL,
        invocation  TEXT NOT NULL,
        plugin      TEXT NOT NULL,
        at          TEXT NOT NULL,
        event       TEXT NOT NULL,
        decided     TEXT NOT NULL,
        bytes       BIGINT NOT NULL
    );
    CREATE INDEX kept_events_by_plugin ON kept_events(tenant, plugin, seq);
    CREATE INDEX kept_events_by_time ON kept_events(tenant, at);
    "#,
    // 3: the console lists a tenant's actions newest first, all or in one state, or from a time,
    // and counts a plugin's invocations by outcome over time (the embedded store's version 14).
    r#"
    CREATE INDEX actions_by_time ON actions(tenant, created_at);
    DROP INDEX actions_by_state;
    CREATE INDEX actions_by_state ON actions(tenant, state, created_at);
    CREATE INDEX invocations_by_plugin ON invocations(tenant, plugin_name, started_at);
    "#,
    // 4: console sessions, the checkpoints' index, a person's, a system's and a plugin's actions
    // newest first (the embedded store's version 15). Lists order by `created_at, n` (actions of
    // one commit share their time), so every index a list is read on ends in both, as SQLite's end
    // in the rowid, and yields a page without sorting.
    r#"
    CREATE TABLE console_sessions (
        token_hash  TEXT PRIMARY KEY,
        key_id      TEXT NOT NULL REFERENCES api_keys(id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    );
    CREATE INDEX console_sessions_by_expiry ON console_sessions(expires_at);
    CREATE INDEX audit_checkpoints ON audit(tenant, seq) WHERE kind = 'checkpoint';
    ALTER TABLE actions ADD COLUMN plugin TEXT;
    UPDATE actions SET plugin = i.plugin_name FROM invocations i
    WHERE i.tenant = actions.tenant AND i.id = actions.invocation;
    DROP INDEX actions_by_time;
    DROP INDEX actions_by_state;
    DROP INDEX actions_by_person_state;
    CREATE INDEX actions_by_time ON actions(tenant, created_at, n);
    CREATE INDEX actions_by_state ON actions(tenant, state, created_at, n);
    CREATE INDEX actions_by_person_state ON actions(tenant, person, state, created_at, n);
    CREATE INDEX actions_by_person ON actions(tenant, person, created_at, n);
    CREATE INDEX actions_by_system ON actions(tenant, system, created_at, n);
    CREATE INDEX actions_by_plugin ON actions(tenant, plugin, created_at, n);
    "#,
    // 5: a delivery is claimed by one sender at a time, under a lease fenced by a token (the
    // embedded store's version 16).
    r#"
    ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
    ALTER TABLE deliveries ADD COLUMN lease_until_ms BIGINT;
    ALTER TABLE deliveries ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
    "#,
];

/// provhost's tables, in the order their references need (how a copy fills them).
pub(crate) const TABLES: &[&str] = &[
    "tenants",
    "systems",
    "persons",
    "entitlements",
    "accounts",
    "invocations",
    "actions",
    "action_history",
    "api_keys",
    "console_sessions",
    "audit",
    "audit_refs",
    "requests",
    "deliveries",
    "kept_events",
];

/// The schema version this build of provhost writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The advisory lock every migration takes, so that hosts starting together take turns.
const MIGRATION_LOCK: i64 = 0x7072_6f76_686f_7374; // "provhost"

/// Brings the database up to [`SCHEMA_VERSION`], each migration in its own transaction.
/// Refuses a database written by a newer provhost rather than guessing at its schema.
pub(super) fn migrate(client: &mut Client) -> Result<(), StoreError> {
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS provhost_schema (version BIGINT NOT NULL)")?;
        let current = tx.query_opt("SELECT version FROM provhost_schema", &[])?.map_or(0, |r| r.get::<_, i64>(0));
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: current, supported: SCHEMA_VERSION });
        }
        let Some(sql) = MIGRATIONS.get(current) else { return Ok(tx.commit()?) };
        tx.batch_execute(sql)?;
        tx.execute("DELETE FROM provhost_schema", &[])?;
        tx.execute("INSERT INTO provhost_schema (version) VALUES ($1)", &[&((current + 1) as i64)])?;
        tx.commit()?;
    }
}
