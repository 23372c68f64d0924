//! API keys: created with a secret shown once, stored as a salted hash, listed without secrets,
//! revoked, and verified.

use rusqlite::{OptionalExtension, params};

use super::audit::append as append_audit;
use super::directory::to_json;
use super::{SqliteStore, StoreError, from_json};
use crate::keys::is_past;
use crate::{AuthError, DirectoryStore, IssuedKey, KeyError, KeyRecord, KeyStore};
use provhost_core::audit::entries;
use provhost_core::auth::{Credentials, hash_secret, new_key_id, new_salt, new_secret, secret_matches};
use provhost_core::model::now_rfc3339;
use provhost_core::policy::Grants;

pub(super) type KeyRow = (String, String, Vec<u8>, Vec<u8>, String, String, String, Option<String>, Option<String>);

pub(super) fn read_key(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

pub(super) fn record(
    (id, tenant, _, _, scopes, description, created_at, expires_at, revoked_at): KeyRow,
) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id,
        tenant,
        scopes: from_json("api_keys.scopes", &scopes)?,
        description,
        created_at,
        expires_at,
        revoked_at,
    })
}

pub(super) const KEY_COLUMNS: &str = "id, tenant, salt, hash, scopes, description, created_at, expires_at, revoked_at";

impl KeyStore for SqliteStore {
    fn create_key(
        &self,
        tenant: &str,
        scopes: &Grants,
        description: &str,
        expires_at: Option<String>,
    ) -> Result<IssuedKey, StoreError> {
        if !self.tenant_exists(tenant)? {
            return Err(super::directory::not_found("tenant", tenant, tenant));
        }
        let (id, secret, salt) = (new_key_id(), new_secret(), new_salt());
        let created_at = now_rfc3339();
        self.write(|c| {
            c.prepare_cached(&format!(
                "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)"
            ))?
            .execute(params![
                id,
                tenant,
                salt,
                hash_secret(&salt, &secret),
                to_json(scopes),
                description,
                created_at,
                expires_at
            ])?;
            let entry = entries::key_created(&id, tenant, description, scopes, &expires_at);
            append_audit(c, tenant, &[entry])
        })?;
        let record = KeyRecord {
            id,
            tenant: tenant.into(),
            scopes: scopes.clone(),
            description: description.into(),
            created_at,
            expires_at,
            revoked_at: None,
        };
        Ok(IssuedKey { record, secret })
    }

    fn keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([tenant], read_key)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(record).collect()
    }

    fn revoke_key(&self, id: &str) -> Result<(), StoreError> {
        self.write(|c| {
            let tenant: Option<String> = c
                .prepare_cached(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL RETURNING tenant",
                )?
                .query_row(params![id, now_rfc3339()], |r| r.get(0))
                .optional()?;
            let tenant = tenant.ok_or_else(|| super::directory::not_found("unrevoked API key", id, "any"))?;
            let entry = entries::key_revoked(id);
            append_audit(c, &tenant, &[entry])
        })
    }

    fn verify_key(&self, credentials: &Credentials) -> Result<KeyRecord, KeyError> {
        let row = self
            .read()?
            .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))
            .and_then(|mut s| s.query_row([&credentials.id], read_key).optional())
            .map_err(StoreError::from)?;
        let invalid = || AuthError::Invalid(credentials.id.clone());
        let row = row.ok_or_else(invalid)?;
        if !secret_matches(&row.2, &row.3, &credentials.secret) {
            return Err(invalid().into());
        }
        let key = record(row)?;
        if let Some(at) = &key.revoked_at {
            return Err(AuthError::Revoked(key.id, at.clone()).into());
        }
        if let Some(at) = key.expires_at.as_deref().filter(|at| is_past(at)) {
            return Err(AuthError::Expired(key.id.clone(), at.to_owned()).into());
        }
        Ok(key)
    }
}
