//! How a tenant chooses its backend in `provhost.toml` (`[tenants.<id>.backend]`), and how
//! provhost talks to a platform over HTTP: timeouts, retries, circuit breaker, credentials.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// The backend a tenant's directory reads and action execution go to.
/// Unknown fields are errors for every kind, `embedded` included (hence its empty braces).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BackendConfig {
    /// provhost's embedded store and simulated target systems (the default).
    Embedded {},
    /// HelloID Provisioning over its REST API (or another provhost, which serves the same contract).
    #[serde(rename = "helloid")]
    HelloId(HelloIdConfig),
    /// SailPoint IdentityIQ over SCIM v2: actions launch a provisioning workflow.
    #[serde(rename = "identityiq")]
    IdentityIq(IdentityIqConfig),
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig::Embedded {}
    }
}

/// A HelloID Provisioning tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HelloIdConfig {
    /// The root the API's paths are under: `{base-url}/v1/persons`, `{base-url}/provisioning/…`,
    /// e.g. `https://contoso.helloid.com`.
    pub base_url: String,
    /// The API key (HTTP Basic user name).
    pub api_key: Secret,
    /// The API secret (HTTP Basic password).
    pub api_secret: Secret,
    /// How long to follow an action the platform accepted but has not finished, in
    /// milliseconds; after that it stays `waiting`.
    #[serde(default = "default_completion_ms")]
    pub completion_timeout_ms: u64,
    /// How often to ask about such an action, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How often a `waiting` action is followed up afterwards, in milliseconds.
    #[serde(default = "default_follow_up_ms")]
    pub follow_up_interval_ms: u64,
    /// How long a `waiting` action is followed up before it ends in `error`, in milliseconds.
    #[serde(default = "default_follow_up_limit_ms")]
    pub follow_up_limit_ms: u64,
    /// Timeouts, retries, the circuit breaker and the bounds on answers.
    #[serde(default)]
    pub http: HttpSettings,
}

/// A SailPoint IdentityIQ instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IdentityIqConfig {
    /// The server's base URL; requests go to `{base-url}/identityiq/scim/v2/…`.
    pub base_url: String,
    /// HTTP Basic user name (with `password`).
    #[serde(default)]
    pub username: Option<Secret>,
    /// HTTP Basic password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// OAuth bearer token, instead of a user name and password.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The workflow each action launches.
    #[serde(default = "default_workflow")]
    pub workflow_name: String,
    /// The person attribute that holds the IdentityIQ identity name; without it, the person's id.
    #[serde(default)]
    pub identity_attribute: Option<String>,
    /// How long to follow a launched workflow to completion, in milliseconds; after that the
    /// action stays `waiting`.
    #[serde(default = "default_completion_ms")]
    pub completion_timeout_ms: u64,
    /// How often to read the workflow's task result while it runs, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How often a `waiting` action's task result is read afterwards, in milliseconds.
    #[serde(default = "default_follow_up_ms")]
    pub follow_up_interval_ms: u64,
    /// How long a `waiting` action is followed up before it ends in `error`, in milliseconds.
    #[serde(default = "default_follow_up_limit_ms")]
    pub follow_up_limit_ms: u64,
    /// IdentityIQ applications by provhost system id.
    #[serde(default)]
    pub applications: BTreeMap<String, Application>,
    /// Timeouts, retries, the circuit breaker and the bounds on answers.
    #[serde(default)]
    pub http: HttpSettings,
}

/// How a provhost system is known in IdentityIQ.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Application {
    /// The application's name in IdentityIQ; without it, the system's display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The account attribute entitlements are values of (re-enforce adds the value to it).
    #[serde(default = "default_entitlement_attribute")]
    pub entitlement_attribute: String,
    /// Person attribute → account attribute: what an account update sets.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl Default for Application {
    /// A system not listed: its display name, entitlements on `memberOf`, no mapped attributes.
    fn default() -> Self {
        Self { name: None, entitlement_attribute: default_entitlement_attribute(), attributes: BTreeMap::new() }
    }
}

/// Timeouts, retries and the circuit breaker of a platform client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpSettings {
    /// Connecting may take this long, in milliseconds.
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// One request (connect to last byte) may take this long, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first try, on 429, 5xx and connection errors.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The first retry's delay in milliseconds; each later one doubles it, with jitter.
    #[serde(default = "default_retry_base")]
    pub retry_base_ms: u64,
    /// The longest delay between tries, in milliseconds, `Retry-After` included: a platform
    /// asking for a longer wait is not retried.
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    /// Consecutive failed tries that open the circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker refuses requests before letting one trial through, in milliseconds.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_ms: u64,
    /// The largest answer body read, in bytes: a larger one is refused, not read.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// The most pages one paged read follows.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
}

/// How a backend follows what a platform accepted: within the carry-out, and afterwards while the
/// action is `waiting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// How long the carry-out follows it.
    pub completion: std::time::Duration,
    /// How often the carry-out asks.
    pub poll: std::time::Duration,
    /// How often a waiting action is followed up.
    pub follow_up: std::time::Duration,
    /// How long a waiting action is followed up before it ends in error.
    pub limit: std::time::Duration,
}

/// The [`Pace`] of a platform's configuration: both platforms name its fields alike.
macro_rules! pace_of {
    ($config:expr) => {{
        let ms = std::time::Duration::from_millis;
        Pace {
            completion: ms($config.completion_timeout_ms),
            poll: ms($config.poll_interval_ms),
            follow_up: ms($config.follow_up_interval_ms),
            limit: ms($config.follow_up_limit_ms),
        }
    }};
}

impl HelloIdConfig {
    /// How its actions are followed.
    pub fn pace(&self) -> Pace {
        pace_of!(self)
    }
}

impl IdentityIqConfig {
    /// How its workflows are followed.
    pub fn pace(&self) -> Pace {
        pace_of!(self)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: default_connect_ms(),
            timeout_ms: default_timeout_ms(),
            max_retries: default_retries(),
            retry_base_ms: default_retry_base(),
            retry_max_ms: default_retry_max(),
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_ms: default_breaker_cooldown(),
            max_body_bytes: default_max_body(),
            max_pages: default_max_pages(),
        }
    }
}

/// A credential: written in the file, or `env:NAME` to read it from the environment variable
/// `NAME`. Never printed: its `Debug` shows `***`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The credential's value; names the missing variable when it comes from the environment.
    pub fn reveal(&self) -> Result<String, String> {
        match self.0.strip_prefix("env:") {
            Some(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set (the credential reads `env:{name}`)")),
            None => Ok(self.0.clone()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl BackendConfig {
    /// Checks URLs, credentials and numbers; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            BackendConfig::Embedded {} => Ok(()),
            BackendConfig::HelloId(c) => {
                check_url(&c.base_url)?;
                check_follow(c.pace())?;
                c.api_key.reveal().map_err(|e| format!("`api-key`: {e}"))?;
                c.api_secret.reveal().map_err(|e| format!("`api-secret`: {e}"))?;
                c.http.validate()
            }
            BackendConfig::IdentityIq(c) => {
                check_url(&c.base_url)?;
                check_follow(c.pace())?;
                match (&c.username, &c.password, &c.token) {
                    (Some(u), Some(p), None) => {
                        u.reveal().map_err(|e| format!("`username`: {e}"))?;
                        p.reveal().map_err(|e| format!("`password`: {e}"))?;
                    }
                    (None, None, Some(t)) => {
                        t.reveal().map_err(|e| format!("`token`: {e}"))?;
                    }
                    _ => return Err("set either `username` and `password`, or `token`".into()),
                }
                if c.workflow_name.trim().is_empty() {
                    return Err("`workflow-name` must not be empty".into());
                }
                c.http.validate()
            }
        }
    }
}

impl HttpSettings {
    fn validate(&self) -> Result<(), String> {
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err("`http.timeout-ms` and `http.connect-timeout-ms` must be above 0".into());
        }
        if self.breaker_failures == 0 {
            return Err("`http.breaker-failures` must be at least 1".into());
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err("`http.retry-max-ms` must be at least `http.retry-base-ms`".into());
        }
        if self.max_body_bytes < 1024 || self.max_pages == 0 {
            return Err("`http.max-body-bytes` must be at least 1024 and `http.max-pages` at least 1".into());
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`base-url` = \"{url}\" is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`base-url` = \"{url}\" must be http or https"));
    }
    Ok(())
}

fn check_follow(pace: Pace) -> Result<(), String> {
    if pace.poll.is_zero() {
        return Err("`poll-interval-ms` must be above 0".into());
    }
    if pace.completion < pace.poll {
        return Err("`completion-timeout-ms` must be at least `poll-interval-ms`".into());
    }
    if pace.follow_up.is_zero() {
        return Err("`follow-up-interval-ms` must be above 0".into());
    }
    if pace.limit < pace.follow_up {
        return Err("`follow-up-limit-ms` must be at least `follow-up-interval-ms`".into());
    }
    Ok(())
}

fn default_completion_ms() -> u64 {
    60_000
}
fn default_poll_ms() -> u64 {
    1_000
}
fn default_follow_up_ms() -> u64 {
    60_000
}
fn default_follow_up_limit_ms() -> u64 {
    7 * 24 * 3600 * 1000
}
fn default_max_body() -> u64 {
    4 << 20
}
fn default_max_pages() -> u32 {
    100
}
fn default_workflow() -> String {
    "LCM Provisioning".into()
}
fn default_entitlement_attribute() -> String {
    "memberOf".into()
}
fn default_connect_ms() -> u64 {
    5_000
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_retries() -> u32 {
    3
}
fn default_retry_base() -> u64 {
    200
}
fn default_retry_max() -> u64 {
    30_000
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown() -> u64 {
    30_000
}
