//! Resident memory of `provhost serve`: idle with one tenant and one plugin, and with many
//! tenants each running the plugins of every language.

use std::path::Path;

/// The resident size of a process, in MiB, from /proc.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))?;
    Ok(kb / 1024.0)
}

/// Starts a server with `tenants` tenants, each with every plugin in `plugins`, and measures its
/// resident size once it listens — on a second start, with the plugins in the compile cache, as a
/// server restarts in production.
pub fn server_rss(tenants: usize, plugins: &[&Path]) -> anyhow::Result<f64> {
    let data = tempfile::tempdir()?;
    let mut config = String::new();
    for t in 0..tenants {
        for (p, plugin) in plugins.iter().enumerate() {
            config.push_str(&format!(
                "[tenants.t{t}.plugins.p{p}]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\"]\n",
                plugin.display()
            ));
        }
    }
    std::fs::write(data.path().join("provhost.toml"), config)?;
    start_and_measure(data.path())?;
    start_and_measure(data.path())
}

fn start_and_measure(data: &Path) -> anyhow::Result<f64> {
    let serving = super::process::Serving::start(data, &data.join("provhost.toml"), None)?;
    rss_mib(serving.pid())
}
