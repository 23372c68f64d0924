//! The signed-in operator of a console request: the session its cookie names, read from the store
//! on every request with the API key it was opened with as that key stands now, so that a revoked
//! or expired key ends the session at once, on whichever host. The request is then admitted under
//! the key's tenant's share, like an API request, and the place held until the page is rendered.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::refused::Refused;
use super::session::{COOKIE, cookie, csrf_of, stored_name};
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::admission::Work;
use crate::server::blocking::in_turn;
use crate::server::keyed::Share;
use crate::store::KeyRecord;

/// A request from a signed-in operator.
pub struct Operator {
    /// The key the session was opened with, as it stands now.
    pub key: KeyRecord,
    /// The session's token (the cookie's value).
    pub token: String,
    /// The CSRF token its forms carry.
    pub csrf: String,
    /// The request's place in its tenant's share.
    place: Share,
}

impl Operator {
    /// The operator's tenant.
    pub fn tenant(&self) -> &str {
        &self.key.tenant
    }

    /// The request's place in its tenant's share, for work that must hold it to its end even when
    /// the operator leaves the page.
    pub fn share(&self) -> Share {
        self.place.clone()
    }

    /// Whether the key is granted `scope`: what it is not granted is not shown.
    pub fn allows(&self, scope: Scope) -> bool {
        self.key.scopes.allows(scope, None)
    }

    /// Refuses with 403 unless the key is granted `scope`: what is posted anyway is refused.
    pub fn require(&self, scope: Scope) -> Result<(), Refused> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(Refused::forbidden(format!("API key '{}' is not granted {scope}", self.key.id)))
        }
    }
}

/// Whether the key is still good now: not revoked, not expired.
fn live(key: &KeyRecord) -> bool {
    let now = crate::model::now_rfc3339();
    let unexpired = |at: &str| crate::model::parse_rfc3339(at).is_ok_and(|at| at > now);
    key.revoked_at.is_none() && key.expires_at.as_deref().is_none_or(unexpired)
}

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, Refused> {
        let token = cookie(&parts.headers, COOKIE).ok_or(Refused::SignIn("signed-out"))?.to_owned();
        let name = stored_name(&token);
        let key = in_turn(app, move |store| Ok(store.session_key(&name)?)).await?;
        let key = key.ok_or(Refused::SignIn("expired"))?;
        if !live(&key) {
            let name = stored_name(&token);
            in_turn(app, move |store| Ok(store.close_session(&name)?)).await?;
            return Err(Refused::SignIn("key-ended"));
        }
        app.config.admit_served(&key.tenant).map_err(|e| Refused::forbidden(e.to_string()))?;
        let work = if parts.method.is_safe() { Work::Read } else { Work::Change };
        let place = app.admission.admit(&key.tenant, work).inspect_err(|p| app.metrics.refusal(p.kind))?;
        Ok(Operator { key, csrf: csrf_of(&token), token, place: place.into() })
    }
}
