//! The HTTP client every platform backend uses: one connection pool per platform, connect and
//! request timeouts, bounded retries with exponential backoff and jitter on 429, 5xx and
//! connection errors (honouring `Retry-After`), and a circuit breaker. A change is sent again
//! blindly only when it carries an idempotency key; one without is sent again only after the
//! platform refused it, or after a lookup showed it was not applied ([`Resend`]). Credentials go in the
//! `Authorization` header only, never into a message, and only to the configured origin: every
//! target, including URLs from a platform's answers and redirects, is parsed and must keep it.
//! Answer bodies are read up to a bound.

use std::convert::Infallible;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};

use super::breaker::Breaker;
use super::settings::HttpSettings;
use provhost_core::backoff::{backoff, retry_after};

/// How a platform authenticates provhost.
pub enum Auth {
    /// HTTP Basic: user name and password.
    Basic(String, String),
    /// A bearer token.
    Bearer(String),
}

/// Whether a request may be sent again when it may already have reached the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// A read: sent again after any failure.
    Read,
    /// A change carrying this idempotency key (sent as `Idempotency-Key`): the platform answers
    /// a copy with the first one's answer, so it is sent again after any failure. Only the key
    /// makes that safe, so a change is sent again blindly only as `Keyed`.
    Keyed(String),
    /// A change the platform would apply twice: sent again at once only when the platform
    /// cannot have acted on it (the connection was refused, or it answered 429). After an answer
    /// that leaves it open — a 5xx, a timeout, a connection cut after sending — it is sent again
    /// only once a lookup ([`RestClient::send_once`]) shows it was not applied.
    Once,
}

/// A request to a platform.
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// A path below the base URL, or an absolute URL on the same origin (a `Location`).
    pub target: &'a str,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
    /// Content type and body.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// Whether it may be sent again.
    pub resend: Resend,
}

impl<'a> Call<'a> {
    /// A `GET` of `target`.
    pub fn get(target: &'a str) -> Self {
        Self { method: Method::GET, target, headers: Vec::new(), body: None, resend: Resend::Read }
    }
}

/// What a change sent [`Resend::Once`] came to.
#[derive(Debug)]
pub enum Sent<T> {
    /// The platform answered it.
    Reply(Reply),
    /// Its answer left open whether it was applied, and the lookup found it applied.
    Applied(T),
}

/// The platform's answer.
#[derive(Debug)]
pub struct Reply {
    /// Its status code.
    pub status: u16,
    /// Its body.
    pub body: String,
    /// How many tries it took.
    pub attempts: u32,
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The circuit breaker is open.
    #[error(
        "{platform} is failing, so provhost is not calling it for now (circuit breaker open, next try in {wait_ms} ms)"
    )]
    Open {
        /// The platform's name.
        platform: &'static str,
        /// Until a trial request may go out.
        wait_ms: u128,
    },
    /// Every try failed.
    #[error("{platform}: {what} failed after {attempts} tries: {reason}")]
    Exhausted {
        /// The platform's name.
        platform: &'static str,
        /// The request, e.g. `POST /provisioning/...`.
        what: String,
        /// Tries made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The request may have been applied, and nothing showed whether it was; it was not sent
    /// again.
    #[error(
        "{platform}: {what} may have been applied, and no answer says whether ({reason}); it was not sent again, so it cannot apply twice"
    )]
    Unknown {
        /// The platform's name.
        platform: &'static str,
        /// The request.
        what: String,
        /// The failure.
        reason: String,
    },
    /// The answer's body is larger than the client reads.
    #[error(
        "{platform}: {what} answered with a body over {limit} bytes (`http.max-body-bytes`); provhost read no further and used none of it"
    )]
    TooLarge {
        /// The platform's name.
        platform: &'static str,
        /// The request.
        what: String,
        /// The bound.
        limit: u64,
    },
    /// The target (a path provhost built, or a URL from a platform's answer) is not on the
    /// platform's origin.
    #[error("{platform}: refusing to send credentials to '{target}', which is not on {base}")]
    ForeignOrigin {
        /// The platform's name.
        platform: &'static str,
        /// The URL asked for.
        target: String,
        /// The configured base URL.
        base: String,
    },
}

/// A client for one platform.
pub struct RestClient {
    platform: &'static str,
    base: reqwest::Url,
    http: Client,
    auth: Auth,
    settings: HttpSettings,
    breaker: Breaker,
}

impl RestClient {
    /// A client for the platform at `base` (its name is used in messages). It follows a redirect
    /// only on the same origin, at most five in a row.
    pub fn new(platform: &'static str, base: &str, auth: Auth, settings: HttpSettings) -> Result<Self, String> {
        let base = reqwest::Url::parse(base).map_err(|e| format!("{platform}: base URL '{base}': {e}"))?;
        let origin = base.origin();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().origin() == origin && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let http = Client::builder()
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.timeout_ms))
            .pool_max_idle_per_host(16)
            .redirect(redirects)
            .user_agent(concat!("provhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("{platform}: cannot build an HTTP client: {e}"))?;
        let breaker = Breaker::new(settings.breaker_failures, Duration::from_millis(settings.breaker_cooldown_ms));
        Ok(Self { platform, base, http, auth, settings, breaker })
    }

    /// The most pages one paged read may follow.
    pub fn max_pages(&self) -> u32 {
        self.settings.max_pages
    }

    /// The URL a target names, which must be on the platform's origin: an absolute path (joined
    /// to the base URL's path) or an absolute URL. Anything else — a reference without a leading
    /// `/` such as `@attacker.example/x`, a scheme-relative `//host/x`, another host, port or
    /// scheme — is refused before any request goes out. Targets from a platform's answers (a
    /// `meta.location`) go through here too.
    pub fn url(&self, target: &str) -> Result<reqwest::Url, ClientError> {
        let foreign = || ClientError::ForeignOrigin {
            platform: self.platform,
            target: target.to_owned(),
            base: self.base.origin().ascii_serialization(),
        };
        let url = if target.starts_with('/') && !target.starts_with("//") {
            reqwest::Url::parse(&format!("{}{}", self.base.as_str().trim_end_matches('/'), target))
        } else {
            reqwest::Url::parse(target)
        }
        .map_err(|_| foreign())?;
        if url.origin() == self.base.origin() && url.username().is_empty() && url.password().is_none() {
            Ok(url)
        } else {
            Err(foreign())
        }
    }

    /// The body of `response`, read up to `limit` bytes; a longer one is refused unread.
    fn body(&self, what: &str, mut response: reqwest::blocking::Response, limit: u64) -> Result<String, BodyError> {
        let too_large =
            || BodyError::TooLarge(ClientError::TooLarge { platform: self.platform, what: what.to_owned(), limit });
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        (&mut response).take(limit + 1).read_to_end(&mut bytes).map_err(BodyError::Broken)?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn request(&self, call: &Call<'_>, url: &reqwest::Url) -> RequestBuilder {
        let mut request = self.http.request(call.method.clone(), url.clone());
        request = match &self.auth {
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        if let Resend::Keyed(key) = &call.resend {
            request = request.header("idempotency-key", key);
        }
        for (name, value) in &call.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                request = request.header(name, value);
            }
        }
        if let Some((content_type, body)) = &call.body {
            request = request.header(reqwest::header::CONTENT_TYPE, *content_type).body(body.clone());
        }
        // On behalf of a plugin's invocation, wait no longer than its deadline leaves.
        if let Some(left) = provhost_core::deadline::remaining() {
            request = request.timeout(left.min(Duration::from_millis(self.settings.timeout_ms)));
        }
        request
    }

    /// Sends a call, retrying as its [`Resend`] allows; any answer other than 429 or 5xx is
    /// returned, 4xx included. A [`Resend::Once`] call whose answer leaves open whether it was
    /// applied fails with [`ClientError::Unknown`]. The call blocks its thread, so inside an
    /// executor (a plugin's query during an invocation) it first leaves the executor's context.
    pub fn send(&self, call: &Call<'_>) -> Result<Reply, ClientError> {
        match tokio::task::block_in_place(|| self.send_blocking::<Infallible>(call, None))? {
            Sent::Reply(reply) => Ok(reply),
            Sent::Applied(never) => match never {},
        }
    }

    /// Sends a [`Resend::Once`] call. After an answer that leaves open whether the platform
    /// applied it, `applied` looks for it there (by the idempotency key it carries): found, that
    /// is the outcome; not found, the call is sent again within the retry bounds; when the lookup
    /// fails, the call is not sent again ([`ClientError::Unknown`]).
    pub fn send_once<T>(
        &self,
        call: &Call<'_>,
        mut applied: impl FnMut() -> Result<Option<T>, String>,
    ) -> Result<Sent<T>, ClientError> {
        tokio::task::block_in_place(|| self.send_blocking(call, Some(&mut applied)))
    }

    fn send_blocking<T>(
        &self,
        call: &Call<'_>,
        mut applied: Option<&mut dyn FnMut() -> Result<Option<T>, String>>,
    ) -> Result<Sent<T>, ClientError> {
        let url = self.url(call.target)?;
        let what = format!("{} {}", call.method, url.path());
        let max_wait = Duration::from_millis(self.settings.retry_max_ms);
        let once = call.resend == Resend::Once;
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Err(wait) = self.breaker.admit(Instant::now()) {
                return Err(ClientError::Open { platform: self.platform, wait_ms: wait.as_millis() });
            }
            let failed = match self.request(call, &url).send() {
                Ok(response) if response.status().as_u16() == 429 || response.status().is_server_error() => {
                    self.breaker.record(false, Instant::now());
                    let status = response.status();
                    let asked = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, SystemTime::now()));
                    let body = self.body(&what, response, EXCERPT_BYTES).unwrap_or_default();
                    let reason = format!("answered {status}: {}", excerpt(&body));
                    // A 5xx may come after the platform acted on the request; a 429 comes before.
                    Failed { reason, asked, open: once && status.is_server_error() }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    match self.body(&what, response, self.settings.max_body_bytes) {
                        Ok(body) => {
                            self.breaker.record(true, Instant::now());
                            return Ok(Sent::Reply(Reply { status, body, attempts }));
                        }
                        Err(BodyError::TooLarge(e)) => {
                            self.breaker.record(false, Instant::now());
                            return Err(e);
                        }
                        Err(BodyError::Broken(e)) => {
                            self.breaker.record(false, Instant::now());
                            let reason = format!("the answer broke off: {}", error_chain(&e));
                            Failed { reason, asked: None, open: once }
                        }
                    }
                }
                Err(e) => {
                    self.breaker.record(false, Instant::now());
                    Failed { reason: error_chain(&e), asked: None, open: once && !e.is_connect() }
                }
            };
            let Failed { mut reason, asked, open } = failed;
            if open {
                let Some(lookup) = applied.as_mut() else { return Err(self.unknown(what, reason)) };
                match lookup() {
                    Ok(Some(found)) => return Ok(Sent::Applied(found)),
                    Ok(None) => reason.push_str("; a lookup showed it was not applied"),
                    Err(e) => return Err(self.unknown(what, format!("{reason}; looking it up failed: {e}"))),
                }
            }
            let exhausted = |reason: String| ClientError::Exhausted {
                platform: self.platform,
                what: what.clone(),
                attempts,
                reason,
            };
            if attempts > self.settings.max_retries {
                return Err(exhausted(reason));
            }
            if provhost_core::deadline::remaining().is_some_and(|left| left.is_zero()) {
                return Err(exhausted(format!("{reason}; the invocation's deadline passed")));
            }
            let wait = backoff(Duration::from_millis(self.settings.retry_base_ms), attempts, max_wait);
            let wait = match asked {
                Some(asked) if asked > max_wait => {
                    return Err(exhausted(format!(
                        "{reason}; it asked to retry after {} s, longer than http.retry-max-ms allows",
                        asked.as_secs()
                    )));
                }
                Some(asked) => wait.max(asked),
                None => wait,
            };
            std::thread::sleep(provhost_core::deadline::remaining().map_or(wait, |left| wait.min(left)));
        }
    }

    fn unknown(&self, what: String, reason: String) -> ClientError {
        ClientError::Unknown { platform: self.platform, what, reason }
    }
}

/// A try that got no usable answer: why, how long the platform asked to wait, and whether it
/// leaves open that a [`Resend::Once`] call was applied.
struct Failed {
    reason: String,
    asked: Option<Duration>,
    open: bool,
}

/// How much of a refusal's body is read for its message.
const EXCERPT_BYTES: u64 = 16 * 1024;

/// Why a body was not read.
enum BodyError {
    /// Over the bound.
    TooLarge(ClientError),
    /// The connection broke off.
    Broken(std::io::Error),
}

/// The error with its causes, which reqwest keeps in its source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a body, for messages.
pub fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &trimmed[..at]),
        None => trimmed.to_owned(),
    }
}
