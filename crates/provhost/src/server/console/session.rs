//! Console sessions: a random token in an `HttpOnly`, `SameSite=Strict` cookie names a session
//! held in memory, which names the API key it was opened with and carries the session's CSRF
//! token. A session ends when it expires, on logout, or when its key is revoked or expires (the
//! key is looked up again on every request, see `operator`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};

/// The cookie that carries the session token.
pub const COOKIE: &str = "provhost_console";

/// The cookie that carries the sign-in form's token before there is a session.
pub const SIGNIN_COOKIE: &str = "provhost_console_signin";

/// How long a session lasts after sign-in, whatever is done in it.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The most sessions held at once; past it, expired ones are dropped and then sign-in is refused.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The API key signed in with.
    pub key_id: String,
    /// That key's tenant.
    pub tenant: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it ends.
    expires: Instant,
}

/// The open sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `key_id` of `tenant`: its token (for the cookie) and the session. `None`
    /// when [`MAX_SESSIONS`] are open and none has expired.
    pub fn open(&self, key_id: &str, tenant: &str) -> Option<(String, Session)> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_SESSIONS {
            open.retain(|_, s| s.expires > now);
            if open.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let session =
            Session { key_id: key_id.to_owned(), tenant: tenant.to_owned(), csrf: token(), expires: now + LIFETIME };
        let id = token();
        open.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The session `token` names, unless it expired (an expired one is dropped).
    pub fn find(&self, token: &str) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.get(token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                open.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends the session `token` names.
    pub fn close(&self, token: &str) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
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
    fn a_session_is_found_by_its_token_until_it_is_closed() {
        let sessions = Sessions::default();
        let (token, session) = sessions.open("phk_1", "acme").unwrap();
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(token, session.csrf);
        let found = sessions.find(&token).unwrap();
        assert_eq!(
            (found.key_id.as_str(), found.tenant.as_str(), found.csrf.as_str()),
            ("phk_1", "acme", session.csrf.as_str())
        );
        assert!(sessions.find(&session.csrf).is_none(), "the CSRF token does not open the session");
        sessions.close(&token);
        assert!(sessions.find(&token).is_none());
    }

    #[test]
    fn an_expired_session_is_not_found() {
        let sessions = Sessions::default();
        let (token, _) = sessions.open("phk_1", "acme").unwrap();
        sessions.open.lock().unwrap().get_mut(&token).unwrap().expires = Instant::now() - Duration::from_secs(1);
        assert!(sessions.find(&token).is_none());
        assert!(sessions.open.lock().unwrap().is_empty(), "it was dropped");
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
