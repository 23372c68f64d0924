//! The tenant configuration file (`provhost.toml`): tenants, their plugins (component, pinned
//! sha256, capabilities, triggers, settings, limits), thresholds, window budgets and exclusions.
//! Unknown fields are errors; every error names the file, and the line where there is one. [`manifest`] is the other half: what a plugin declares.

#[cfg(test)]
mod backend_settings;
pub mod manifest;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use provhost_core::event::Event;
use provhost_core::limits::LimitSettings;
use provhost_core::policy::{Exclusions, Grants, TenantPolicy, Threshold, WindowBudget};
use provhost_platforms::BackendConfig;
use provhost_store::DEMO_TENANT;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped field.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: {at}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the file, e.g. `tenants.demo.thresholds[0]`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Which events run a plugin. An empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Event kinds: `attribute-changed`, `provisioning-completed`, `action-failed`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Attribute names (attribute-changed: the changed attributes; provisioning-completed: the
    /// attribute requests), compared case-insensitively.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// Systems where the change happened (attribute-changed) or account sources
    /// (provisioning-completed, by id or name).
    #[serde(default)]
    pub systems: Vec<String>,
}

impl Triggers {
    /// Whether the event runs the plugin; otherwise why not.
    pub fn matches(&self, event: &Event) -> Result<(), String> {
        if !self.events.is_empty() && !self.events.iter().any(|k| k == event.kind()) {
            return Err(format!("it runs on {} events, not {}", self.events.join(", "), event.kind()));
        }
        let (attributes, systems): (Vec<&str>, Vec<&str>) = match event {
            Event::AttributeChanged(e) => {
                (e.changes.iter().map(|c| c.attribute.as_str()).collect(), vec![e.system.as_str()])
            }
            Event::ProvisioningCompleted(e) => (
                e.account_requests
                    .iter()
                    .flat_map(|r| &r.attribute_requests)
                    .map(|a| a.attribute_name.as_str())
                    .collect(),
                e.account_requests
                    .iter()
                    .flat_map(|r| [r.source.id.as_str(), r.source.name.as_str()].into_iter().chain(r.system.as_deref()))
                    .collect(),
            ),
            Event::ActionFailed { .. } => return Ok(()),
        };
        if !self.attributes.is_empty()
            && !attributes.iter().any(|a| self.attributes.iter().any(|t| t.eq_ignore_ascii_case(a)))
        {
            return Err(format!(
                "it watches {}, and the event changes {}",
                self.attributes.join(", "),
                attributes.join(", ")
            ));
        }
        if !self.systems.is_empty() && !systems.iter().any(|s| self.systems.iter().any(|t| t == s)) {
            return Err(format!(
                "it watches systems {}, and the event is from {}",
                self.systems.join(", "),
                systems.join(", ")
            ));
        }
        Ok(())
    }
}

/// A plugin installed for a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The component file; a relative path is relative to the configuration file.
    pub component: PathBuf,
    /// The component's sha256 (hex); when set, a file that does not match is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The sha256 (hex) of the manifest beside the component. Required with `sha256` when there
    /// is a manifest, since the manifest declares what the plugin may do: a pin that left it out
    /// would let the file beside the component be changed to ask for more.
    #[serde(default, rename = "manifest-sha256")]
    pub manifest_sha256: Option<String>,
    /// What the plugin may do here: narrows the capabilities its manifest declares (and is in
    /// turn intersected with the API key's scopes). Without a manifest, this declares them.
    #[serde(default)]
    pub capabilities: Option<Grants>,
    /// Which events run it; without it, the manifest's triggers.
    #[serde(default)]
    pub triggers: Option<Triggers>,
    /// Settings the plugin reads with `config(key)`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Limits for its invocations. Each only lowers the operator's `[limits]` value (or provhost's
    /// default), as the manifest's do: the smallest value wins.
    #[serde(default)]
    pub limits: LimitSettings,
    /// How many events one instance may serve under `provhost serve`. The default, 1, is a fresh
    /// instance per event. More opts into warm instances: one that ended an event cleanly serves
    /// this tenant's next events too, so the plugin's globals live on between them; one that
    /// trapped or hit a limit is dropped. Worth it for interpreted plugins (Python, JavaScript),
    /// whose interpreter start dominates a fresh instance.
    #[serde(default = "one_event", rename = "events-per-instance")]
    pub events_per_instance: NonZeroU32,
}

fn one_event() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// One tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Name for display.
    #[serde(default)]
    pub name: Option<String>,
    /// Installed plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    /// Thresholds evaluated on each plan.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// Rolling-window budgets.
    #[serde(default)]
    pub windows: Vec<WindowBudget>,
    /// Exclusions.
    #[serde(default)]
    pub exclusions: Exclusions,
    /// Where "Provisioning Completed" notifications go after committed actions finish.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// Where the tenant's directory is read and its actions carried out (default: embedded).
    #[serde(default)]
    pub backend: BackendConfig,
    /// How much of `provhost serve` the tenant's events may take at once.
    #[serde(default)]
    pub share: FairShare,
    /// Rules for deciding on blocked actions.
    #[serde(default)]
    pub approvals: Approvals,
    /// SailPoint sources by id or name, mapped to the provhost systems plugins and triggers name
    /// (`"4e4d982d…" = "active-directory"`, `"Corporate Active Directory" = "active-directory"`).
    /// Identity-level changes come in system `identity`.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// Rules for deciding on a tenant's blocked actions (`[tenants.T.approvals]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Approvals {
    /// Four eyes: the API key that caused a block (it made the event or request that planned the
    /// blocked action) cannot approve it; another key must.
    #[serde(default)]
    pub four_eyes: bool,
}

/// How much of `provhost serve` one tenant may take (`[tenants.T.share]`), so that one tenant
/// flooding the service, or running slow plugins, cannot starve the others. Every request that
/// changes state (an event, a targeted request, an approval or rejection, a redrive) counts
/// against `max-concurrent-events` and the rate; reads have a share of their own. Past either
/// limit a request is answered 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FairShare {
    /// The tenant's events and other changes running at once.
    #[serde(default = "default_tenant_events")]
    pub max_concurrent_events: u32,
    /// The tenant's sustained rate of events and other changes, per second (a token bucket):
    /// what one tenant may add to the store, and so to the disk, over time.
    #[serde(default = "default_events_per_second")]
    pub events_per_second: f64,
    /// How many may arrive at once above the sustained rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The tenant's reads (directory, actions, audit, deliveries, request status, metrics)
    /// running at once.
    #[serde(default = "default_tenant_reads")]
    pub max_concurrent_reads: u32,
}

impl Default for FairShare {
    fn default() -> Self {
        Self {
            max_concurrent_events: default_tenant_events(),
            events_per_second: default_events_per_second(),
            burst: default_burst(),
            max_concurrent_reads: default_tenant_reads(),
        }
    }
}

fn default_tenant_events() -> u32 {
    16
}

fn default_events_per_second() -> f64 {
    100.0
}

fn default_burst() -> u32 {
    32
}

fn default_tenant_reads() -> u32 {
    16
}

impl FairShare {
    fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_events == 0 || self.max_concurrent_events > Capacity::MAX_EVENTS {
            return Err(format!("`max-concurrent-events` must be 1 to {}", Capacity::MAX_EVENTS));
        }
        let rate = self.events_per_second;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("`events-per-second` must be a positive number, not {rate}"));
        }
        if self.burst == 0 {
            return Err("`burst` must be at least 1".into());
        }
        if self.max_concurrent_reads == 0 || self.max_concurrent_reads > Capacity::MAX_READS {
            return Err(format!("`max-concurrent-reads` must be 1 to {}", Capacity::MAX_READS));
        }
        Ok(())
    }
}

/// What the whole of `provhost serve` takes on at once (`[capacity]`); past it a request is
/// answered 503 with `Retry-After`, never run into a full instance pool or blocking pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capacity {
    /// Events and other changes running at once, over all tenants.
    #[serde(default = "default_host_events")]
    pub max_concurrent_events: u32,
    /// The most of the engine's instance pool (component instances, core instances, memories,
    /// tables) one tenant's live instances, running and warm, may hold together, in percent (at
    /// least what one instance of the largest loadable component needs). Past it the tenant's
    /// idle warm instances give their slots back; if that is not enough, its event is answered
    /// 503 `host-busy`.
    #[serde(default = "default_tenant_pool_share")]
    pub tenant_pool_share: u8,
    /// Reads running at once, over all tenants.
    #[serde(default = "default_host_reads")]
    pub max_concurrent_reads: u32,
    /// How long a warm instance may wait idle for its tenant's next event, in milliseconds;
    /// then it is dropped, and its pool slots and memory are given back.
    #[serde(default = "default_warm_idle_ms")]
    pub warm_idle_ms: u64,
}

impl Capacity {
    /// The most events that may run at once: the instance pool holds 256 instances, and warm
    /// instances waiting for their next event keep some of them.
    pub const MAX_EVENTS: u32 = 192;

    /// The share of the instance pool, in percent, one tenant may hold unless the operator sets
    /// another.
    pub const DEFAULT_TENANT_POOL_SHARE: u8 = 25;

    /// The most reads that may run at once. Each takes a thread of the blocking pool (512
    /// threads) while it runs, beside the events and the changes.
    pub const MAX_READS: u32 = 256;

    fn validate(&self) -> Result<(), String> {
        let (events, reads) = (self.max_concurrent_events, self.max_concurrent_reads);
        if events == 0 || events > Self::MAX_EVENTS {
            return Err(format!("`max-concurrent-events` must be 1 to {}, not {events}", Self::MAX_EVENTS));
        }
        if reads == 0 || reads > Self::MAX_READS {
            return Err(format!("`max-concurrent-reads` must be 1 to {}, not {reads}", Self::MAX_READS));
        }
        let share = self.tenant_pool_share;
        if share == 0 || share > 100 {
            return Err(format!("`tenant-pool-share` is a percentage of the instance pool, 1 to 100, not {share}"));
        }
        if self.warm_idle_ms == 0 {
            return Err("`warm-idle-ms` must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            max_concurrent_events: default_host_events(),
            max_concurrent_reads: default_host_reads(),
            tenant_pool_share: default_tenant_pool_share(),
            warm_idle_ms: default_warm_idle_ms(),
        }
    }
}

fn default_tenant_pool_share() -> u8 {
    Capacity::DEFAULT_TENANT_POOL_SHARE
}

fn default_warm_idle_ms() -> u64 {
    5 * 60 * 1000
}

fn default_host_events() -> u32 {
    128
}

fn default_host_reads() -> u32 {
    128
}

impl TenantConfig {
    /// The tenant's policy, compiled once.
    pub fn policy(&self) -> Arc<TenantPolicy> {
        Arc::new(TenantPolicy {
            exclusions: self.exclusions.clone(),
            thresholds: self.thresholds.clone(),
            windows: self.windows.clone(),
            four_eyes: self.approvals.four_eyes,
        })
    }
}

/// A subscription to notifications.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Webhook {
    /// Where to POST (http or https).
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with.
    pub secret: String,
    /// A JSONPath (RFC 9535) query on the payload; only payloads it matches are delivered.
    #[serde(default)]
    pub filter: Option<String>,
    /// Tries before a delivery is dead-lettered.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The first retry's delay in milliseconds; each later one doubles it (with jitter), up to 5 minutes.
    #[serde(default = "default_retry_base")]
    pub retry_base_ms: u64,
}

fn default_attempts() -> u32 {
    6
}

fn default_retry_base() -> u64 {
    1000
}

impl Webhook {
    fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("`url` = \"{}\" is not a URL: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`url` = \"{}\" must be http or https", self.url));
        }
        if self.secret.len() < 16 {
            return Err("`secret` must be at least 16 characters".into());
        }
        if self.max_attempts == 0 {
            return Err("`max-attempts` must be at least 1".into());
        }
        if let Some(filter) = &self.filter {
            serde_json_path::JsonPath::parse(filter)
                .map_err(|e| format!("`filter` = \"{filter}\" is not a JSONPath query: {e}"))?;
        }
        Ok(())
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What `provhost serve` takes on at once, over all tenants.
    #[serde(default)]
    pub capacity: Capacity,
    /// The operator's limits (`[limits]`): each replaces provhost's default for every invocation,
    /// higher or lower (up to provhost's maximum), and is the ceiling too: a tenant's
    /// configuration, a manifest and the command line only lower it. Unset ones are provhost's
    /// defaults. Nothing else raises a limit.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Tenants by id.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Where the configuration was read from; `None` for the embedded default (no file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut config = Self::parse(path, &text)?;
        config.source = Some(path.to_owned());
        let base = path.parent().unwrap_or(Path::new("."));
        for tenant in config.tenants.values_mut() {
            for plugin in tenant.plugins.values_mut() {
                if plugin.component.is_relative() {
                    plugin.component = base.join(&plugin.component);
                }
            }
        }
        Ok(config)
    }

    /// Parses and validates configuration text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = parse_toml(path, text)?;
        config.validate().map_err(|(at, message)| ConfigError::Invalid { path: path.into(), at, message })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        self.limits.validate().map_err(|m| ("limits".to_string(), m))?;
        self.capacity.validate().map_err(|m| ("capacity".to_string(), m))?;
        for (id, tenant) in &self.tenants {
            for (i, t) in tenant.thresholds.iter().enumerate() {
                t.validate().map_err(|m| (format!("tenants.{id}.thresholds[{i}]"), m))?;
            }
            for (i, w) in tenant.windows.iter().enumerate() {
                w.validate().map_err(|m| (format!("tenants.{id}.windows[{i}]"), m))?;
            }
            for (i, r) in tenant.exclusions.rules.iter().enumerate() {
                r.validate().map_err(|m| (format!("tenants.{id}.exclusions.rules[{i}]"), m))?;
            }
            for (i, w) in tenant.webhooks.iter().enumerate() {
                w.validate().map_err(|m| (format!("tenants.{id}.webhooks[{i}]"), m))?;
            }
            tenant.backend.validate().map_err(|m| (format!("tenants.{id}.backend"), m))?;
            tenant.share.validate().map_err(|m| (format!("tenants.{id}.share"), m))?;
            for (name, plugin) in &tenant.plugins {
                let at = format!("tenants.{id}.plugins.{name}");
                plugin.limits.validate().map_err(|m| (format!("{at}.limits"), m))?;
                for (field, pin) in [("sha256", &plugin.sha256), ("manifest-sha256", &plugin.manifest_sha256)] {
                    if let Some(sha) = pin
                        && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        return Err((at, format!("`{field}` must be 64 hex digits, not '{sha}'")));
                    }
                }
                let known = ["attribute-changed", "provisioning-completed", "action-failed"];
                let events = plugin.triggers.iter().flat_map(|t| &t.events);
                if let Some(kind) = events.into_iter().find(|k| !known.contains(&k.as_str())) {
                    return Err((at, format!("trigger event '{kind}' is not one of {}", known.join(", "))));
                }
            }
        }
        Ok(())
    }

    /// The tenant's configuration. Fails closed: under a configuration file, a tenant the file
    /// does not name is refused rather than run without the governance written for it. Only
    /// without a file (the embedded default) does every tenant run with no plugins and no policy.
    pub fn tenant(&self, id: &str) -> Result<TenantConfig, UnknownTenant> {
        self.admit_tenant(id)?;
        Ok(self.tenants.get(id).cloned().unwrap_or_default())
    }

    /// Refuses a tenant a configuration file does not name (see [`Config::tenant`]).
    pub fn admit_tenant(&self, id: &str) -> Result<(), UnknownTenant> {
        match &self.source {
            Some(path) if !self.tenants.contains_key(id) => {
                Err(UnknownTenant::NotListed { tenant: id.to_owned(), path: path.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a tenant `provhost serve` does not run. Under a configuration file, as
    /// [`Config::admit_tenant`]; without one, every tenant but the embedded demo tenant: a server
    /// answers for many tenants, and none of them is run without the governance (thresholds,
    /// windows, exclusions, plugins, backend) a configuration gives it.
    pub fn admit_served(&self, id: &str) -> Result<(), UnknownTenant> {
        match &self.source {
            None if id != DEMO_TENANT => Err(UnknownTenant::NoConfiguration { tenant: id.to_owned() }),
            _ => self.admit_tenant(id),
        }
    }
}

/// A key's tenant that provhost does not run without a configuration naming it.
#[derive(Debug, thiserror::Error)]
pub enum UnknownTenant {
    /// The configuration file does not name the tenant.
    #[error(
        "tenant '{tenant}' is not in the configuration {path}; provhost does not run a tenant without its governance: add [tenants.{tenant}] to the file or use a key of a configured tenant"
    )]
    NotListed {
        /// The tenant.
        tenant: String,
        /// The configuration file.
        path: PathBuf,
    },
    /// `provhost serve` runs without a configuration file, and the tenant is not the demo.
    #[error(
        "tenant '{tenant}' has no configuration: provhost serve without --config runs only the embedded demo tenant '{DEMO_TENANT}'; start it with --config provhost.toml naming [tenants.{tenant}]"
    )]
    NoConfiguration {
        /// The tenant.
        tenant: String,
    },
}

/// Parses TOML into `T`, reporting a mistake with the file, line and column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax { path: path.into(), line, column, message: e.message().trim().to_string() }
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[tenants.demo]
name = "Contoso"

[tenants.demo.plugins.propagate-mail]
component = "plugins/propagate_mail.wasm"
capabilities = ["persons:read", "accounts:update@exchange-online"]
config = { systems = "exchange-online" }
limits = { fuel = 1000, timeout-ms = 250 }
triggers = { events = ["attribute-changed"], attributes = ["mail"], systems = ["active-directory"] }

[[tenants.demo.thresholds]]
system = "exchange-online"
kind = "update"
percent = 10

[[tenants.demo.windows]]
system = "*"
kind = "update"
max = 500
per = "1h"

[tenants.demo.exclusions]
systems = ["afas-hr"]
rules = [{ attribute = "employeeType", equals = "external" }]

[[tenants.demo.webhooks]]
url = "https://hooks.example/provisioning"
secret = "0123456789abcdef0123"
filter = "$.accountRequests[?@.provisioningResult == 'FAILED']"
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("provhost.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_tenant_missing_from_a_configuration_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provhost.toml");
        std::fs::write(&path, "[tenants.demo]\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert!(config.tenant("demo").is_ok());
        let err = config.tenant("other").unwrap_err().to_string();
        assert!(err.starts_with("tenant 'other' is not in the configuration"), "{err}");
        assert!(Config::default().tenant("other").is_ok(), "without a file every tenant runs ungoverned");
    }

    #[test]
    fn absurd_limits_are_refused_with_the_file_and_field() {
        let text = GOOD
            .replace("limits = { fuel = 1000, timeout-ms = 250 }", "limits = { timeout-ms = 18446744073709551615 }");
        let err = Config::parse(Path::new("provhost.toml"), &text).unwrap_err().to_string();
        assert!(
            err.starts_with("provhost.toml: tenants.demo.plugins.")
                && err.ends_with(".limits: `timeout-ms` = 18446744073709551615 is above provhost's maximum of 600000"),
            "{err}"
        );
        let ceiling = format!("[limits]\nmemory-bytes = 99999999999\n{GOOD}");
        let err = Config::parse(Path::new("provhost.toml"), &ceiling).unwrap_err().to_string();
        assert_eq!(
            err,
            "provhost.toml: limits: `memory-bytes` = 99999999999 is above provhost's maximum of 1073741824"
        );
    }

    #[test]
    fn a_full_configuration_parses_with_defaults_for_unset_limits() {
        let config = parse(GOOD).unwrap();
        let demo = config.tenant("demo").unwrap();
        let plugin = &demo.plugins["propagate-mail"];
        let limits = plugin.limits;
        assert_eq!(limits.fuel, Some(1000));
        assert_eq!(limits.timeout_ms, Some(250));
        assert_eq!(limits.max_actions, None);
        assert!(
            plugin
                .capabilities
                .as_ref()
                .unwrap()
                .allows(provhost_core::policy::Scope::AccountsUpdate, Some("exchange-online"))
        );
        assert_eq!(demo.thresholds[0].percent, Some(10.0));
        assert_eq!(plugin.events_per_instance.get(), 1, "a fresh instance per event unless opted in");
        assert!(config.tenant("unknown").unwrap().plugins.is_empty());
        let warm = parse(&GOOD.replace("limits = {", "events-per-instance = 1000\nlimits = {")).unwrap();
        assert_eq!(warm.tenant("demo").unwrap().plugins["propagate-mail"].events_per_instance.get(), 1000);
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_field() {
        let cases = [
            (
                GOOD.replace("kind = \"update\"\npercent", "kind = \"update\"\npercnt"),
                "provhost.toml:15:1: unknown field `percnt`",
            ),
            (
                GOOD.replace("timeout-ms", "timeout"),
                "provhost.toml:9:25: unknown field `timeout`, expected one of `fuel`, `timeout-ms`",
            ),
            (
                GOOD.replace("\"persons:read\",", "\"persons:write\","),
                "provhost.toml:7:16: unknown scope 'persons:write'",
            ),
            (
                GOOD.replace("kind = \"update\"\npercent", "kind = \"upgrade\"\npercent"),
                "provhost.toml:14:8: unknown variant `upgrade`",
            ),
            (
                GOOD.replace("percent = 10", "percent = 0"),
                "provhost.toml: tenants.demo.thresholds[0]: threshold on exchange-online update: `percent` must be at least 0.000001",
            ),
            (
                GOOD.replace("equals = \"external\"", "is = \"external\""),
                "provhost.toml:25:40: unknown field `is`, expected one of `attribute`, `equals`, `in`",
            ),
            (
                GOOD.replace("max = 500", "max = 0"),
                "provhost.toml: tenants.demo.windows[0]: window on * update: `max` must be at least 1",
            ),
            (
                GOOD.replace("[\"attribute-changed\"]", "[\"attribute-change\"]"),
                "trigger event 'attribute-change' is not one of",
            ),
            (
                GOOD.replace("capabilities =", "sha256 = \"abc\"\ncapabilities ="),
                "`sha256` must be 64 hex digits, not 'abc'",
            ),
            (GOOD.replace("$.accountRequests[?", "$.accountRequests[?("), "tenants.demo.webhooks[0]: `filter` ="),
            (GOOD.replace("https://hooks", "ftp://hooks"), "must be http or https"),
            (
                GOOD.replace("limits = {", "events-per-instance = 0\nlimits = {"),
                "provhost.toml:9:23: invalid value: integer `0`, expected a nonzero u32",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.starts_with(expected) || err.contains(expected), "expected '{expected}' in: {err}");
        }
    }

    #[test]
    fn triggers_match_kind_attributes_and_systems() {
        let demo = parse(GOOD).unwrap().tenant("demo").unwrap();
        let triggers = demo.plugins["propagate-mail"].triggers.as_ref().unwrap();
        let event = |attribute: &str, system: &str| {
            Event::from_json(&format!(
                r#"{{"type":"attribute-changed","person":"p","system":"{system}","changes":[{{"attribute":"{attribute}"}}]}}"#
            ))
            .unwrap()
        };
        assert!(triggers.matches(&event("Mail", "active-directory")).is_ok());
        assert!(triggers.matches(&event("department", "active-directory")).unwrap_err().contains("watches mail"));
        assert!(triggers.matches(&event("mail", "topdesk")).unwrap_err().contains("event is from topdesk"));
        let failed = Event::from_json(r#"{"type":"action-failed","action":"a"}"#).unwrap();
        assert!(triggers.matches(&failed).unwrap_err().contains("not action-failed"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use provhost_core::limits::Limits;

        proptest! {
            #[test]
            fn any_text_is_parsed_or_refused_with_the_file_named(text in "(\\[|\\]|=|\"|[a-z.\\- ]|\n|[0-9]){0,120}") {
                if let Err(e) = Config::parse(Path::new("provhost.toml"), &text) {
                    prop_assert!(e.to_string().starts_with("provhost.toml"), "{}", e);
                }
            }

            #[test]
            fn a_limit_is_taken_exactly_when_it_is_within_the_maximum(timeout in any::<u64>(), ids in any::<u32>()) {
                let text = format!(
                    "[tenants.t.plugins.p]\ncomponent = \"p.wasm\"\nlimits = {{ timeout-ms = {timeout}, max-id-bytes = {ids} }}\n"
                );
                let parsed = Config::parse(Path::new("provhost.toml"), &text);
                let within = timeout <= Limits::MAXIMUM.timeout_ms && ids <= Limits::MAXIMUM.max_id_bytes;
                prop_assert_eq!(parsed.is_ok(), within, "{:?}", parsed.err().map(|e| e.to_string()));
            }
        }
    }
}
