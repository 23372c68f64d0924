//! Where a webhook delivery stands, as `GET /v1/webhooks/deliveries` shows and filters it.

use serde::{Deserialize, Serialize};

/// The state of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Queued, or waiting for its next try.
    Pending,
    /// The endpoint took it.
    Delivered,
    /// Out of tries: a dead letter, until it is re-driven.
    Dead,
}

impl DeliveryStatus {
    /// The wire name, as the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;

    /// The status of a wire name (`pending`, `delivered`, `dead`).
    fn from_str(name: &str) -> Result<Self, String> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| format!("unknown delivery status {name:?}: not pending, delivered or dead"))
    }
}
