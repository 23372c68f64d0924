//! Who is calling: HTTP Basic `KEY_ID:SECRET` (as the HelloID API takes it) or
//! `Authorization: Bearer KEY_ID.SECRET` (or `KEY_ID:SECRET`). The key decides the tenant and
//! the scopes, exactly as on the command line.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;

use super::AppState;
use super::blocking::in_turn;
use super::problem::Problem;
use crate::auth::Credentials;
use crate::policy::Scope;
use crate::store::KeyRecord;

/// The verified API key of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub KeyRecord);

impl Caller {
    /// Refuses the request unless the key is granted `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.0.scopes.allows(scope, None) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("API key '{}' is not granted {scope}", self.0.id),
            ))
        }
    }

    /// The key's tenant.
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }
}

fn credentials(header: &str) -> Result<Credentials, String> {
    let (scheme, value) = header.trim().split_once(' ').ok_or("the Authorization header has no scheme")?;
    let text = match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| "the Basic credentials are not base64".to_string())?;
            String::from_utf8(bytes).map_err(|_| "the Basic credentials are not UTF-8".to_string())?
        }
        "bearer" => {
            let value = value.trim();
            match value.split_once(':') {
                Some(_) => value.to_owned(),
                None => value.replacen('.', ":", 1),
            }
        }
        other => return Err(format!("the Authorization scheme '{other}' is not supported; use Basic or Bearer")),
    };
    text.parse()
}

impl Caller {
    /// The caller the request's `Authorization` header names, verified (off the async workers,
    /// in its turn among the key checks), whose tenant the configuration governs.
    pub async fn verify(headers: &HeaderMap, app: &Arc<AppState>) -> Result<Self, Problem> {
        let key = Self::key(headers, app).await?;
        app.config
            .admit_served(&key.tenant)
            .map_err(|e| Problem::new(StatusCode::FORBIDDEN, "tenant-not-configured", e.to_string()))?;
        Ok(Caller(key))
    }

    /// The key the request's `Authorization` header names, verified (off the async workers, in
    /// its turn among the key checks), whatever its tenant.
    pub async fn key(headers: &HeaderMap, app: &Arc<AppState>) -> Result<KeyRecord, Problem> {
        let unauthorized = |detail: String| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        let header = headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized(
                    "send an API key: Authorization: Basic base64(KEY_ID:SECRET) or Bearer KEY_ID.SECRET".into(),
                )
            })?
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not text".into()))?;
        let credentials = credentials(header).map_err(unauthorized)?;
        in_turn(app, move |store| Ok(store.verify_key(&credentials)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer_forms_parse_to_the_same_credentials() {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("phk_1:s3cret"));
        for header in [basic.as_str(), "Bearer phk_1.s3cret", "Bearer phk_1:s3cret", "bearer  phk_1.s3cret"] {
            let c = credentials(header).unwrap();
            assert_eq!((c.id.as_str(), c.secret.as_str()), ("phk_1", "s3cret"), "{header}");
        }
        assert!(credentials("Digest abc").unwrap_err().contains("not supported"));
        assert!(credentials("Basic !!!").unwrap_err().contains("not base64"));
    }
}
