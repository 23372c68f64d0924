//! Guest profiles of the plugins measured (`provhost bench --guest-profile DIR`): each plugin's
//! invocations, fresh and warm, sampled by wasmtime's guest profiler at every epoch tick and
//! written as one Firefox-profiler JSON file per plugin and way of running it. Needs provhost
//! built with the feature `guest-profile`.

use std::path::{Path, PathBuf};

use crate::event::Event;
use crate::runtime::Runtime;

/// One profile to take: the plugin's label, its component, how many events one instance serves.
#[cfg_attr(
    not(feature = "guest-profile"),
    expect(dead_code, reason = "read by the guest profiler, which only the feature guest-profile builds")
)]
pub struct Profiled<'a> {
    /// The plugin's label in the report.
    pub label: &'a str,
    /// Its component.
    pub path: &'a Path,
    /// Events per instance (1: fresh).
    pub events_per_instance: std::num::NonZeroU32,
}

/// The file name of a profile: `propagate-mail-python-0.2.0-fresh.json`.
#[cfg(feature = "guest-profile")]
fn file_name(label: &str, api_version: &str, fresh: bool) -> String {
    let mut slug: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.push_str(&format!("-{api_version}-{}.json", if fresh { "fresh" } else { "warm" }));
    slug
}

/// Runs `event` through each plugin `iterations` times with its guest profile attached, and
/// writes the profiles into `dir`; the files written.
#[cfg(feature = "guest-profile")]
pub fn write(
    runtime: &Runtime,
    plugins: &[Profiled],
    event: &Event,
    iterations: usize,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context;

    use crate::limits::Limits;
    use crate::runtime::GuestProfile;

    std::fs::create_dir_all(dir).with_context(|| format!("creating the profile directory {}", dir.display()))?;
    let mut written = Vec::new();
    for plugin in plugins {
        let loaded = runtime.load(plugin.path, None)?.with_warm_instances(plugin.events_per_instance);
        let fresh = plugin.events_per_instance.get() == 1;
        let name = file_name(plugin.label, &loaded.api_version, fresh);
        let profile = GuestProfile::new(runtime, &loaded, &name).map_err(|e| anyhow::anyhow!("{name}: {e:#}"))?;
        let loaded = loaded.with_guest_profile(profile.clone());
        let context = super::invoke::context(plugin.label)?;
        for _ in 0..iterations {
            let invocation = runtime.invoke(&loaded, context.clone(), Limits::default(), event)?;
            anyhow::ensure!(invocation.completed(), "{}: {}", plugin.label, invocation.outcome.detail());
        }
        let path = dir.join(&name);
        let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        profile
            .finish(std::io::BufWriter::new(file))
            .map_err(|e| anyhow::anyhow!("writing the guest profile {}: {e:#}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Without the feature `guest-profile`, there is no guest profiler to take profiles with.
#[cfg(not(feature = "guest-profile"))]
pub fn write(_: &Runtime, _: &[Profiled], _: &Event, _: usize, _: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::bail!(
        "this provhost was built without its guest profiler: build it with `cargo build --release --features guest-profile` to take guest profiles"
    )
}
