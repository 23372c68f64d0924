//! Console sessions: found by their token's hash with their key as it stands, until they expire
//! or are closed; opening one forgets those that expired.

use super::Make;
use crate::{DEMO_TENANT, Store, seed_demo};
use provhost_core::policy::Grants;

/// A time a day away, or a day ago.
fn day(ahead: bool) -> String {
    let day = time::Duration::days(1);
    let now = time::OffsetDateTime::now_utc();
    provhost_core::model::rfc3339(if ahead { now + day } else { now - day })
}

fn store_with_key(make: Make) -> (Box<dyn Store>, String) {
    let store = make();
    seed_demo(&*store).unwrap();
    let key = store.create_key(DEMO_TENANT, &Grants::everything(), "console", None).unwrap();
    (store, key.record.id)
}

pub fn a_session_names_its_key_until_it_is_closed(make: Make) {
    let (store, key) = store_with_key(make);
    store.open_session("hash-1", &key, &day(true)).unwrap();
    store.open_session("hash-2", &key, &day(true)).unwrap();
    assert_eq!(store.session_key("hash-1").unwrap().map(|k| k.id), Some(key.clone()));
    assert_eq!(store.session_key("unknown").unwrap(), None);
    store.close_session("hash-1").unwrap();
    assert_eq!(store.session_key("hash-1").unwrap(), None, "closed");
    assert_eq!(store.session_key("hash-2").unwrap().map(|k| k.id), Some(key.clone()), "the other stays open");
    store.close_session("hash-1").unwrap();

    store.revoke_key(&key).unwrap();
    let revoked = store.session_key("hash-2").unwrap().expect("the session still names its key");
    assert!(revoked.revoked_at.is_some(), "as it stands now, revoked, for the caller to refuse: {revoked:?}");
}

pub fn an_expired_session_is_not_found_and_is_forgotten_when_another_opens(make: Make) {
    let (store, key) = store_with_key(make);
    store.open_session("old", &key, &day(false)).unwrap();
    assert_eq!(store.session_key("old").unwrap(), None, "expired");
    store.open_session("new", &key, &day(true)).unwrap();
    assert!(store.session_key("new").unwrap().is_some());
    // The expired one is gone: the same hash can name a session again.
    store.open_session("old", &key, &day(true)).unwrap();
    assert!(store.session_key("old").unwrap().is_some());
}
