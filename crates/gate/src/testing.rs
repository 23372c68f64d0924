//! A tenant context over the demo tenant, for the gate, the imports and the pipeline without
//! wasm (the cargo feature `testing`).

use std::collections::BTreeMap;
use std::sync::Arc;

use provhost_core::policy::{Grants, Permission, TenantPolicy};
use provhost_platforms::EmbeddedBackend;
use provhost_store::{DEMO_TENANT, SqliteStore, Store, seed_demo};

use crate::TenantContext;

/// A demo store and a context over it for the plugin `test-plugin` (declaring everything, with
/// the setting `systems` = `exchange-online,topdesk`) under the key `phk_test` with `key`'s grants
/// and the tenant policy `policy`.
pub fn governed_context(key: Grants, policy: TenantPolicy) -> (Arc<dyn Store>, Arc<TenantContext>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    seed_demo(&*store).unwrap();
    let context = TenantContext {
        tenant: DEMO_TENANT.to_owned(),
        backend: Arc::new(EmbeddedBackend::new(store.clone())),
        store: store.clone(),
        policy: Arc::new(policy),
        permission: Permission {
            key_id: "phk_test".to_owned(),
            key,
            plugin: "test-plugin".to_owned(),
            manifest: Grants::everything(),
        },
        config: BTreeMap::from([("systems".to_string(), "exchange-online,topdesk".to_string())]),
        webhooks: Arc::new(Vec::new()),
    };
    (store, Arc::new(context))
}
