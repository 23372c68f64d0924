//! What the OpenAPI 3.1 document says before the route table adds its routes: the API's
//! description, its security schemes and the problem every error is.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::answers::problem_schema;

/// What the document says before the routes are added.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "provhost",
        description = "Targeted identity-provisioning actions with governance and audit: events through sandboxed \
                       plugins, the HelloID re-enforce / update / unmanage / retry endpoints, reads, approvals and the \
                       audit trail. Every error is an RFC 9457 problem (`application/problem+json`); each response \
                       lists the problem types it can carry. A scope in a security requirement is the API key's \
                       scope the route needs."
    ),
    modifiers(&Schemes)
)]
struct Base;

/// The security schemes and the problem schema.
struct Schemes;

impl Modify for Schemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let scheme = |kind: HttpAuthScheme, form: &str| {
            let mut http = Http::new(kind);
            http.description = Some(format!("An API key: {form}"));
            SecurityScheme::Http(http)
        };
        components.add_security_scheme("basic", scheme(HttpAuthScheme::Basic, "KEY_ID:SECRET"));
        components.add_security_scheme("bearer", scheme(HttpAuthScheme::Bearer, "KEY_ID.SECRET"));
        components.schemas.insert("Problem".into(), problem_schema().into());
    }
}

/// The document before the routes are added.
pub fn base() -> Document {
    Base::openapi()
}
