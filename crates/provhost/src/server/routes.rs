//! The route table: every route once, with who may call it and what it can answer. The axum
//! router and the OpenAPI document (served at `GET /openapi.json`, printed by `provhost openapi`)
//! are both built from it; a handler's method and path are in its `#[utoipa::path]` annotation,
//! beside its parameters and its success.

use std::sync::{Arc, OnceLock};

use axum::http::header;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::SecurityRequirement;
use utoipa::openapi::path::Operation;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use super::answers::{
    self, ANY, Answers, BODY, CONFLICT, EVENT, IDEMPOTENT, KEYED, LOOKUP, OPTIONAL_BODY, PAGED, READ_THROUGH, REFUSED,
};
use super::{AppState, decisions, directory, document, events, keyed, ops, provisioning, reads};
use crate::policy::Scope;

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, without a key.
    Open,
    /// Anyone; a valid key shows more.
    KeyOptional,
    /// A key granted the scope, checked before the handler runs.
    Scoped(Scope),
    /// A key; the gate checks the scope for the call's system (a scope narrowed to a system
    /// allows that system's calls only).
    PerSystem(Scope),
    /// A key granted the scope, checked by the handler: `/metrics`, which
    /// `serve --anonymous-metrics` opens to anyone.
    Handler(Scope),
}

/// A targeted provisioning request.
const TARGETED: &[Answers] = &[BODY, OPTIONAL_BODY, IDEMPOTENT, REFUSED];

/// Every route. Those under an API key pass the key check and admission (`keyed::admit`) first.
pub fn table() -> OpenApiRouter<Arc<AppState>> {
    use Access::{Handler, KeyOptional, Open, PerSystem, Scoped};
    let keyed = OpenApiRouter::new()
        .routes(entry(routes!(events::submit), Scoped(Scope::EventsSubmit), &[BODY, IDEMPOTENT, EVENT, REFUSED]))
        .routes(entry(routes!(events::status), Scoped(Scope::EventsSubmit), &[LOOKUP]))
        .routes(entry(routes!(provisioning::re_enforce), PerSystem(Scope::EntitlementsReEnforce), TARGETED))
        .routes(entry(routes!(provisioning::update_account), PerSystem(Scope::AccountsUpdate), TARGETED))
        .routes(entry(routes!(provisioning::update_all_accounts), PerSystem(Scope::AccountsUpdate), TARGETED))
        .routes(entry(routes!(provisioning::unmanage), PerSystem(Scope::EntitlementsUnmanage), TARGETED))
        .routes(entry(routes!(provisioning::retry), PerSystem(Scope::ActionsRetry), TARGETED))
        .routes(entry(routes!(directory::persons), Scoped(Scope::PersonsRead), &[PAGED, READ_THROUGH]))
        .routes(entry(routes!(directory::person), Scoped(Scope::PersonsRead), &[READ_THROUGH]))
        .routes(entry(routes!(directory::entitlements), Scoped(Scope::PersonsRead), &[PAGED, READ_THROUGH]))
        .routes(entry(routes!(directory::accounts), Scoped(Scope::PersonsRead), &[PAGED, READ_THROUGH]))
        .routes(entry(routes!(directory::entitlement), Scoped(Scope::PersonsRead), &[READ_THROUGH]))
        .routes(entry(routes!(directory::account), Scoped(Scope::PersonsRead), &[READ_THROUGH]))
        .routes(entry(routes!(directory::system), Scoped(Scope::PersonsRead), &[READ_THROUGH]))
        .routes(entry(routes!(reads::actions), Scoped(Scope::PersonsRead), &[PAGED]))
        .routes(entry(routes!(reads::blocked), Scoped(Scope::PersonsRead), &[PAGED]))
        .routes(entry(routes!(reads::action), Scoped(Scope::PersonsRead), &[LOOKUP]))
        .routes(entry(routes!(decisions::approve), Scoped(Scope::ActionsApprove), &[REFUSED]))
        .routes(entry(routes!(decisions::reject), Scoped(Scope::ActionsApprove), &[REFUSED]))
        .routes(entry(routes!(reads::audit), Scoped(Scope::AuditRead), &[PAGED]))
        .routes(entry(routes!(reads::deliveries), Scoped(Scope::AuditRead), &[PAGED]))
        .routes(entry(routes!(decisions::redrive), Scoped(Scope::EventsSubmit), &[LOOKUP, CONFLICT]))
        .route_layer(from_fn(keyed::admit));
    let open = OpenApiRouter::new()
        .routes(entry(routes!(serve_document), Open, &[]))
        .routes(entry(routes!(ops::healthz), Open, &[]))
        .routes(entry(routes!(ops::readyz), KeyOptional, &[ops::NOT_READY]))
        .routes(entry(routes!(ops::metrics), Handler(Scope::MetricsRead), &[]));
    OpenApiRouter::with_openapi(document::base()).merge(keyed).merge(open)
}

/// The OpenAPI document, built once from the table.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| table().into_openapi())
}

/// The document as JSON text, as it is served.
pub fn json() -> String {
    document().to_pretty_json().expect("the OpenAPI document serializes")
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses(
    (status = 200, description = "This document", content_type = "application/json", body = Object)
))]
async fn serve_document() -> Response {
    static TEXT: OnceLock<String> = OnceLock::new();
    ([(header::CONTENT_TYPE, "application/json")], TEXT.get_or_init(json).as_str()).into_response()
}

/// One route of the table: its operation documented with `access` and `sets`, and its scope
/// checked in front of the handler where the route checks it.
fn entry(
    (schemas, mut paths, method): UtoipaMethodRouter<Arc<AppState>>,
    access: Access,
    sets: &[Answers],
) -> UtoipaMethodRouter<Arc<AppState>> {
    let mut all = vec![ANY];
    if let Access::Scoped(_) | Access::PerSystem(_) | Access::Handler(_) = access {
        all.push(KEYED);
    }
    all.extend_from_slice(sets);
    for item in paths.paths.values_mut() {
        for operation in item.get.iter_mut().chain(item.post.iter_mut()) {
            operation.security = Some(access.security());
            answers::document(operation, &all);
            access.describe(operation);
        }
    }
    let method = match access {
        Access::Scoped(scope) => method.route_layer(from_fn(move |request, next| keyed::require(scope, request, next))),
        _ => method,
    };
    (schemas, paths, method)
}

impl Access {
    /// The security requirements: the scope (as an OpenAPI 3.1 role) under Basic or Bearer.
    fn security(self) -> Vec<SecurityRequirement> {
        let under = |scopes: &[&str]| {
            ["basic", "bearer"].into_iter().map(|scheme| SecurityRequirement::new(scheme, scopes.to_vec())).collect()
        };
        match self {
            Access::Open => Vec::new(),
            Access::KeyOptional => {
                let mut optional = vec![SecurityRequirement::default()];
                optional.extend(under(&[]));
                optional
            }
            Access::Scoped(scope) | Access::PerSystem(scope) | Access::Handler(scope) => under(&[scope.as_str()]),
        }
    }

    /// Says in the operation's description who may call it.
    fn describe(self, operation: &mut Operation) {
        let who = match self {
            Access::Open => "No key needed.".to_owned(),
            Access::KeyOptional => "No key needed; a valid key shows more.".to_owned(),
            Access::Scoped(scope) => format!("Scope `{scope}`."),
            Access::PerSystem(scope) => {
                format!("Scope `{scope}`, checked for the call's system (`{scope}@SYSTEM` allows that system only).")
            }
            Access::Handler(scope) => format!("Scope `{scope}`, unless the server runs with `--anonymous-metrics`."),
        };
        operation.description = Some(match operation.description.take() {
            Some(text) => format!("{text}\n\n{who}"),
            None => who,
        });
    }
}
