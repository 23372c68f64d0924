//! The directory: tenants, target systems, persons, entitlements and accounts.

use postgres::Row;

use super::audit::append as append_audit;
use super::{PostgresStore, StoreError, from_json, not_found, not_found_if_zero, to_json};
use crate::DirectoryStore;
use provhost_core::audit::entries;
use provhost_core::model::{Account, Entitlement, EntitlementType, Person, System};

const PERSON_COLUMNS: &str = "id, display_name, attributes";
const SYSTEM_COLUMNS: &str = "id, name, consumes, failure";
const ENTITLEMENT_COLUMNS: &str = "id, person, system, kind, display_name, managed";
const ACCOUNT_COLUMNS: &str = "id, person, system, reference, enabled, attributes";

fn person(row: &Row) -> Result<Person, StoreError> {
    Ok(Person { id: row.get(0), display_name: row.get(1), attributes: from_json("persons.attributes", row.get(2))? })
}

fn system(row: &Row) -> Result<System, StoreError> {
    Ok(System {
        id: row.get(0),
        name: row.get(1),
        consumes: from_json("systems.consumes", row.get(2))?,
        failure: row.get(3),
    })
}

/// An entitlement type from its stored name.
pub(super) fn entitlement_type(kind: &str) -> Result<EntitlementType, StoreError> {
    serde_json::from_value(serde_json::Value::String(kind.to_owned())).map_err(|_| StoreError::Corrupt {
        column: "entitlements.kind",
        reason: format!("unknown entitlement type '{kind}'"),
    })
}

fn entitlement(row: &Row) -> Result<Entitlement, StoreError> {
    Ok(Entitlement {
        id: row.get(0),
        person: row.get(1),
        system: row.get(2),
        kind: entitlement_type(row.get(3))?,
        display_name: row.get(4),
        managed: row.get(5),
    })
}

fn account(row: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.get(0),
        person: row.get(1),
        system: row.get(2),
        account_reference: row.get(3),
        enabled: row.get(4),
        attributes: from_json("accounts.attributes", row.get(5))?,
    })
}

fn kind_text(kind: EntitlementType) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("EntitlementType serialises as a string"),
    }
}

impl PostgresStore {
    /// The one row `sql` selects with `values`, decoded, or the named record's absence.
    fn one<T>(
        &self,
        sql: &str,
        (tenant, id, kind): (&str, &str, &'static str),
        decode: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let row = self.read(|c| Ok(c.query_opt(sql, &[&tenant, &id])?))?;
        decode(&row.ok_or_else(|| not_found(kind, id, tenant))?)
    }

    /// Every row `sql` selects with the tenant and one more value, `by`, decoded.
    fn all<T>(
        &self,
        sql: &str,
        tenant: &str,
        by: &str,
        decode: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.read(|c| Ok(c.query(sql, &[&tenant, &by])?))?;
        rows.iter().map(decode).collect()
    }
}

impl DirectoryStore for PostgresStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.execute("SELECT 1", &[]).map(drop)?))
    }

    fn tenant_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.read(|c| Ok(c.query("SELECT id FROM tenants ORDER BY id", &[])?))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        self.read(|c| Ok(c.query_opt("SELECT 1 FROM tenants WHERE id = $1", &[&tenant])?.is_some()))
    }

    fn insert_tenant(&self, id: &str, name: &str) -> Result<(), StoreError> {
        self.write(|tx| Ok(tx.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", &[&id, &name]).map(drop)?))
    }

    fn insert_system(&self, tenant: &str, system: &System) -> Result<(), StoreError> {
        let consumes = to_json(&system.consumes);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO systems (tenant, id, name, consumes, failure) VALUES ($1, $2, $3, $4, $5)",
                &[&tenant, &system.id, &system.name, &consumes, &system.failure],
            )?;
            Ok(())
        })
    }

    fn set_system_failure(&self, tenant: &str, system: &str, failure: Option<&str>) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE systems SET failure = $3 WHERE tenant = $1 AND id = $2",
                &[&tenant, &system, &failure],
            )?;
            not_found_if_zero(changed, "system", system, tenant)?;
            append_audit(tx, tenant, &[entries::system_state(system, failure)])
        })
    }

    fn insert_person(&self, tenant: &str, person: &Person) -> Result<(), StoreError> {
        let attributes = to_json(&person.attributes);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO persons (tenant, id, display_name, attributes) VALUES ($1, $2, $3, $4)",
                &[&tenant, &person.id, &person.display_name, &attributes],
            )?;
            Ok(())
        })
    }

    fn insert_entitlement(&self, tenant: &str, e: &Entitlement) -> Result<(), StoreError> {
        let kind = kind_text(e.kind);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO entitlements (tenant, id, person, system, kind, display_name, managed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&tenant, &e.id, &e.person, &e.system, &kind, &e.display_name, &e.managed],
            )?;
            Ok(())
        })
    }

    fn insert_account(&self, tenant: &str, a: &Account) -> Result<(), StoreError> {
        let attributes = to_json(&a.attributes);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO accounts (tenant, id, person, system, reference, enabled, attributes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&tenant, &a.id, &a.person, &a.system, &a.account_reference, &a.enabled, &attributes],
            )?;
            Ok(())
        })
    }

    fn person(&self, tenant: &str, id: &str) -> Result<Person, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE tenant = $1 AND id = $2");
        self.one(&sql, (tenant, id, "person"), person)
    }

    fn persons(&self, tenant: &str) -> Result<Vec<Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE tenant = $1 ORDER BY display_name, id");
        let rows = self.read(|c| Ok(c.query(&sql, &[&tenant])?))?;
        rows.iter().map(person).collect()
    }

    fn system(&self, tenant: &str, id: &str) -> Result<System, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE tenant = $1 AND id = $2");
        self.one(&sql, (tenant, id, "system"), system)
    }

    fn systems(&self, tenant: &str) -> Result<Vec<System>, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE tenant = $1 ORDER BY id");
        let rows = self.read(|c| Ok(c.query(&sql, &[&tenant])?))?;
        rows.iter().map(system).collect()
    }

    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, StoreError> {
        let sql = format!("SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE tenant = $1 AND id = $2");
        self.one(&sql, (tenant, id, "entitlement"), entitlement)
    }

    fn entitlements_of(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, StoreError> {
        let sql = format!(
            "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE tenant = $1 AND person = $2 ORDER BY system, display_name"
        );
        self.all(&sql, tenant, person, entitlement)
    }

    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, StoreError> {
        let n: i64 = self.read(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM entitlements WHERE tenant = $1 AND system = $2", &[&tenant, &system])?
                .get(0))
        })?;
        Ok(n as u32)
    }

    fn account(&self, tenant: &str, id: &str) -> Result<Account, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant = $1 AND id = $2");
        self.one(&sql, (tenant, id, "account"), account)
    }

    fn accounts_of(&self, tenant: &str, person: &str) -> Result<Vec<Account>, StoreError> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant = $1 AND person = $2 ORDER BY system, id");
        self.all(&sql, tenant, person, account)
    }
}
