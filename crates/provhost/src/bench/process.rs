//! Whole processes: `provhost run` on its first run (compiling the plugin) and on later runs
//! (from the compile cache), a trivial `python3 -c` step for scale, and `provhost serve` started
//! as a child for the figures that need a real server process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// A `provhost serve` of this binary running as a child process on 127.0.0.1, stopped (SIGTERM,
/// then killed if it lingers) when dropped.
pub struct Serving {
    child: Child,
    /// Where it listens, `http://127.0.0.1:port`.
    pub base: String,
}

impl Serving {
    /// Starts `provhost serve` with its data directory `data`, the configuration at `config` and,
    /// when given, the store at `store`; returns once it says where it listens.
    pub fn start(data: &Path, config: &Path, store: Option<&str>) -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--data-dir").arg(data).arg("--config").arg(config);
        if let Some(store) = store {
            command.arg("--store").arg(store);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("PROVHOST_STORE")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut said = Vec::new();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => match line.strip_prefix("provhost: listening on ") {
                    Some(base) => break base.to_owned(),
                    None => said.push(line),
                },
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    anyhow::bail!("provhost serve (data {}) did not start: {}", data.display(), said.join("\n"));
                }
            }
        };
        // The server's later lines are read and dropped, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Ok(Self { child, base })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
