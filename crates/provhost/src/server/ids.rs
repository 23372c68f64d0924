//! The ids a route takes in its path, one type per shape, named as the document names them.

use serde::Deserialize;
use utoipa::IntoParams;

/// Declares path-id types: each field a `String` path parameter, named in camelCase.
macro_rules! path_ids {
    ($($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident),+ })+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Deserialize, IntoParams)]
            #[serde(rename_all = "camelCase")]
            #[into_params(parameter_in = Path)]
            pub struct $name {
                $($(#[$field_meta])* pub $field: String,)+
            }
        )+
    };
}

path_ids! {
    /// A person.
    OfPerson {
        /// The person (PersonGuid).
        person_id
    }
    /// A person's entitlement.
    EntitlementOfPerson {
        /// The person (PersonGuid).
        person_id,
        /// The entitlement.
        entitlement_id
    }
    /// A person's account.
    AccountOfPerson {
        /// The person (PersonGuid).
        person_id,
        /// The account.
        account_id
    }
    /// An entitlement.
    OfEntitlement {
        /// The entitlement.
        entitlement_id
    }
    /// An account.
    OfAccount {
        /// The account.
        account_id
    }
    /// A target system.
    OfSystem {
        /// The system, e.g. `active-directory`.
        system_id
    }
    /// An entitlement action.
    OfAction {
        /// The action.
        action_id
    }
    /// An event request kept under its `Idempotency-Key` or answered 202.
    OfRequest {
        /// The request, as its status URL names it.
        request_id
    }
    /// A webhook delivery.
    OfDelivery {
        /// The delivery (sent in `X-Provhost-Delivery`).
        delivery_id
    }
}
