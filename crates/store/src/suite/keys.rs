//! API keys: created, listed without secrets, verified, revoked, expired.

use super::Make;
use crate::{AuthError, DEMO_TENANT, IssuedKey, KeyError, Store, seed_demo};
use provhost_core::auth::Credentials;
use provhost_core::policy::Grants;

fn store(make: Make) -> Box<dyn Store> {
    let store = make();
    seed_demo(&*store).unwrap();
    store
}

pub fn a_created_key_verifies_and_lists_without_its_secret(make: Make) {
    let store = store(make);
    let scopes = Grants::parse(&["persons:read", "accounts:update@topdesk"]).unwrap();
    let IssuedKey { record: key, secret } = store.create_key(DEMO_TENANT, &scopes, "workflow step", None).unwrap();
    let ok = store.verify_key(&Credentials { id: key.id.clone(), secret: secret.clone() }).unwrap();
    assert_eq!(ok.scopes, scopes);
    let listed = serde_json::to_string(&store.keys(Some(DEMO_TENANT)).unwrap()).unwrap();
    assert!(listed.contains(&key.id) && !listed.contains(&secret));
    let wrong = store.verify_key(&Credentials { id: key.id.clone(), secret: "guess".into() }).unwrap_err();
    assert_eq!(wrong.to_string(), format!("API key '{}' is not valid (unknown key or wrong secret)", key.id));
}

pub fn revoked_and_expired_keys_are_refused(make: Make) {
    let store = store(make);
    let IssuedKey { record: key, secret } = store.create_key(DEMO_TENANT, &Grants::everything(), "", None).unwrap();
    store.revoke_key(&key.id).unwrap();
    let err = store.verify_key(&Credentials { id: key.id.clone(), secret }).unwrap_err();
    assert!(matches!(err, KeyError::Auth(AuthError::Revoked(..))), "{err}");
    assert!(store.revoke_key(&key.id).is_err(), "revoking twice is reported");

    let IssuedKey { record: old, secret } =
        store.create_key(DEMO_TENANT, &Grants::everything(), "", Some("2020-01-01T00:00:00Z".into())).unwrap();
    let err = store.verify_key(&Credentials { id: old.id, secret }).unwrap_err();
    assert!(err.to_string().contains("expired at 2020-01-01T00:00:00Z"), "{err}");
}

pub fn keys_need_an_existing_tenant(make: Make) {
    let err = store(make).create_key("nope", &Grants::everything(), "", None).unwrap_err();
    assert!(err.to_string().contains("tenant 'nope' not found"), "{err}");
}
