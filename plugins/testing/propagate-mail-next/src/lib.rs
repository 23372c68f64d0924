//! propagate-mail's next version, for replay tests: what propagate-mail plans, and an update of
//! the person's accounts in one more system, `afas-hr`, whenever propagate-mail propagates.

#[path = "../../../propagate-mail/src/propagate.rs"]
mod propagate;

use provhost_sdk::{AccountId, AttributeChanged, Outcome, PersonId, Plugin, actions, queries, register_plugin};

/// The system the next version also updates.
const ONE_MORE: &str = "afas-hr";

struct Next;

impl Plugin for Next {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        let released = <propagate::PropagateMail as Plugin>::on_attribute_changed(event)?;
        if released.summary.starts_with("ignored") {
            return Ok(released);
        }
        let person = PersonId::from(event.person.as_str());
        let accounts =
            queries::list_accounts(&person, None).map_err(|e| format!("reading accounts of {person}: {e:?}"))?;
        for account in accounts.iter().filter(|a| a.system == ONE_MORE) {
            actions::update_account(&person, &AccountId::from(&account.id), "propagated to one more system")
                .map_err(|e| format!("UpdateAccount on {ONE_MORE}: {e:?}"))?;
        }
        Ok(Outcome::new(format!("{}; and {ONE_MORE}", released.summary)))
    }
}

register_plugin!(Next);
