//! A plugin that handles every event by doing nothing: what an invocation costs without work.

use provhost_sdk::{AttributeChanged, Outcome, Plugin, register_plugin};

struct Noop;

impl Plugin for Noop {
    fn on_attribute_changed(_event: &AttributeChanged) -> Result<Outcome, String> {
        Ok(Outcome::new("nothing to do"))
    }
}

register_plugin!(Noop);
