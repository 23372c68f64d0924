//! The embedded store's schema, as an ordered list of migrations tracked in `PRAGMA user_version`.

use rusqlite::Connection;

/// Migrations in order; migration `i` brings the schema from version `i` to `i + 1`.
/// Released migrations are never edited: a change is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: directory (tenants, systems, persons, entitlements, accounts), actions and invocations.
    r#"
    CREATE TABLE tenants (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL
    );
    CREATE TABLE systems (
        tenant      TEXT NOT NULL REFERENCES tenants(id),
        id          TEXT NOT NULL,
        name        TEXT NOT NULL,
        consumes    TEXT NOT NULL,   -- JSON array of person attribute names
        failure     TEXT,            -- when set, every executed action fails with this message
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE persons (
        tenant       TEXT NOT NULL REFERENCES tenants(id),
        id           TEXT NOT NULL,
        display_name TEXT NOT NULL,
        attributes   TEXT NOT NULL,  -- JSON array of {name, values}
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE entitlements (
        tenant       TEXT NOT NULL,
        id           TEXT NOT NULL,
        person       TEXT NOT NULL,
        system       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        display_name TEXT NOT NULL,
        managed      INTEGER NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, person) REFERENCES persons(tenant, id),
        FOREIGN KEY (tenant, system) REFERENCES systems(tenant, id)
    );
    CREATE INDEX entitlements_by_person ON entitlements(tenant, person);
    CREATE TABLE accounts (
        tenant       TEXT NOT NULL,
        id           TEXT NOT NULL,
        person       TEXT NOT NULL,
        system       TEXT NOT NULL,
        reference    TEXT NOT NULL,
        enabled      INTEGER NOT NULL,
        attributes   TEXT NOT NULL,
        PRIMARY KEY (tenant, id),
        FOREIGN KEY (tenant, person) REFERENCES persons(tenant, id),
        FOREIGN KEY (tenant, system) REFERENCES systems(tenant, id)
    );
    CREATE INDEX accounts_by_person ON accounts(tenant, person);
    CREATE TABLE invocations (
        tenant        TEXT NOT NULL,
        id            TEXT NOT NULL,
        plugin_name   TEXT NOT NULL,
        plugin_sha256 TEXT NOT NULL,
        event_kind    TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        detail        TEXT NOT NULL,
        dry_run       INTEGER NOT NULL,
        started_at    TEXT NOT NULL,
        duration_us   INTEGER NOT NULL,
        fuel_used     INTEGER NOT NULL,
        peak_memory   INTEGER NOT NULL,
        host_calls    INTEGER NOT NULL,
        guest_output  TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE actions (
        tenant       TEXT NOT NULL,
        id           TEXT NOT NULL,
        person       TEXT NOT NULL,
        system       TEXT NOT NULL,
        target_type  TEXT NOT NULL,  -- entitlement | account
        target_id    TEXT NOT NULL,
        kind         TEXT NOT NULL,
        state        TEXT NOT NULL,
        origin       TEXT NOT NULL,
        message      TEXT NOT NULL,
        retry_of     TEXT,
        invocation   TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX actions_by_person ON actions(tenant, person, created_at);
    CREATE INDEX actions_by_state ON actions(tenant, state);
    CREATE TABLE action_history (
        tenant   TEXT NOT NULL,
        action   TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        state    TEXT NOT NULL,
        message  TEXT NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (tenant, action, seq)
    );
    "#,
    // 2: API keys; who approved or rejected a blocked action.
    r#"
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        tenant       TEXT NOT NULL REFERENCES tenants(id),
        salt         BLOB NOT NULL,
        hash         BLOB NOT NULL,
        scopes       TEXT NOT NULL,   -- JSON array of grants, e.g. "accounts:update@topdesk"
        description  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
    );
    CREATE INDEX api_keys_by_tenant ON api_keys(tenant);
    ALTER TABLE actions ADD COLUMN decided_by TEXT;
    CREATE INDEX actions_by_window ON actions(tenant, system, kind, created_at);
    "#,
    // 3: the audit trail, hash-chained per tenant and never updated or deleted; who ran an
    // invocation and on what event.
    r#"
    CREATE TABLE audit (
        tenant        TEXT NOT NULL,
        seq           INTEGER NOT NULL,
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
        PRIMARY KEY (tenant, seq)
    );
    -- Where an imported (archived) chain starts when it does not start at record 1.
    CREATE TABLE audit_anchor (
        tenant     TEXT PRIMARY KEY,
        seq        INTEGER NOT NULL,
        prev_hash  TEXT NOT NULL
    );
    CREATE INDEX audit_by_invocation ON audit(invocation);
    CREATE INDEX audit_by_person ON audit(tenant, person);
    CREATE INDEX audit_by_action ON audit(tenant, action);
    CREATE TRIGGER audit_is_never_updated BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit records are never updated'); END;
    CREATE TRIGGER audit_is_never_deleted BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit records are never deleted'); END;
    ALTER TABLE invocations ADD COLUMN key_id TEXT;
    ALTER TABLE invocations ADD COLUMN event_digest TEXT NOT NULL DEFAULT '';
    ALTER TABLE invocations ADD COLUMN event_summary TEXT NOT NULL DEFAULT '';
    "#,
    // 4: HTTP requests kept for idempotency and asynchronous status; webhook deliveries.
    r#"
    CREATE TABLE requests (
        tenant           TEXT NOT NULL,
        id               TEXT NOT NULL,
        idempotency_key  TEXT,
        request_hash     TEXT NOT NULL,
        status           TEXT NOT NULL,   -- running | done
        http_status      INTEGER,
        response         TEXT,
        created_at       TEXT NOT NULL,
        PRIMARY KEY (tenant, id),
        UNIQUE (tenant, idempotency_key)
    );
    CREATE TABLE deliveries (
        id               TEXT PRIMARY KEY,
        tenant           TEXT NOT NULL,
        url              TEXT NOT NULL,
        payload          TEXT NOT NULL,
        status           TEXT NOT NULL,   -- pending | delivered | dead
        attempts         INTEGER NOT NULL,
        next_attempt_at  TEXT NOT NULL,
        last_error       TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
    "#,
    // 5: finding the retries of an action, and a person's actions in a state, without scanning.
    r#"
    CREATE INDEX actions_by_retry ON actions(tenant, retry_of) WHERE retry_of IS NOT NULL;
    CREATE INDEX actions_by_person_state ON actions(tenant, person, state, created_at);
    "#,
    // 6: executors claim committed actions with a lease; a claim that outlives its lease is taken
    // up again, and each claim counts an attempt.
    r#"
    ALTER TABLE actions ADD COLUMN lease_owner TEXT;
    ALTER TABLE actions ADD COLUMN lease_until TEXT;
    ALTER TABLE actions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX actions_to_run ON actions(state, lease_until) WHERE state IN ('pending', 'running');
    "#,
    // 7: audit records per unit of work: one record names many persons and actions, indexed here;
    // each record says how its hash is computed (1: the first format; 2: SHA-256 of its JCS form).
    r#"
    ALTER TABLE audit ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE audit_refs (
        tenant  TEXT NOT NULL,
        ref     TEXT NOT NULL,   -- person:<id> | action:<id>
        seq     INTEGER NOT NULL,
        PRIMARY KEY (tenant, ref, seq)
    ) WITHOUT ROWID;
    "#,
    // 8: action history keyed by its primary key alone (WITHOUT ROWID): one B-tree fewer for
    // every state an action enters. (Actions keep their rowid: their rows are wide, and their
    // indexes would each carry the text key instead of the rowid.)
    r#"
    CREATE TABLE action_history_keyed (
        tenant   TEXT NOT NULL,
        action   TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        state    TEXT NOT NULL,
        message  TEXT NOT NULL,
        at       TEXT NOT NULL,
        PRIMARY KEY (tenant, action, seq)
    ) WITHOUT ROWID;
    INSERT INTO action_history_keyed SELECT tenant, action, seq, state, message, at FROM action_history;
    DROP TABLE action_history;
    ALTER TABLE action_history_keyed RENAME TO action_history;
    "#,
    // 9: a person's actions are found through actions_by_person_state (tenant, person, state,
    // created_at), whose prefix covers them; one index fewer for every action written.
    r#"
    DROP INDEX actions_by_person;
    "#,
    // 10: where a chain starts is what its first record says (a row beside the chain could be
    // written by whoever removed the records before it); kept requests are forgotten by age
    // while serving.
    r#"
    DROP TABLE audit_anchor;
    CREATE INDEX requests_by_age ON requests(created_at);
    "#,
    // 11: leases that fence. A lease passes at integer milliseconds of the store's own clock
    // (`store_clock`), never at wall-clock text; every claim takes a new fencing token
    // (`lease_token`) that each later change of the claim must name. A waiting action keeps the
    // platform's reference to follow it by (`follow_ref`), since when it waits, and in
    // `lease_until_ms` when it is next followed up.
    r#"
    CREATE TABLE store_clock (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        ms  INTEGER NOT NULL
    );
    INSERT INTO store_clock (id, ms) VALUES (1, 0);
    ALTER TABLE actions ADD COLUMN lease_until_ms INTEGER;
    ALTER TABLE actions ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE actions ADD COLUMN follow_ref TEXT;
    ALTER TABLE actions ADD COLUMN follow_since_ms INTEGER;
    -- A claim under the old text leases is due at once on the new clock.
    UPDATE actions SET lease_until_ms = 0 WHERE state = 'running';
    DROP INDEX actions_to_run;
    ALTER TABLE actions DROP COLUMN lease_until;
    CREATE INDEX actions_due ON actions(tenant, state, lease_until_ms)
        WHERE state IN ('pending', 'running', 'waiting');
    "#,
    // 12: window budgets count an action from when it may run (`counted_at`): at commit, or when
    // a blocked action is approved; a blocked or rejected one not at all. Webhook deliveries are
    // taken per tenant.
    r#"
    ALTER TABLE actions ADD COLUMN counted_at TEXT;
    UPDATE actions SET counted_at = created_at WHERE state NOT IN ('blocked', 'rejected') AND decided_by IS NULL;
    UPDATE actions SET counted_at = COALESCE(
        (SELECT MIN(h.at) FROM action_history h
         WHERE h.tenant = actions.tenant AND h.action = actions.id AND h.message LIKE 'approved by %'),
        updated_at)
    WHERE state NOT IN ('blocked', 'rejected') AND decided_by IS NOT NULL;
    DROP INDEX actions_by_window;
    CREATE INDEX actions_by_window ON actions(tenant, system, kind, counted_at);
    CREATE INDEX deliveries_by_tenant ON deliveries(tenant, status, next_attempt_at);
    "#,
    // 13: the events a tenant's invocations ran on, kept for replays when the tenant opts in,
    // each with what its invocation decided; `bytes` counts against the tenant's bound.
    r#"
    CREATE TABLE kept_events (
        seq         INTEGER PRIMARY KEY,
        tenant      TEXT NOT NULL,
        invocation  TEXT NOT NULL,
        plugin      TEXT NOT NULL,
        at          TEXT NOT NULL,
        event       TEXT NOT NULL,
        decided     TEXT NOT NULL,
        bytes       INTEGER NOT NULL
    );
    CREATE INDEX kept_events_by_plugin ON kept_events(tenant, plugin, seq);
    CREATE INDEX kept_events_by_time ON kept_events(tenant, at);
    CREATE INDEX kept_events_by_size ON kept_events(tenant, seq, bytes);
    "#,
    // 14: the console lists a tenant's actions newest first, all or in one state, or from a time,
    // and counts a plugin's invocations by outcome over time.
    r#"
    CREATE INDEX actions_by_time ON actions(tenant, created_at);
    DROP INDEX actions_by_state;
    CREATE INDEX actions_by_state ON actions(tenant, state, created_at);
    CREATE INDEX invocations_by_plugin ON invocations(tenant, plugin_name, started_at);
    "#,
    // 15: console sessions in the store, named by the SHA-256 of their token, so that they outlive
    // a restart and hold on every host; the last checkpoint of a chain found without reading the
    // chain; a person's, a system's or a plugin's actions listed newest first without sorting
    // them (each action keeps the plugin of the invocation that planned it).
    r#"
    CREATE TABLE console_sessions (
        token_hash  TEXT PRIMARY KEY,
        key_id      TEXT NOT NULL REFERENCES api_keys(id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX console_sessions_by_expiry ON console_sessions(expires_at);
    CREATE INDEX audit_checkpoints ON audit(tenant, seq) WHERE kind = 'checkpoint';
    CREATE INDEX actions_by_person ON actions(tenant, person, created_at);
    CREATE INDEX actions_by_system ON actions(tenant, system, created_at);
    ALTER TABLE actions ADD COLUMN plugin TEXT;
    UPDATE actions SET plugin =
        (SELECT plugin_name FROM invocations i WHERE i.tenant = actions.tenant AND i.id = actions.invocation)
    WHERE invocation IS NOT NULL;
    CREATE INDEX actions_by_plugin ON actions(tenant, plugin, created_at);
    "#,
    // 16: a delivery is claimed by one sender at a time, under a lease on the store's clock
    // fenced by a token.
    r#"
    ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
    ALTER TABLE deliveries ADD COLUMN lease_until_ms INTEGER;
    ALTER TABLE deliveries ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    "#,
];

/// The schema version this build of provhost writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the database up to [`SCHEMA_VERSION`], each migration in its own transaction.
/// Refuses a database written by a newer provhost rather than guessing at its schema.
pub fn migrate(conn: &mut Connection) -> Result<(), super::StoreError> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > SCHEMA_VERSION {
        return Err(super::StoreError::TooNew { found: current, supported: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::super::actions::{ANY_DUE_SQL, LAPSED_SQL, LIVE_RETRY_SQL, PENDING_SQL, USAGE_SQL};
    use super::super::deliveries::DUE_DELIVERIES_SQL;

    /// How SQLite runs `sql`, one line per step.
    fn plan(store: &SqliteStore, sql: &str) -> String {
        let conn = store.read().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = stmt.parameter_count();
        let values: Vec<String> = (0..count).map(|i| i.to_string()).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    #[test]
    fn the_hot_queries_use_their_indexes_and_scan_nothing() {
        let store = SqliteStore::in_memory().unwrap();
        let hot = [
            (LAPSED_SQL, "actions_due (tenant=? AND state=? AND lease_until_ms<?)"),
            (PENDING_SQL, "actions_due (tenant=? AND state=?)"),
            (ANY_DUE_SQL, "actions_due"),
            (DUE_DELIVERIES_SQL, "deliveries_by_tenant (tenant=? AND status=? AND next_attempt_at<?)"),
            (USAGE_SQL, "actions_by_window"),
            (LIVE_RETRY_SQL, "actions_by_retry"),
            ("SELECT COUNT(*) FROM action_history WHERE tenant = ?1 AND action = ?2", "PRIMARY KEY"),
            ("SELECT seq, hash FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1", "(tenant=?)"),
            ("SELECT seq FROM audit_refs WHERE tenant = ?1 AND ref = ?2", "PRIMARY KEY"),
            (
                "SELECT seq FROM audit WHERE tenant = ?1 AND kind = 'checkpoint' ORDER BY seq DESC LIMIT 1",
                "audit_checkpoints (tenant=?)",
            ),
            ("SELECT key_id FROM console_sessions WHERE token_hash = ?1 AND expires_at > ?2", "PRIMARY KEY"),
            ("DELETE FROM console_sessions WHERE expires_at <= ?1", "console_sessions_by_expiry"),
        ];
        for (sql, index) in hot {
            let plan = plan(&store, sql);
            assert!(plan.contains(index), "{sql}\n  runs as: {plan}");
            assert!(!plan.contains("SCAN actions") && !plan.contains("SCAN audit"), "{sql}\n  runs as: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\n  sorts: {plan}");
        }
    }
}
