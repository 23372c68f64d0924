//! Wiring a tenant: the one place that builds what a tenant's calls run in. From the
//! configuration it picks the tenant's backend, compiles its policy and keeps its webhooks; it
//! resolves, loads and pins the tenant's plugins; it selects the plugins an event triggers; and
//! it builds the [`TenantContext`] of each call. `run`, `serve`, `test` and `bench` all come here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::backend::{Backend, EmbeddedBackend};
use crate::config::{PluginConfig, Retention, TenantConfig, Webhook};
use crate::event::Event;
use crate::gate::{TenantContext, TenantParts};
use crate::limits::LimitSettings;
use crate::manifest::{Resolved, resolve};
use crate::policy::{Grants, Permission, TenantPolicy};
use crate::runtime::{LoadedPlugin, Runtime};
use crate::store::{KeyRecord, Store};

/// A plugin installed for a tenant: its manifest and the tenant's configuration of it combined,
/// and the component compiled, pinned and pre-linked under that name.
pub struct Installed {
    /// Its manifest and the tenant's configuration of it, combined.
    pub plugin: Resolved,
    /// Compiled and pre-linked.
    pub loaded: Arc<LoadedPlugin>,
}

impl Installed {
    /// Whether `event` runs this plugin; if not, a sentence saying why.
    pub fn triggered_by(&self, event: &Event) -> Result<(), String> {
        self.plugin.triggers.matches(event)
    }
}

/// Resolves the plugin `name` (its manifest combined with the tenant's configuration of it, if
/// any, and the operator's `[limits]`), then loads its component, checking the configured sha256.
pub fn install(
    runtime: &Runtime,
    name: &str,
    component: &Path,
    configured: Option<&PluginConfig>,
    operator: &LimitSettings,
) -> anyhow::Result<Installed> {
    load(runtime, resolve(name, component, configured, operator)?, configured)
}

/// Loads the component of `plugin` as it is resolved, checking its sha256 if it pins one.
fn load(runtime: &Runtime, plugin: Resolved, configured: Option<&PluginConfig>) -> anyhow::Result<Installed> {
    let mut loaded = runtime
        .load(&plugin.component, plugin.sha256.as_deref())
        .with_context(|| format!("plugin '{}'", plugin.name))?;
    loaded.name = plugin.name.clone();
    if let Some(configured) = configured {
        loaded = loaded.with_warm_instances(configured.events_per_instance);
    }
    Ok(Installed { plugin, loaded: Arc::new(loaded) })
}

/// A new version of the plugin `name` installed for a replay: the component at `component`
/// governed as the version installed now is — its manifest (checked against its pin) combined with
/// the tenant's configuration of it: the same capabilities, triggers, settings and limits — but
/// without the component's pin, which names the version installed now. A manifest beside the new
/// component is not read, so a new version cannot raise what the plugin may do through a replay.
pub fn install_candidate(
    runtime: &Runtime,
    (config, tenant): (&TenantConfig, &str),
    name: &str,
    component: &Path,
    operator: &LimitSettings,
) -> anyhow::Result<Installed> {
    let Some(configured) = config.plugins.get(name) else {
        let known: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no plugin '{name}' is configured for tenant '{tenant}' (configured: {}); a replay compares a new version \
             with the one installed",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        );
    };
    let governed = resolve(name, &configured.component, Some(configured), operator)?;
    load(runtime, Resolved { component: component.to_owned(), sha256: None, ..governed }, Some(configured))
}

/// The API key a call runs for and what it is granted: the key that requests what the call plans,
/// named on everything it records and in the notifications of the actions it commits.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The key's id, recorded on everything the call does.
    pub key_id: &'a str,
    /// The scopes the key is granted.
    pub grants: &'a Grants,
}

impl<'a> From<&'a KeyRecord> for Requester<'a> {
    fn from(key: &'a KeyRecord) -> Self {
        Requester { key_id: &key.id, grants: &key.scopes }
    }
}

/// A tenant as wired once: its parts (backend, store, compiled policy, webhooks), its installed
/// plugins and its source map. Each call made for it gets a [`TenantContext`] over the same parts.
pub struct Tenant {
    parts: Arc<TenantParts>,
    plugins: Vec<Installed>,
    sources: BTreeMap<String, String>,
}

impl Tenant {
    /// The tenant `id` as `config` describes it, with no plugins installed yet.
    pub fn configured(id: &str, config: &TenantConfig, store: &Arc<dyn Store>) -> anyhow::Result<Tenant> {
        let backend =
            crate::backend::for_tenant(&config.backend, store).map_err(|e| anyhow::anyhow!("tenant '{id}': {e}"))?;
        let mut tenant =
            Self::over(id, store, backend, config.policy(), config.webhooks.clone(), config.retention.clone());
        tenant.sources = config.sources.clone();
        Ok(tenant)
    }

    /// A tenant that no configuration describes: the embedded store's directory, no policy, no
    /// webhooks and no plugins.
    pub fn unconfigured(id: &str, store: &Arc<dyn Store>) -> Tenant {
        Self::with_backend(id, store, Arc::new(EmbeddedBackend::new(store.clone())))
    }

    /// A tenant with no policy whose directory is `backend` (a snapshot, for measuring).
    pub fn with_backend(id: &str, store: &Arc<dyn Store>, backend: Arc<dyn Backend>) -> Tenant {
        Self::over(id, store, backend, Arc::default(), Vec::new(), Retention::default())
    }

    fn over(
        id: &str,
        store: &Arc<dyn Store>,
        backend: Arc<dyn Backend>,
        policy: Arc<TenantPolicy>,
        webhooks: Vec<Webhook>,
        retention: Retention,
    ) -> Tenant {
        let parts = TenantParts {
            tenant: id.to_owned(),
            backend,
            store: store.clone(),
            policy,
            webhooks: Arc::new(webhooks),
            retention: Arc::new(retention),
        };
        Tenant { parts: Arc::new(parts), plugins: Vec::new(), sources: BTreeMap::new() }
    }

    /// Installs every plugin `config` lists for this tenant, refusing the first that fails to
    /// resolve or load, naming the tenant and the plugin.
    pub fn install_all(
        &mut self,
        runtime: &Runtime,
        config: &TenantConfig,
        operator: &LimitSettings,
    ) -> anyhow::Result<()> {
        for (name, configured) in &config.plugins {
            let installed = install(runtime, name, &configured.component, Some(configured), operator)
                .with_context(|| format!("tenant '{}'", self.parts.tenant))?;
            self.plugins.push(installed);
        }
        Ok(())
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.parts.tenant
    }

    /// provhost's own store, which the tenant's records are in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.parts.store
    }

    /// Whether and how the events the tenant's invocations ran on are kept.
    pub fn retention(&self) -> &Retention {
        &self.parts.retention
    }

    /// Where the tenant's directory lives and its actions run.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.parts.backend.clone()
    }

    /// The installed plugins, in name order.
    pub fn plugins(&self) -> &[Installed] {
        &self.plugins
    }

    /// The event as this tenant's plugins see it: a SailPoint source the tenant maps (by id or by
    /// name, in `[tenants.T.sources]`) becomes the provhost system it maps to, for an attribute
    /// change its `system`, for each account request of a Provisioning Completed its `system`. For
    /// an attribute change from a source it does not map, also a sentence naming the source and
    /// saying how to map it.
    pub fn map_sources(&self, mut event: Event) -> (Event, Option<String>) {
        if let Event::ProvisioningCompleted(completed) = &mut event {
            for request in &mut completed.account_requests {
                request.system = self.mapped(&request.source).cloned();
            }
            return (event, None);
        }
        let Event::AttributeChanged(change) = &mut event else { return (event, None) };
        let Some(source) = &change.sailpoint_source else { return (event, None) };
        match self.mapped(source) {
            Some(system) => {
                change.system = system.clone();
                (event, None)
            }
            None => {
                let unmapped = format!(
                    "SailPoint source '{}' ({}) is not mapped to a provhost system; map it in [tenants.{}.sources]",
                    source.name, source.id, self.parts.tenant
                );
                (event, Some(unmapped))
            }
        }
    }

    /// The provhost system the tenant maps a SailPoint source to, by its id or else its name.
    fn mapped(&self, source: &crate::event::Reference) -> Option<&String> {
        self.sources.get(&source.id).or_else(|| self.sources.get(&source.name))
    }

    /// The installed plugins `event` triggers, in name order.
    pub fn triggered<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a Installed> + 'a {
        self.plugins.iter().filter(move |p| p.triggered_by(event).is_ok())
    }

    /// The context of a plugin's invocation for `requester`: the key's grants bounded by the
    /// plugin's declared capabilities, with the plugin's settings.
    pub fn plugin_context(&self, requester: Requester<'_>, plugin: &Resolved) -> Arc<TenantContext> {
        self.context(requester, &plugin.name, plugin.capabilities.clone(), plugin.settings.clone())
    }

    /// The context of a call made without a plugin (a targeted request, an approval), bounded by
    /// the key alone and recorded as made `via` (`api` over HTTP, `cli` on the command line).
    pub fn request_context(&self, requester: Requester<'_>, via: &str) -> Arc<TenantContext> {
        self.context(requester, via, Grants::everything(), BTreeMap::new())
    }

    /// The context the executor carries out committed actions in: it names the executor `owner`
    /// and is granted nothing, for it makes no calls; the notifications it queues name each
    /// action's requester, the key its plan was committed under.
    pub fn executor_context(&self, owner: &str) -> Arc<TenantContext> {
        self.context(
            Requester { key_id: owner, grants: &Grants::default() },
            "executor",
            Grants::default(),
            BTreeMap::new(),
        )
    }

    fn context(
        &self,
        requester: Requester<'_>,
        plugin: &str,
        manifest: Grants,
        config: BTreeMap<String, String>,
    ) -> Arc<TenantContext> {
        Arc::new(TenantContext {
            parts: self.parts.clone(),
            permission: Permission {
                key_id: requester.key_id.to_owned(),
                key: requester.grants.clone(),
                plugin: plugin.to_owned(),
                manifest,
            },
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Triggers;

    #[test]
    fn sailpoint_sources_map_by_id_or_name_for_attribute_changes_and_account_requests() {
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory().unwrap());
        let mut tenant = Tenant::unconfigured("demo", &store);
        tenant.sources = BTreeMap::from([("Corporate Active Directory".to_string(), "active-directory".to_string())]);
        let watches_ad =
            Triggers { events: Vec::new(), attributes: Vec::new(), systems: vec!["active-directory".into()] };

        let completed =
            Event::from_json(include_str!("../../../examples/events/sailpoint-provisioning-completed.json")).unwrap();
        assert!(watches_ad.matches(&completed).is_err(), "unmapped, the request names SailPoint's source only");
        let (mapped, note) = tenant.map_sources(completed);
        assert_eq!(note, None);
        assert_eq!(watches_ad.matches(&mapped), Ok(()), "the mapped account request is in active-directory");

        let change = r#"{"identity": {"type": "IDENTITY", "id": "p", "name": "P"},
            "source": {"id": "4e4d982dddff4267ab12f0f1e72b5a6d", "type": "SOURCE", "name": "Corporate LDAP"},
            "changes": [{"attribute": "mail", "oldValue": "a", "newValue": "b"}]}"#;
        let (event, note) = tenant.map_sources(Event::from_json(change).unwrap());
        let Event::AttributeChanged(unmapped) = &event else { panic!("an attribute change") };
        assert_eq!(unmapped.system, "4e4d982dddff4267ab12f0f1e72b5a6d", "left as SailPoint named it");
        assert!(note.unwrap().contains("SailPoint source 'Corporate LDAP' (4e4d982dddff4267ab12f0f1e72b5a6d)"));
        tenant.sources.insert("4e4d982dddff4267ab12f0f1e72b5a6d".into(), "ldap".into());
        let (event, note) = tenant.map_sources(Event::from_json(change).unwrap());
        let Event::AttributeChanged(mapped) = &event else { panic!("an attribute change") };
        assert_eq!((mapped.system.as_str(), note), ("ldap", None), "by id");
    }
}
