//! Notifications out: after committed actions finish, a "Provisioning Completed"-shaped payload
//! per person goes to every webhook the tenant subscribed (filtered by its JSONPath), queued
//! durably and delivered signed, with retries and a dead-letter list.

mod delivery;
mod payload;

pub use delivery::{SIGNATURE_HEADER, client, deliver_due, run_worker, sign};
pub use payload::provisioning_completed;

use crate::config::Webhook;
use crate::gate::TenantContext;
use crate::model::Action;
use crate::store::StoreError;

/// Queues the notifications for a concluded plan: one payload per person whose actions ran,
/// to each subscribed webhook whose filter matches it. Returns how many were queued.
pub fn queue(context: &TenantContext, invocation: &str, origin: &str, actions: &[Action]) -> Result<usize, StoreError> {
    if context.webhooks.is_empty() || actions.is_empty() {
        return Ok(0);
    }
    let mut queued = 0;
    for payload in provisioning_completed(context, invocation, origin, actions) {
        let body = payload.to_string();
        for hook in context.webhooks.iter().filter(|h| matches(h, &payload)) {
            context.store.queue_delivery(&context.tenant, &hook.url, &body)?;
            queued += 1;
        }
    }
    Ok(queued)
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
