//! # provhost-sdk
//!
//! Write provhost plugins in Rust. Implement [`Plugin`] for a type, override the events you care
//! about, and call [`register_plugin!`] once:
//!
//! ```ignore
//! use provhost_sdk::{Plugin, AttributeChanged, Outcome, PersonId, actions, register_plugin};
//!
//! struct UpdateEverywhere;
//!
//! impl Plugin for UpdateEverywhere {
//!     fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
//!         let person = PersonId::from(event.person.as_str());
//!         let receipts = actions::update_all_accounts(&person, "attribute changed").map_err(|e| e.to_string())?;
//!         Ok(Outcome::new(format!("planned {} account updates", receipts.len())))
//!     }
//! }
//!
//! register_plugin!(UpdateEverywhere);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` file is the plugin.

extern crate self as provhost_sdk;

pub mod actions;
mod ids;
pub mod log;
pub mod queries;
pub mod settings;

pub use ids::{AccountId, ActionId, EntitlementId, PersonId, SystemId};

/// The bindings of the contract version the SDK builds against: 0.2.0, or the frozen 0.1.0 with
/// the feature `contract-0-1`. The API above them is the same for both.
macro_rules! contract_bindings {
    ($wit:literal) => {
        #[doc(hidden)]
        #[allow(missing_docs, unsafe_code, clippy::all)]
        pub mod bindings {
            wit_bindgen::generate!({
                path: $wit,
                world: "plugin",
                pub_export_macro: true,
                export_macro_name: "__export_plugin",
                default_bindings_module: "::provhost_sdk::bindings",
                runtime_path: "::provhost_sdk::__wit_bindgen::rt",
            });
        }
    };
}

#[cfg(not(feature = "contract-0-1"))]
contract_bindings!("wit");
#[cfg(feature = "contract-0-1")]
contract_bindings!("wit-0.1.0");

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::exports::provhost::plugin::handler::Outcome;
pub use bindings::provhost::plugin::events::{
    AccountRequest, AttributeChange, AttributeChanged, AttributeRequest, Event, ProvisioningCompleted, Reference,
};
pub use bindings::provhost::plugin::types::{
    Account, Action, ActionFilter, ActionKind, ActionState, ActionTarget, Attribute, Entitlement, EntitlementType,
    Error, Receipt, ThresholdHit,
};
pub use queries::Person;

/// The provhost plugin API version this SDK builds against; [`register_plugin!`] writes it into
/// the component so the host can refuse an incompatible plugin before compiling it.
#[cfg(not(feature = "contract-0-1"))]
pub const API_VERSION: &str = "0.2.0";
/// The provhost plugin API version this SDK builds against; [`register_plugin!`] writes it into
/// the component so the host can refuse an incompatible plugin before compiling it.
#[cfg(feature = "contract-0-1")]
pub const API_VERSION: &str = "0.1.0";

impl Outcome {
    /// An outcome with a one-line summary of what the plugin decided.
    pub fn new(summary: impl Into<String>) -> Self {
        Outcome { summary: summary.into() }
    }
}

/// A provhost plugin. Each method handles one kind of event; the defaults do nothing and say so.
/// Every event runs in a fresh instance unless the tenant opted into warm instances
/// (`events-per-instance`); either way a plugin must not rely on state kept between events.
pub trait Plugin {
    /// Attributes of a person changed outside provisioning.
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        let _ = event;
        Ok(Outcome::new("attribute-changed events are not handled by this plugin"))
    }

    /// A provisioning run finished (SailPoint's "Provisioning Completed").
    fn on_provisioning_completed(event: &ProvisioningCompleted) -> Result<Outcome, String> {
        let _ = event;
        Ok(Outcome::new("provisioning-completed events are not handled by this plugin"))
    }

    /// An entitlement action ended in error.
    fn on_action_failed(action: &Action) -> Result<Outcome, String> {
        let _ = action;
        Ok(Outcome::new("action-failed events are not handled by this plugin"))
    }
}

/// Routes an event to the plugin's method for it. Used by [`register_plugin!`].
#[doc(hidden)]
pub fn __dispatch<P: Plugin>(event: Event) -> Result<Outcome, String> {
    match &event {
        Event::AttributeChanged(e) => P::on_attribute_changed(e),
        Event::ProvisioningCompleted(e) => P::on_provisioning_completed(e),
        Event::ActionFailed(a) => P::on_action_failed(a),
    }
}

/// The API version as a fixed-size array, for the custom section [`register_plugin!`] writes.
#[doc(hidden)]
pub const fn __api_version_bytes<const N: usize>() -> [u8; N] {
    let bytes = API_VERSION.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Makes a type implementing [`Plugin`] the component's handler, and records the provhost API
/// version in the `provhost:api-version` custom section.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __ProvhostHandler;

        impl $crate::bindings::exports::provhost::plugin::handler::Guest for __ProvhostHandler {
            fn handle(event: $crate::Event) -> ::core::result::Result<$crate::Outcome, ::std::string::String> {
                $crate::__dispatch::<$plugin>(event)
            }
        }

        $crate::bindings::__export_plugin!(__ProvhostHandler);

        #[used]
        #[unsafe(link_section = "provhost:api-version")]
        static __PROVHOST_API_VERSION: [u8; $crate::API_VERSION.len()] = $crate::__api_version_bytes();
    };
}
