//! The plugin's settings, as the tenant configured them over the manifest's defaults.

/// The setting named `key`: the tenant's value, else the manifest's default, else none.
#[cfg(not(feature = "contract-0-1"))]
pub fn get(key: &str) -> Option<String> {
    crate::bindings::provhost::plugin::settings::get(key)
}

/// The setting named `key`: the tenant's value, else the manifest's default, else none.
#[cfg(feature = "contract-0-1")]
pub fn get(key: &str) -> Option<String> {
    crate::bindings::provhost::plugin::log::config(key)
}
