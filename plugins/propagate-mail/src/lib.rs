//! propagate-mail: when `proxyAddresses`, `mail` or `userPrincipalName` change in Active
//! Directory, bring the downstream systems up to date for that person, now:
//! retry the person's failed actions there, update their accounts there (except those a retry
//! already updates), and re-enforce their managed entitlements there.
//!
//! Settings: `source-system` (default `active-directory`) — the systems, comma-separated, whose
//! changes are propagated (`identity` for SailPoint's identity-level "Identity Attributes
//! Changed"); `attributes` (default `proxyAddresses,mail,userPrincipalName`) — the attributes
//! watched there; `systems` — comma-separated downstream systems (default: every system of the
//! person's other than the one where the change happened).

mod propagate;

use propagate::PropagateMail;

provhost_sdk::register_plugin!(PropagateMail);
