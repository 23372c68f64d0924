//! Whole processes: `provhost run` on its first run (compiling the plugin) and on later runs
//! (from the compile cache), and a trivial `python3 -c` step for scale.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::median_us;

fn timed(command: &mut Command) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = command.output()?;
    let took = started.elapsed();
    anyhow::ensure!(out.status.success(), "{:?} failed: {}", command, String::from_utf8_lossy(&out.stderr));
    Ok(took)
}

/// (first run, median of later runs) in ms for `provhost run` of `plugin` on `event`.
pub fn provhost_run(plugin: &Path, event: &Path, runs: usize) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let data = tempfile::tempdir()?;
    let base = || {
        let mut c = Command::new(&exe);
        c.arg("--data-dir").arg(data.path()).env_remove("PROVHOST_CONFIG").env_remove("PROVHOST_CACHE_DIR");
        c
    };
    timed(base().arg("init"))?;
    let key = std::fs::read_to_string(data.path().join("keys/demo.key"))?.trim().to_owned();
    let run = || {
        let mut c = base();
        c.args(["run", "--api-key", &key, "--plugin"]).arg(plugin).arg("--event").arg(event);
        c
    };
    let first = timed(&mut run())?;
    let mut later = (0..runs).map(|_| timed(&mut run())).collect::<Result<Vec<_>, _>>()?;
    Ok((first.as_secs_f64() * 1e3, median_us(&mut later) / 1e3))
}

/// The median wall time of `python3 -c pass`, in ms (`None` without python3).
pub fn python_step(runs: usize) -> Option<f64> {
    let mut times =
        (0..runs).map(|_| timed(Command::new("python3").args(["-c", "pass"]))).collect::<Result<Vec<_>, _>>().ok()?;
    Some(median_us(&mut times) / 1e3)
}
