//! A real `provhost serve` on 127.0.0.1 with an ephemeral port, stopped when dropped; and a
//! webhook receiver on loopback that answers with scripted statuses.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Demo;

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// What it wrote to standard error after it started listening, line by line.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The thread that reads its standard error into `logs`, until the server closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `provhost serve --listen 127.0.0.1:0` on the demo's data directory, configuration
    /// and store, and waits until it listens.
    pub fn start(demo: &Demo, extra: &[&str]) -> Server {
        Self::start_with(demo, extra, &[])
    }

    /// [`Server::start`] with these environment variables set for the server.
    pub fn start_with(demo: &Demo, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = demo.command(&["serve", "--listen", "127.0.0.1:0"]);
        let mut child = command
            .args(extra)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting provhost serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        // Warnings (e.g. requests a kill cut off) may come before the line that says it listens.
        let mut printed = Vec::new();
        let base = loop {
            let line = lines.next().unwrap_or_else(|| panic!("provhost serve did not start: {printed:?}")).unwrap();
            if let Some(base) = line.strip_prefix("provhost: listening on ") {
                break base.to_owned();
            }
            printed.push(line);
        };
        let logs = Arc::new(Mutex::new(Vec::new()));
        let kept = logs.clone();
        let reader =
            std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| kept.lock().unwrap().push(line)));
        Server { child: Some(child), base, logs, reader: Some(reader) }
    }

    /// A URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if !status.success() {
                    // Its standard error is closed now: every line it wrote is read once the reader ends.
                    if let Some(reader) = self.reader.take() {
                        let _ = reader.join();
                    }
                    eprintln!(
                        "provhost serve ended {status} after SIGTERM; it wrote: {:#?}",
                        self.logs.lock().unwrap()
                    );
                }
                return status;
            }
            assert!(Instant::now() < deadline, "provhost serve did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 answering with `statuses` in turn (the last one repeats).
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub fn start(statuses: &[u16]) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.to_vec()));
        let (rec, st) = (received.clone(), statuses.clone());
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
            let (rec, st) = (rec.clone(), st.clone());
            async move {
                let headers =
                    headers.iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
                rec.lock().unwrap().push(Received { headers, body });
                let mut statuses = st.lock().unwrap();
                let status = if statuses.len() > 1 { statuses.remove(0) } else { statuses[0] };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        let (base, stop) = super::serve_loopback(app);
        Receiver { url: format!("{base}/hook"), received, statuses, _stop: stop }
    }

    /// From now on answer `status`.
    pub fn answer(&self, status: u16) {
        *self.statuses.lock().unwrap() = vec![status];
    }

    /// Waits until `n` requests arrived (at most `timeout`); returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
