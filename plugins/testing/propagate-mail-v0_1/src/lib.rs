//! propagate-mail, the same source, built against the frozen contract 0.1.0 (the SDK's feature
//! `contract-0-1`): the component a plugin author built before 0.2.0, which provhost still serves.
//! Built on its own (`cargo build -p propagate-mail-v0_1`), so that the feature does not reach the
//! other plugins of the workspace.

#[path = "../../../propagate-mail/src/propagate.rs"]
mod propagate;

provhost_sdk::register_plugin!(propagate::PropagateMail);
