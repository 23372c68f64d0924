//! Webhook deliveries: queued durably, retried with backoff, dead-lettered after the last try,
//! re-driven on request.

use std::time::Duration;

use serde::Serialize;

use super::StoreError;
use provhost_core::api::DeliveryStatus;
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
    /// Pending, delivered or dead.
    pub status: DeliveryStatus,
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

/// Which due deliveries one pass takes, tenant by tenant so that one tenant's backlog holds back
/// no other's: the tenants in turn from the `start`th on, at most `per_tenant` of each (oldest
/// first) less what the sender has of it in flight, at most `limit` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuePage<'a> {
    /// The tenant (by its place among the tenants) the pass starts with.
    pub start: usize,
    /// The most of one tenant's deliveries the sender has in flight at once.
    pub per_tenant: usize,
    /// The most deliveries the pass takes in all.
    pub limit: usize,
    /// How many deliveries of each tenant the sender has in flight already.
    pub in_flight: &'a [(String, usize)],
}

/// A delivery one sender holds until its lease passes: no other sender takes it meanwhile, and
/// only this claim's try is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryClaim {
    /// The delivery as claimed.
    pub delivery: Delivery,
    /// The claim's fencing token: a later claim of the same delivery has a higher one.
    pub token: i64,
}

/// The deliveries one pass claimed, and where the next pass starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueDeliveries {
    /// The claims, tenant by tenant.
    pub claims: Vec<DeliveryClaim>,
    /// The tenant the next pass starts with (for [`DuePage::start`]).
    pub next: usize,
}

/// How one try of a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint took it.
    Delivered,
    /// It failed with `error` and is tried again at `retry_at` (RFC 3339).
    Retry {
        /// What the try met.
        error: String,
        /// When the next try is due.
        retry_at: String,
    },
    /// It failed with `error`, its last try: a dead letter.
    Dead {
        /// What the try met.
        error: String,
    },
}

/// Webhook deliveries.
pub trait DeliveryStore {
    /// Claims the pending deliveries due by now that no other sender holds (or whose holder's
    /// lease passed), taken as `page` says, for sender `owner` until `lease` from now on the
    /// store's clock. Each claim takes a new fencing token; senders on other hosts skip the
    /// deliveries claimed, so one delivery is sent by one sender at a time.
    fn claim_deliveries(&self, owner: &str, lease: Duration, page: DuePage<'_>) -> Result<DueDeliveries, StoreError>;

    /// When the next pending delivery is due, if any.
    fn next_delivery_due(&self) -> Result<Option<String>, StoreError>;

    /// Records how the try of `claim`, made by sender `owner`, ended, and lets the delivery go.
    /// A claim whose lease passed and whose delivery another sender took up since (a later
    /// token), or that ended, records nothing: [`StoreError::Conflict`] says so.
    fn record_attempt(&self, owner: &str, claim: &DeliveryClaim, attempt: &Attempt) -> Result<(), StoreError>;

    /// The tenant's deliveries in a state (all, for `None`), newest first.
    fn deliveries(
        &self,
        tenant: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Puts a dead delivery back in the queue, due now, with a fresh count of tries; recorded in
    /// the audit trail with the key that asked (`by`).
    fn redrive(&self, tenant: &str, id: &str, by: &str) -> Result<(), StoreError>;
}

/// The conflict a try recorded too late says: another sender took the delivery up, or it ended.
pub(crate) fn claim_lost(claim: &DeliveryClaim) -> StoreError {
    StoreError::Conflict(format!(
        "delivery '{}' of tenant '{}' is no longer held by this sender's claim (token {}): its lease passed \
         and another sender took it up, or it ended; this try is not recorded",
        claim.delivery.id, claim.delivery.tenant, claim.token
    ))
}

/// A delivery's status as the store keeps it.
pub(crate) fn status_from(name: &str) -> Result<DeliveryStatus, StoreError> {
    name.parse().map_err(|reason| StoreError::Corrupt { column: "deliveries.status", reason })
}

/// Takes a pass's claims tenant by tenant as `page` says: `take(tenant, room)` claims up to `room`
/// of one tenant's due deliveries. The next pass starts after the last tenant that had any.
pub(crate) fn in_turn(
    tenants: &[String],
    page: DuePage<'_>,
    mut take: impl FnMut(&str, usize) -> Result<Vec<DeliveryClaim>, StoreError>,
) -> Result<DueDeliveries, StoreError> {
    if tenants.is_empty() {
        return Ok(DueDeliveries::default());
    }
    let start = page.start % tenants.len();
    let mut due = DueDeliveries { claims: Vec::new(), next: start };
    for (turn, tenant) in tenants[start..].iter().chain(&tenants[..start]).enumerate() {
        let left = page.limit - due.claims.len();
        if left == 0 {
            break;
        }
        let sending = page.in_flight.iter().find(|(t, _)| t == tenant).map_or(0, |(_, n)| *n);
        let room = page.per_tenant.saturating_sub(sending).min(left);
        if room == 0 {
            continue;
        }
        let claimed = take(tenant, room)?;
        if !claimed.is_empty() {
            due.next = (start + turn + 1) % tenants.len();
        }
        due.claims.extend(claimed);
    }
    Ok(due)
}
