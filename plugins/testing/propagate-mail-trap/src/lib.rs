//! A version of propagate-mail that traps on every change of `proxyAddresses`, for replay tests;
//! any other change it propagates as propagate-mail does.

#[path = "../../../propagate-mail/src/propagate.rs"]
mod propagate;

use provhost_sdk::{AttributeChanged, Outcome, Plugin, register_plugin};

struct Trapping;

impl Plugin for Trapping {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        if event.changes.iter().any(|c| c.attribute == "proxyAddresses") {
            panic!("this version cannot handle a proxyAddresses change");
        }
        <propagate::PropagateMail as Plugin>::on_attribute_changed(event)
    }
}

register_plugin!(Trapping);
