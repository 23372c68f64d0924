//! The page every console view is rendered into: the stylesheet, the navigation the key's scopes
//! allow, the operator and the sign-out form; and the small pieces pages share (the CSRF field,
//! pagers, action states).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::form::CSRF_FIELD;
use super::operator::Operator;
use super::refused::Refused;
use crate::api::Paging;
use crate::model::ActionState;
use crate::policy::Scope;

/// The console's stylesheet, served at `/console/style.css`.
pub const STYLESHEET: &str = include_str!("style.css");

/// The sections of the navigation, each with the scope that shows it.
const SECTIONS: &[(&str, &str, Option<Scope>)] = &[
    ("/console", "Overview", None),
    ("/console/blocked", "Blocked actions", Some(Scope::PersonsRead)),
    ("/console/actions", "Actions", Some(Scope::PersonsRead)),
    ("/console/plugins", "Plugins", None),
    ("/console/audit", "Audit trail", Some(Scope::AuditRead)),
];

/// A whole page titled `title`; with an operator, with the navigation and sign-out.
pub fn page(title: &str, operator: Option<&Operator>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · provhost" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    span class="brand" { "provhost" }
                    @if let Some(operator) = operator {
                        nav aria-label="Console" {
                            ul {
                                @for (href, label, scope) in SECTIONS {
                                    @if scope.is_none_or(|s| operator.allows(s)) {
                                        li { a href=(href) aria-current=[(*label == title).then_some("page")] { (label) } }
                                    }
                                }
                            }
                        }
                        form class="signout" method="post" action="/console/logout" {
                            (csrf(operator))
                            span { "Key " code { (operator.key.id) } " · tenant " code { (operator.tenant()) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// The hidden field that carries the session's CSRF token; every form has it.
pub fn csrf(operator: &Operator) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(operator.csrf); }
}

/// An action's state as a badge.
pub fn state(state: ActionState) -> Markup {
    html! { span class={ "state " (state.as_str()) } { (state.as_str()) } }
}

/// Where a page of a list at `base` (which holds its other parameters) stands, and links to the
/// newer and older pages: `shown` items from `offset` in pages of `limit`, and whether more follow.
/// Only a page with more after it links to them; the last one says how many there are in all, and
/// an empty list says nothing (its page says it is empty).
pub fn pager(base: &str, paging: Paging, shown: usize, more: bool) -> Markup {
    let Paging { offset, limit } = paging;
    let join = if base.contains('?') { '&' } else { '?' };
    let (first, last) = (offset + 1, offset + shown);
    html! {
        @if offset > 0 || shown > 0 {
            nav class="pager" aria-label="Pages" {
                @if offset > 0 {
                    a rel="prev" href={ (base) (join) "offset=" (offset.saturating_sub(limit)) } { "← Newer" }
                }
                @if shown == 0 {
                    span { "Nothing after the first " (offset) }
                } @else if more {
                    span { "Showing " (first) "–" (last) "; older ones follow" }
                    a rel="next" href={ (base) (join) "offset=" (offset + limit) } { "Older →" }
                } @else {
                    span { "Showing " (first) "–" (last) " of " (last) }
                }
            }
        }
    }
}

/// A refusal as the sign-in page (a redirect to it) or a page of its own.
impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn(why) => {
                let to = format!("/console/signin?why={why}");
                (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
            }
            Refused::Status(status, detail) => {
                let title = status.canonical_reason().unwrap_or("Refused");
                let body = maud::html! {
                    h1 { (status.as_u16()) " " (title) }
                    p role="alert" { (detail) }
                    p { a href="/console" { "Back to the console" } }
                };
                (status, page(title, None, body)).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(offset: usize, shown: usize, more: bool) -> String {
        pager("/console/actions?state=error", Paging { offset, limit: 50 }, shown, more).into_string()
    }

    #[test]
    fn the_pager_offers_older_pages_only_while_there_are_more() {
        let first = text(0, 50, true);
        assert!(
            first.contains("Showing 1–50; older ones follow")
                && first.contains(r#"href="/console/actions?state=error&amp;offset=50""#),
            "{first}"
        );
        assert!(!first.contains("Newer"), "{first}");
        let middle = text(50, 50, true);
        assert!(
            middle.contains("Showing 51–100; older ones follow")
                && middle.contains("offset=0")
                && middle.contains("offset=100"),
            "{middle}"
        );
        let last = text(100, 23, false);
        assert!(last.contains("Showing 101–123 of 123") && last.contains(r#"rel="prev""#), "{last}");
        assert!(!last.contains("Older") && !last.contains(r#"rel="next""#) && !last.contains("follow"), "{last}");
        let whole = text(0, 12, false);
        assert!(whole.contains("Showing 1–12 of 12") && !whole.contains("<a"), "{whole}");
        assert_eq!(text(0, 0, false), "", "an empty list has no pager");
        let past = text(200, 0, false);
        assert!(
            past.contains("Nothing after the first 200") && past.contains("offset=150") && !past.contains("Older"),
            "{past}"
        );
    }
}
