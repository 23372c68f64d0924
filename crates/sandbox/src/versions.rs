//! The contract versions side by side: a component pre-linked and instantiated with the bindings
//! of the version it targets, and its handler called the same way whichever that is.

use wasmtime::Store;

use crate::bindings::{Plugin0_1, Plugin0_2, PluginPre0_1, PluginPre0_2};
use crate::imports::HostState;

/// A component pre-linked against the contract version it targets.
pub(crate) enum PluginPre {
    /// Built against 0.1.0.
    V0_1(PluginPre0_1<HostState>),
    /// Built against 0.2.0.
    V0_2(PluginPre0_2<HostState>),
}

/// An instance's exports, of the version its component targets.
pub(crate) enum Plugin {
    /// Built against 0.1.0.
    V0_1(Plugin0_1),
    /// Built against 0.2.0.
    V0_2(Plugin0_2),
}

/// Links every version's imports into `linker`, each under its own versioned names.
pub(crate) fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    Plugin0_1::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Plugin0_2::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

impl PluginPre {
    /// Pre-links `pre` for `version`, one of [`crate::bindings::API_VERSIONS`].
    pub fn new(version: &str, pre: wasmtime::component::InstancePre<HostState>) -> wasmtime::Result<Self> {
        Ok(match version {
            "0.1.0" => PluginPre::V0_1(PluginPre0_1::new(pre)?),
            _ => PluginPre::V0_2(PluginPre0_2::new(pre)?),
        })
    }

    /// The component, for its guest profile.
    #[cfg(feature = "guest-profile")]
    pub fn component(&self) -> &wasmtime::component::Component {
        match self {
            PluginPre::V0_1(pre) => pre.instance_pre().component(),
            PluginPre::V0_2(pre) => pre.instance_pre().component(),
        }
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<HostState>) -> wasmtime::Result<Plugin> {
        Ok(match self {
            PluginPre::V0_1(pre) => Plugin::V0_1(pre.instantiate_async(store).await?),
            PluginPre::V0_2(pre) => Plugin::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

impl Plugin {
    /// Calls the plugin's `handle` with `event`: its summary, or the message it failed with.
    pub async fn handle(
        &self,
        store: &mut Store<HostState>,
        event: &crate::bindings::events::Event,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(match self {
            Plugin::V0_1(p) => p.provhost_plugin_handler().call_handle(store, event).await?.map(|o| o.summary),
            Plugin::V0_2(p) => p.provhost_plugin_handler().call_handle(store, event).await?.map(|o| o.summary),
        })
    }
}
