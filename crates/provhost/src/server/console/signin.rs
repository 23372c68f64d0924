//! Signing in with an API key's id and secret, and signing out. The sign-in form carries a token
//! of its own (in a short-lived cookie and a hidden field, compared on post), since there is no
//! session yet. The key is verified as the API verifies it: off the async workers, in its turn
//! among the key checks, a failure answered with the same sentence, logged and counted as a
//! refusal.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::form::{self, CSRF_FIELD, SignedForm};
use super::layout;
use super::refused::Refused;
use super::session::{
    COOKIE, LIFETIME, SIGNIN_COOKIE, cookie, ends_at, over_tls, same, set_cookie, stored_name, token,
};
use crate::auth::Credentials;
use crate::server::AppState;
use crate::server::blocking::in_turn;

/// How long the sign-in form's token holds.
const FORM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Why the sign-in page is shown, as `?why=` says.
#[derive(Debug, Deserialize)]
pub struct Why {
    why: Option<String>,
}

/// The sign-in form, with `notice` above it, answered with `status`.
fn form(headers: &HeaderMap, status: StatusCode, notice: Option<&str>) -> Response {
    let value = token();
    let body = html! {
        div class="signin" {
            h1 { "Sign in" }
            p { "Sign in with an API key: its id and its secret, as " code { "provhost keys create" } " printed them. "
                "The key's scopes decide what you see and may do." }
            @if let Some(notice) = notice {
                p class="warning" role="alert" { (notice) }
            }
            form method="post" action="/console/signin" {
                input type="hidden" name=(CSRF_FIELD) value=(value);
                label for="key_id" { "Key id" input id="key_id" name="key_id" required autocomplete="username" autofocus; }
                label for="secret" { "Secret" input id="secret" name="secret" type="password" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
        }
    };
    let cookie = set_cookie(SIGNIN_COOKIE, &value, FORM_LIFETIME, over_tls(headers));
    (status, [(header::SET_COOKIE, cookie)], layout::page("Sign in", None, body)).into_response()
}

/// `GET /console/signin`.
pub async fn show(headers: HeaderMap, Query(Why { why }): Query<Why>) -> Response {
    let notice = match why.as_deref() {
        Some("expired") => Some("Your session ended. Sign in again."),
        Some("key-ended") => Some("The key of your session was revoked or expired. Sign in with a valid key."),
        _ => None,
    };
    form(&headers, StatusCode::OK, notice)
}

/// `POST /console/signin`: a session for a valid key whose tenant this host serves.
pub async fn submit(State(app): State<Arc<AppState>>, request: Request) -> Result<Response, Refused> {
    let headers = request.headers().clone();
    let fields = form::read(request, &app).await?;
    let sent = fields.get(CSRF_FIELD).unwrap_or("");
    if !cookie(&headers, SIGNIN_COOKIE).is_some_and(|expected| same(sent, expected)) {
        return Ok(form(&headers, StatusCode::FORBIDDEN, Some("The sign-in form expired. Send it again from here.")));
    }
    let credentials = Credentials {
        id: fields.get("key_id").unwrap_or("").trim().to_owned(),
        secret: fields.get("secret").unwrap_or("").trim().to_owned(),
    };
    let id = credentials.id.clone();
    let key = match in_turn(&app, move |store| Ok(store.verify_key(&credentials)?)).await {
        Ok(key) => key,
        Err(problem) => {
            app.metrics.refusal(problem.kind);
            tracing::warn!(key_id = %id, "console sign-in refused: {}", problem.detail);
            return Ok(form(&headers, problem.status, Some(&problem.detail)));
        }
    };
    if let Err(e) = app.config.admit_served(&key.tenant) {
        return Ok(form(&headers, StatusCode::FORBIDDEN, Some(&e.to_string())));
    }
    let session = token();
    let (name, key_id) = (stored_name(&session), key.id.clone());
    in_turn(&app, move |store| Ok(store.open_session(&name, &key_id, &ends_at())?)).await?;
    tracing::info!(key_id = %key.id, tenant = %key.tenant, "console session opened");
    let secure = over_tls(&headers);
    Ok((
        StatusCode::SEE_OTHER,
        AppendHeaders([
            (header::SET_COOKIE, set_cookie(COOKIE, &session, LIFETIME, secure)),
            (header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", Duration::ZERO, secure)),
        ]),
        [(header::LOCATION, "/console")],
    )
        .into_response())
}

/// `POST /console/logout`: ends the session.
pub async fn logout(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedForm,
) -> Result<Response, Refused> {
    let name = stored_name(&signed.operator.token);
    in_turn(&app, move |store| Ok(store.close_session(&name)?)).await?;
    tracing::info!(key_id = %signed.operator.key.id, "console session closed");
    let gone = set_cookie(COOKIE, "", Duration::ZERO, over_tls(&headers));
    Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, gone)], [(header::LOCATION, "/console/signin?why=signed-out")])
        .into_response())
}
