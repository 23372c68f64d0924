//! The wire types shared by provhost's HTTP API and the clients that speak it (the HelloID
//! backend talks to a provhost in front of a platform): below both, so neither imports the other.

mod delivery;
mod page;
mod report;

pub use delivery::DeliveryStatus;
pub use page::{Page, Paging};
pub use report::{ActionSummary, RequestReport};
