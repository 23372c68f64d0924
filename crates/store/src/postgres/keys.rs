//! API keys: created with a secret shown once, stored as a salted hash, listed without secrets,
//! revoked, and verified.

use postgres::Row;

use super::audit::append as append_audit;
use super::{PostgresStore, StoreError, from_json, not_found, to_json};
use crate::keys::is_past;
use crate::{AuthError, DirectoryStore, IssuedKey, KeyError, KeyRecord, KeyStore};
use provhost_core::audit::entries;
use provhost_core::auth::{Credentials, hash_secret, new_key_id, new_salt, new_secret, secret_matches};
use provhost_core::model::now_rfc3339;
use provhost_core::policy::Grants;

pub(super) const KEY_COLUMNS: &str = "id, tenant, salt, hash, scopes, description, created_at, expires_at, revoked_at";

pub(super) fn record(row: &Row) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.get(0),
        tenant: row.get(1),
        scopes: from_json("api_keys.scopes", row.get(4))?,
        description: row.get(5),
        created_at: row.get(6),
        expires_at: row.get(7),
        revoked_at: row.get(8),
    })
}

impl KeyStore for PostgresStore {
    fn create_key(
        &self,
        tenant: &str,
        scopes: &Grants,
        description: &str,
        expires_at: Option<String>,
    ) -> Result<IssuedKey, StoreError> {
        if !self.tenant_exists(tenant)? {
            return Err(not_found("tenant", tenant, tenant));
        }
        let (id, secret, salt) = (new_key_id(), new_secret(), new_salt());
        let (created_at, hash, scope_text) = (now_rfc3339(), hash_secret(&salt, &secret), to_json(scopes));
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)"),
                &[
                    &id,
                    &tenant,
                    &salt.as_slice(),
                    &hash.as_slice(),
                    &scope_text,
                    &description,
                    &created_at,
                    &expires_at,
                ],
            )?;
            append_audit(tx, tenant, &[entries::key_created(&id, tenant, description, scopes, &expires_at)])
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
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at, id");
        let rows = self.read(|c| Ok(c.query_planned(&sql, &[&tenant])?))?;
        rows.iter().map(record).collect()
    }

    fn revoke_key(&self, id: &str) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|tx| {
            let row = tx.query_opt(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING tenant",
                &[&id, &now],
            )?;
            let tenant: String = row.ok_or_else(|| not_found("unrevoked API key", id, "any"))?.get(0);
            append_audit(tx, &tenant, &[entries::key_revoked(id)])
        })
    }

    fn verify_key(&self, credentials: &Credentials) -> Result<KeyRecord, KeyError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row = self.read(|c| Ok(c.query_opt(&sql, &[&credentials.id])?))?;
        let invalid = || AuthError::Invalid(credentials.id.clone());
        let row = row.ok_or_else(invalid)?;
        let (salt, hash): (Vec<u8>, Vec<u8>) = (row.get(2), row.get(3));
        if !secret_matches(&salt, &hash, &credentials.secret) {
            return Err(invalid().into());
        }
        let key = record(&row)?;
        if let Some(at) = &key.revoked_at {
            return Err(AuthError::Revoked(key.id, at.clone()).into());
        }
        if let Some(at) = key.expires_at.as_deref().filter(|at| is_past(at)) {
            return Err(AuthError::Expired(key.id.clone(), at.to_owned()).into());
        }
        Ok(key)
    }
}
