//! Webhook deliveries: queued durably, retried with backoff, dead-lettered after the last try,
//! re-driven on request.

use serde::Serialize;

use super::StoreError;
use provhost_core::model::Action;

/// What to queue with the ends a unit of work recorded: each notification's URL and body, built
/// from the actions as they ended (the webhooks of the tenant).
pub type Notify<'a> = &'a dyn Fn(&[Action]) -> Vec<(String, String)>;
/// One notification to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Its id (sent in `X-Provhost-Delivery`).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    #[schema(value_type = provhost_core::api::DeliveryStatus)]
    pub status: String,
    /// Tries so far.
    pub attempts: u32,
    /// When the next try is due (RFC 3339).
    #[schema(format = DateTime)]
    pub next_attempt_at: String,
    /// What the last failed try met.
    pub last_error: Option<String>,
    /// When it was queued.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Webhook deliveries.
pub trait DeliveryStore {
    /// Pending deliveries due by now, taken tenant by tenant so that one tenant's backlog holds
    /// back no other's: the tenants in turn from the `start`th on, at most `per_tenant` of each
    /// (oldest first), at most `limit` in all. Returns them and where the next turn starts.
    fn due_deliveries(&self, page: (usize, usize, usize)) -> Result<(Vec<Delivery>, usize), StoreError>;

    /// When the next pending delivery is due, if any.
    fn next_delivery_due(&self) -> Result<Option<String>, StoreError>;

    /// Records a try: delivered, or failed with `error` and retried at `retry_at` (`None`: dead).
    fn record_attempt(&self, id: &str, outcome: Result<(), (String, Option<String>)>) -> Result<(), StoreError>;

    /// The tenant's deliveries in a state, newest first.
    fn deliveries(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Puts a dead delivery back in the queue, due now, with a fresh count of tries; recorded in
    /// the audit trail with the key that asked (`by`).
    fn redrive(&self, tenant: &str, id: &str, by: &str) -> Result<(), StoreError>;
}
