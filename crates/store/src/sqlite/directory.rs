//! The directory: tenants, target systems, persons, entitlements and accounts.

use rusqlite::{OptionalExtension, Row, params};

use super::audit::append as append_audit;
use super::{SqliteStore, StoreError, from_json};
use crate::DirectoryStore;
use provhost_core::audit::entries;
use provhost_core::model::{Account, Entitlement, EntitlementType, Person, System};

const PERSON_COLUMNS: &str = "id, display_name, attributes";
const SYSTEM_COLUMNS: &str = "id, name, consumes, failure";
const ENTITLEMENT_COLUMNS: &str = "id, person, system, kind, display_name, managed";
const ACCOUNT_COLUMNS: &str = "id, person, system, reference, enabled, attributes";

fn person_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn person((id, display_name, attributes): (String, String, String)) -> Result<Person, StoreError> {
    Ok(Person { id, display_name, attributes: from_json("persons.attributes", &attributes)? })
}

type SystemRow = (String, String, String, Option<String>);

fn system_row(row: &Row<'_>) -> rusqlite::Result<SystemRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn system((id, name, consumes, failure): SystemRow) -> Result<System, StoreError> {
    Ok(System { id, name, consumes: from_json("systems.consumes", &consumes)?, failure })
}

type EntitlementRow = (String, String, String, String, String, bool);

fn entitlement_row(row: &Row<'_>) -> rusqlite::Result<EntitlementRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn entitlement((id, person, system, kind, display_name, managed): EntitlementRow) -> Result<Entitlement, StoreError> {
    let kind: EntitlementType = serde_json::from_value(serde_json::Value::String(kind.clone())).map_err(|_| {
        StoreError::Corrupt { column: "entitlements.kind", reason: format!("unknown entitlement type '{kind}'") }
    })?;
    Ok(Entitlement { id, person, system, kind, display_name, managed })
}

type AccountRow = (String, String, String, String, bool, String);

fn account_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn account((id, person, system, account_reference, enabled, attributes): AccountRow) -> Result<Account, StoreError> {
    Ok(Account {
        id,
        person,
        system,
        account_reference,
        enabled,
        attributes: from_json("accounts.attributes", &attributes)?,
    })
}

fn kind_text(kind: EntitlementType) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("EntitlementType serialises as a string"),
    }
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("directory records serialise to JSON")
}

impl DirectoryStore for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        Ok(self.read()?.query_row("SELECT COUNT(*) FROM tenants", [], |_| Ok(()))?)
    }

    fn tenant_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT id FROM tenants ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        let found = self.read()?.query_row("SELECT 1 FROM tenants WHERE id = ?1", [tenant], |_| Ok(())).map(|_| true);
        match found {
            Ok(found) => Ok(found),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn insert_tenant(&self, id: &str, name: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("INSERT INTO tenants (id, name) VALUES (?1, ?2)")?.execute(params![id, name])?;
            Ok(())
        })
    }

    fn insert_system(&self, tenant: &str, system: &System) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("INSERT INTO systems (tenant, id, name, consumes, failure) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![tenant, system.id, system.name, to_json(&system.consumes), system.failure])?;
            Ok(())
        })
    }

    fn set_system_failure(&self, tenant: &str, system: &str, failure: Option<&str>) -> Result<(), StoreError> {
        self.write(|c| {
            let changed = c
                .prepare_cached("UPDATE systems SET failure = ?3 WHERE tenant = ?1 AND id = ?2")?
                .execute(params![tenant, system, failure])?;
            not_found_if_zero(changed, "system", system, tenant)?;
            let entry = entries::system_state(system, failure);
            append_audit(c, tenant, &[entry])
        })
    }

    fn insert_person(&self, tenant: &str, person: &Person) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("INSERT INTO persons (tenant, id, display_name, attributes) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![tenant, person.id, person.display_name, to_json(&person.attributes)])?;
            Ok(())
        })
    }

    fn insert_entitlement(&self, tenant: &str, e: &Entitlement) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO entitlements (tenant, id, person, system, kind, display_name, managed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tenant,
                e.id,
                e.person,
                e.system,
                kind_text(e.kind),
                e.display_name,
                e.managed
            ])?;
            Ok(())
        })
    }

    fn insert_account(&self, tenant: &str, a: &Account) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO accounts (tenant, id, person, system, reference, enabled, attributes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tenant,
                a.id,
                a.person,
                a.system,
                a.account_reference,
                a.enabled,
                to_json(&a.attributes)
            ])?;
            Ok(())
        })
    }

    fn person(&self, tenant: &str, id: &str) -> Result<Person, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], person_row).optional()?;
        person(row.ok_or_else(|| not_found("person", id, tenant))?)
    }

    fn persons(&self, tenant: &str) -> Result<Vec<Person>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE tenant = ?1 ORDER BY display_name, id");
        let rows =
            self.read()?.prepare_cached(&sql)?.query_map([tenant], person_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(person).collect()
    }

    fn system(&self, tenant: &str, id: &str) -> Result<System, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], system_row).optional()?;
        system(row.ok_or_else(|| not_found("system", id, tenant))?)
    }

    fn systems(&self, tenant: &str) -> Result<Vec<System>, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE tenant = ?1 ORDER BY id");
        let rows =
            self.read()?.prepare_cached(&sql)?.query_map([tenant], system_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(system).collect()
    }

    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, StoreError> {
        let sql = format!("SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], entitlement_row).optional()?;
        entitlement(row.ok_or_else(|| not_found("entitlement", id, tenant))?)
    }

    fn entitlements_of(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, StoreError> {
        let sql = format!(
            "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE tenant = ?1 AND person = ?2 ORDER BY system, display_name"
        );
        let rows = self
            .read()?
            .prepare_cached(&sql)?
            .query_map([tenant, person], entitlement_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(entitlement).collect()
    }

    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, StoreError> {
        let n: i64 = self
            .read()?
            .prepare_cached("SELECT COUNT(*) FROM entitlements WHERE tenant = ?1 AND system = ?2")?
            .query_row([tenant, system], |r| r.get(0))?;
        Ok(n as u32)
    }

    fn account(&self, tenant: &str, id: &str) -> Result<Account, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], account_row).optional()?;
        account(row.ok_or_else(|| not_found("account", id, tenant))?)
    }

    fn accounts_of(&self, tenant: &str, person: &str) -> Result<Vec<Account>, StoreError> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE tenant = ?1 AND person = ?2 ORDER BY system, id");
        let rows = self
            .read()?
            .prepare_cached(&sql)?
            .query_map([tenant, person], account_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(account).collect()
    }
}

pub(super) fn not_found(kind: &'static str, id: &str, tenant: &str) -> StoreError {
    StoreError::NotFound { kind, id: id.to_owned(), tenant: tenant.to_owned() }
}

pub(super) fn not_found_if_zero(changed: usize, kind: &'static str, id: &str, tenant: &str) -> Result<(), StoreError> {
    if changed == 0 { Err(not_found(kind, id, tenant)) } else { Ok(()) }
}
