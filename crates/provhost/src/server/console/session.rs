//! Console sessions: a random token in an `HttpOnly`, `SameSite=Strict` cookie names a session
//! kept in the store by the token's SHA-256 alone (so that it outlives a restart of `serve` and
//! holds on every host of a shared store, and a copy of the store opens none), which names the API
//! key it was opened with. The session's CSRF token is derived from its token, so the store holds
//! nothing a form could be forged with. A session ends when it expires, on logout, or when its key
//! is revoked or expires (the key is read with the session on every request, see `operator`).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// The cookie that carries the session token.
pub const COOKIE: &str = "provhost_console";

/// The cookie that carries the sign-in form's token before there is a session.
pub const SIGNIN_COOKIE: &str = "provhost_console_signin";

/// How long a session lasts after sign-in, whatever is done in it.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// SHA-256 of `parts`, hex.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// What the store names the session of `token` by.
pub fn stored_name(token: &str) -> String {
    digest(&[token])
}

/// The CSRF token every form of the session of `token` carries: derived from the token under a
/// label of its own, so it differs from what the store keeps and does not open the session.
pub fn csrf_of(token: &str) -> String {
    digest(&["provhost-console-csrf\n", token])
}

/// When a session opened now ends, RFC 3339.
pub fn ends_at() -> String {
    crate::model::rfc3339(time::OffsetDateTime::now_utc() + LIFETIME)
}

/// A fresh random token: 32 bytes, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    hex::encode(bytes)
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of the cookie `name` the request sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(n, v)| (n == name).then_some(v))
}

/// Whether the request reached provhost over TLS: a proxy in front that ends TLS says so in
/// `X-Forwarded-Proto` (provhost itself listens on plain HTTP).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for the console's cookie `name`: `HttpOnly`, `SameSite=Strict`, for
/// `/console`, `Secure` over TLS; `max_age` zero deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{secure}", max_age.as_secs());
    HeaderValue::from_str(&text).expect("cookie names and hex tokens are header text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_and_the_forms_see_two_different_digests_of_the_token() {
        let token = token();
        assert_eq!(token.len(), 64);
        let (stored, csrf) = (stored_name(&token), csrf_of(&token));
        assert_eq!((stored.len(), csrf.len()), (64, 64));
        assert!(stored != token && csrf != token && stored != csrf, "none of them opens another");
        assert_eq!((stored_name(&token), csrf_of(&token)), (stored, csrf), "the same token, the same digests");
        assert_ne!(csrf_of(&super::token()), csrf_of(&token));
    }

    #[test]
    fn cookies_are_read_among_others_and_set_strict_and_http_only() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; provhost_console=abc; b=2"));
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SIGNIN_COOKIE), None);
        let set = set_cookie(COOKIE, "abc", LIFETIME, false);
        assert_eq!(
            set.to_str().unwrap(),
            "provhost_console=abc; Path=/console; Max-Age=28800; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(COOKIE, "abc", LIFETIME, true).to_str().unwrap().ends_with("; Secure"));
        assert!(!over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(&headers));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
