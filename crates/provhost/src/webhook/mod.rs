//! Notifications out: after committed actions finish, a "Provisioning Completed"-shaped payload
//! per person goes to every webhook the tenant subscribed (filtered by its JSONPath), queued
//! durably and delivered signed, with retries and a dead-letter list.

mod delivery;
mod payload;

pub use delivery::{SIGNATURE_HEADER, client, deliver_due, run_worker, sign};
use payload::{Naming, provisioning_completed};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::config::Webhook;
use crate::gate::TenantContext;
use crate::model::Action;
use crate::store::{Effect, StoreError};

/// What a notification's `trackingNumber` and `action` name.
#[derive(Debug, Clone, Copy)]
pub enum Tracking<'a> {
    /// This id and origin for every action (an approval, a run carried out at once).
    Fixed(&'a str, &'a str),
    /// Each action's invocation, with the plugin (or `api`) that ran it and the key it ran under.
    ByInvocation,
}

/// The tracking number and origin of [`Tracking::Fixed`], kept.
struct Fixed {
    id: String,
    origin: String,
}

/// What ran an invocation, as its notifications name it.
struct Source {
    /// The plugin, or `executor` when the invocation is not on record.
    plugin: String,
    /// The key that requested its actions.
    requester: String,
}

/// The notifications of a unit of work that ends actions, prepared before it: what each payload
/// says that the backend knows (names, accounts, entitlements) is read here, so that the payloads
/// are built inside the store's transaction from the actions as they ended and queued with them —
/// a crash loses neither the ends nor their notifications.
pub struct Outbox {
    hooks: Arc<Vec<Webhook>>,
    /// The key the unit of work runs under: the requester where no invocation names one.
    requester: String,
    /// The tracking number and origin every notification names, for a fixed tracking.
    fixed: Option<Fixed>,
    /// By invocation: the plugin that ran it and the key that requested its actions.
    sources: BTreeMap<String, Source>,
    parts: HashMap<String, payload::Part>,
    names: HashMap<String, String>,
}

impl Outbox {
    /// Prepares the notifications for `actions` (each with what carrying it out changes, when
    /// known) for the tenant's subscribed webhooks; nothing is read when there are none.
    pub fn prepare(
        context: &TenantContext,
        tracking: Tracking<'_>,
        actions: &[(&Action, Option<&Effect>)],
    ) -> Result<Outbox, StoreError> {
        let mut outbox = Outbox {
            hooks: context.parts.webhooks.clone(),
            requester: context.permission.key_id.clone(),
            fixed: None,
            sources: BTreeMap::new(),
            parts: HashMap::new(),
            names: HashMap::new(),
        };
        if outbox.hooks.is_empty() {
            return Ok(outbox);
        }
        match tracking {
            Tracking::Fixed(id, origin) => outbox.fixed = Some(Fixed { id: id.to_owned(), origin: origin.to_owned() }),
            Tracking::ByInvocation => {
                for (action, _) in actions {
                    let invocation = action.invocation.clone().unwrap_or_default();
                    if let std::collections::btree_map::Entry::Vacant(entry) = outbox.sources.entry(invocation) {
                        let source = context.parts.store.invocation_source(&context.parts.tenant, entry.key())?;
                        let plugin = source.as_ref().map_or_else(|| "executor".into(), |s| s.plugin.clone());
                        let requester = source.and_then(|s| s.key_id).unwrap_or_else(|| outbox.requester.clone());
                        entry.insert(Source { plugin, requester });
                    }
                }
            }
        }
        for (action, effect) in actions {
            outbox.parts.insert(action.id.clone(), payload::Part::read(context, action, *effect));
            if !outbox.names.contains_key(&action.person) {
                let name = context.parts.backend.person(&context.parts.tenant, &action.person).map(|p| p.display_name);
                outbox.names.insert(action.person.clone(), name.unwrap_or_default());
            }
        }
        Ok(outbox)
    }

    /// The deliveries for the actions that ended: one payload per person and tracking number, to
    /// each subscribed webhook whose filter matches it, as (URL, body).
    pub fn deliveries(&self, ended: &[Action]) -> Vec<(String, String)> {
        if self.hooks.is_empty() || ended.is_empty() {
            return Vec::new();
        }
        let mut groups: BTreeMap<Naming<'_>, Vec<&Action>> = BTreeMap::new();
        for action in ended {
            let naming = match &self.fixed {
                Some(Fixed { id, origin }) => Naming { tracking_number: id, origin, requester: &self.requester },
                None => {
                    let invocation = action.invocation.as_deref().unwrap_or_default();
                    match self.sources.get(invocation) {
                        Some(Source { plugin, requester }) => {
                            Naming { tracking_number: invocation, origin: plugin, requester }
                        }
                        None => Naming { tracking_number: invocation, origin: "executor", requester: &self.requester },
                    }
                }
            };
            groups.entry(naming).or_default().push(action);
        }
        let mut out = Vec::new();
        for (naming, actions) in groups {
            for payload in provisioning_completed(naming, &actions, &self.parts, &self.names) {
                let body = payload.to_string();
                out.extend(self.hooks.iter().filter(|h| matches(h, &payload)).map(|h| (h.url.clone(), body.clone())));
            }
        }
        out
    }
}

fn matches(hook: &Webhook, payload: &serde_json::Value) -> bool {
    match &hook.filter {
        None => true,
        Some(filter) => {
            serde_json_path::JsonPath::parse(filter).map(|path| !path.query(payload).is_empty()).unwrap_or(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(filter: Option<&str>) -> Webhook {
        Webhook {
            url: "http://127.0.0.1:1/".into(),
            secret: "0123456789abcdef".into(),
            filter: filter.map(String::from),
            max_attempts: 1,
            retry_base_ms: 1,
        }
    }

    #[test]
    fn filters_select_payloads_by_jsonpath() {
        let failed = serde_json::json!({"accountRequests": [{"provisioningResult": "FAILED"}]});
        let fine = serde_json::json!({"accountRequests": [{"provisioningResult": "SUCCESS"}]});
        let only_failures = hook(Some("$.accountRequests[?@.provisioningResult == 'FAILED']"));
        assert!(matches(&only_failures, &failed));
        assert!(!matches(&only_failures, &fine));
        assert!(matches(&hook(None), &fine));
    }
}
