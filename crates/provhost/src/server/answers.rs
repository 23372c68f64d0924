//! What a route takes besides its path and body, and what it can answer besides success: the
//! headers and list parameters it reads, with the bounds the server enforces on them, and the
//! RFC 9457 problem types it can answer, by status. The route table gives each route its sets;
//! the OpenAPI document is written from them, so it says what the handlers do.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};

use super::body::{MAX_LIMIT, MAX_OFFSET};
use super::idempotency::MAX_KEY;

/// One problem a route can answer with.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The problem's kind: its `type` is `/problems/<kind>`.
    pub kind: &'static str,
    /// When it is answered.
    pub when: &'static str,
}

/// What a group of routes shares: the parameters they read and the problems they can answer.
#[derive(Debug, Clone, Copy)]
pub struct Answers {
    /// The parameters.
    pub takes: &'static [Takes],
    /// The problems.
    pub problems: &'static [Answer],
}

/// A parameter read outside the handler's own types.
#[derive(Debug, Clone, Copy)]
pub enum Takes {
    /// `limit` and `offset` of a list.
    Paging,
    /// `Idempotency-Key`.
    IdempotencyKey,
    /// `Prefer: wait=N` and, on events, `respond-async`.
    Prefer,
    /// A body that may be left empty: it reads as `{}`.
    EmptyBody,
}

const fn answer(status: u16, kind: &'static str, when: &'static str) -> Answer {
    Answer { status, kind, when }
}

/// Every route: a failure inside provhost.
pub const ANY: Answers =
    Answers { takes: &[], problems: &[answer(500, "internal", "provhost failed on this request; it was logged")] };

/// Every route under an API key: the key check and admission under the tenant's share.
pub const KEYED: Answers = Answers {
    takes: &[],
    problems: &[
        answer(401, "unauthorized", "no API key, or not a valid one"),
        answer(403, "forbidden", "the key is not granted the route's scope"),
        answer(403, "tenant-not-configured", "the key's tenant is not in the configuration"),
        answer(
            429,
            "tenant-busy",
            "the tenant's share of concurrent requests is taken; Retry-After says when to try again",
        ),
        answer(429, "tenant-rate", "past the tenant's rate of changes; Retry-After says when to try again"),
        answer(503, "host-busy", "past the host's capacity; Retry-After says when to try again"),
        answer(503, "store-unavailable", "the store failed"),
    ],
};

/// A list: `limit`, `offset` and the list's filters.
pub const PAGED: Answers = Answers {
    takes: &[Takes::Paging],
    problems: &[answer(400, "invalid-query", "a query parameter is unknown or out of its bounds")],
};

/// A record named in the path.
pub const LOOKUP: Answers =
    Answers { takes: &[], problems: &[answer(404, "not-found", "no such record in the key's tenant")] };

/// A read through the tenant's backend (the embedded store or the platform provhost fronts).
pub const READ_THROUGH: Answers = Answers {
    takes: &[],
    problems: &[
        answer(404, "not-found", "no such record in the key's tenant"),
        answer(503, "unavailable", "the tenant's backend could not answer"),
    ],
};

/// A change to a record whose state may not allow it.
pub const CONFLICT: Answers =
    Answers { takes: &[], problems: &[answer(409, "conflict", "the record is not in a state this applies to")] };

/// A JSON body.
pub const BODY: Answers = Answers {
    takes: &[],
    problems: &[
        answer(400, "malformed-json", "the body is not valid JSON"),
        answer(400, "unreadable-body", "the body could not be read"),
        answer(408, "body-timeout", "the body did not arrive whole in time; the connection is closed"),
        answer(413, "body-too-large", "the body is larger than the server accepts"),
        answer(415, "unsupported-media-type", "the body is not declared as JSON"),
        answer(422, "invalid-body", "the JSON does not fit the body's schema or bounds"),
    ],
};

/// `Idempotency-Key` and `Prefer`.
pub const IDEMPOTENT: Answers = Answers {
    takes: &[Takes::IdempotencyKey, Takes::Prefer],
    problems: &[
        answer(400, "invalid-header", "Idempotency-Key is not 1 to 255 characters of text"),
        answer(409, "request-in-progress", "the request with this Idempotency-Key is still running"),
        answer(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request or by another key",
        ),
    ],
};

/// A body a targeted request may leave empty.
pub const OPTIONAL_BODY: Answers = Answers { takes: &[Takes::EmptyBody], problems: &[] };

/// A call through the gate and the commit: what a refusal answers.
pub const REFUSED: Answers = Answers {
    takes: &[],
    problems: &[
        answer(403, "forbidden", "the key is not granted the call's scope for its system"),
        answer(403, "excluded", "the person or system is excluded"),
        answer(404, "not-found", "the person, entitlement, account or action is not in the key's tenant"),
        answer(409, "conflict", "the call conflicts with the record's state"),
        answer(422, "invalid", "the call does not apply"),
        answer(429, "threshold-exceeded", "a window budget has no room for the call"),
        answer(429, "budget-exhausted", "the invocation's budget of calls or actions is used up"),
        answer(503, "unavailable", "the platform could not answer"),
        answer(503, "backend-unavailable", "the tenant's backend could not answer"),
        answer(503, "host-busy", "the host has no instance free; Retry-After says when to try again"),
    ],
};

/// An event document.
pub const EVENT: Answers =
    Answers { takes: &[], problems: &[answer(422, "invalid-event", "the event is not one provhost reads")] };

/// Writes the parameters and problems of `sets` into `operation`.
pub fn document(operation: &mut Operation, sets: &[Answers]) {
    for takes in sets.iter().flat_map(|s| s.takes) {
        match takes {
            Takes::EmptyBody => {
                if let Some(body) = operation.request_body.as_mut() {
                    body.required = Some(Required::False);
                    body.description = Some("May be left empty: an empty body reads as `{}`".into());
                }
            }
            _ => operation.parameters.get_or_insert_with(Vec::new).extend(takes.parameters()),
        }
    }
    let mut by_status: BTreeMap<u16, Vec<Answer>> = BTreeMap::new();
    for answer in sets.iter().flat_map(|s| s.problems) {
        let listed = by_status.entry(answer.status).or_default();
        if !listed.iter().any(|a| a.kind == answer.kind) {
            listed.push(*answer);
        }
    }
    for (status, answers) in by_status {
        operation.responses.responses.insert(status.to_string(), RefOr::T(problems(&answers)));
    }
}

/// The response for one status: a Problem whose `type` is one of `answers`.
fn problems(answers: &[Answer]) -> utoipa::openapi::Response {
    let types: Vec<String> = answers.iter().map(|a| format!("/problems/{}", a.kind)).collect();
    let description: Vec<String> = answers.iter().map(|a| format!("`{}`: {}", a.kind, a.when)).collect();
    let narrowed =
        ObjectBuilder::new().property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(types)));
    let schema = AllOfBuilder::new().item(Ref::from_schema_name("Problem")).item(narrowed);
    ResponseBuilder::new()
        .description(description.join("; "))
        .content("application/problem+json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// The RFC 9457 problem every error is.
pub fn problem_schema() -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .description(Some("An RFC 9457 problem: `type` names the kind, `detail` says what was wrong and what to do"))
        .property("type", text().description(Some("`/problems/<kind>`")))
        .property("title", text().description(Some("The status's reason phrase")))
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property("detail", text().description(Some("What was wrong, and what to do")))
        .property("code", text().description(Some("The refusal's code, for a refused call")))
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
        .into()
}

impl Takes {
    fn parameters(self) -> Vec<Parameter> {
        let parameter = |name: &str, place: ParameterIn, description: &str, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(place)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        let integer = || ObjectBuilder::new().schema_type(Type::Integer);
        match self {
            Takes::Paging => vec![
                parameter(
                    "limit",
                    ParameterIn::Query,
                    "At most this many items",
                    integer().minimum(Some(1)).maximum(Some(MAX_LIMIT)).default(Some(50.into())),
                ),
                parameter(
                    "offset",
                    ParameterIn::Query,
                    "Skip this many items",
                    integer().minimum(Some(0)).maximum(Some(MAX_OFFSET)).default(Some(0.into())),
                ),
            ],
            Takes::IdempotencyKey => vec![parameter(
                "Idempotency-Key",
                ParameterIn::Header,
                "A repeat with the same key, API key and body gets the first response without running again \
                 (kept 48 hours)",
                ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(MAX_KEY)),
            )],
            Takes::EmptyBody => Vec::new(),
            Takes::Prefer => vec![parameter(
                "Prefer",
                ParameterIn::Header,
                "`wait=N`: hold the answer until the actions end or N seconds pass (at most 60); on events, \
                 `respond-async`: answer 202 at once with a status URL",
                ObjectBuilder::new().schema_type(Type::String),
            )],
        }
    }
}
