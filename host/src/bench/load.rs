//! The server under load: a real `serve` on 127.0.0.1 with its store on disk (WAL), and a
//! closed-loop load generator on loopback at rising concurrency, measuring sustained events per
//! second and latency percentiles with every plan committed and synced, and how many changes
//! each group commit held.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::runtime::Runtime;
use crate::server::{AppState, serve};
use crate::store::{Store, seed_demo};

/// Figures at one concurrency.
pub struct LoadFigures {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Events answered 200 per second.
    pub events_per_second: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Answers other than 200.
    pub errors: usize,
    /// Store changes per synced commit: how many units the group commits held on average.
    pub changes_per_commit: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// Runs the load at each concurrency for `duration`.
pub fn run(plugin: &Path, event: &Path, levels: &[usize], duration: Duration) -> anyhow::Result<Vec<LoadFigures>> {
    let data = tempfile::tempdir()?;
    let store = Arc::new(Store::open(&data.path().join("provhost.db"))?);
    seed_demo(&store)?;
    let (key, secret) = store.create_key("demo", &crate::policy::Grants::everything(), "bench", None)?;
    let config_text = format!(
        "[tenants.demo.plugins.bench]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\", \"accounts:update\", \"entitlements:re-enforce\", \"actions:retry\"]\n",
        plugin.display()
    );
    let config = Arc::new(Config::parse(Path::new("bench.toml"), &config_text)?);
    let runtime = Arc::new(Runtime::new(data.path().join("cache"))?);
    let state = Arc::new(AppState::new(store.clone(), runtime, config)?);
    let body = std::fs::read_to_string(event)?;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v1/events", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, 1 << 20, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        let mut figures = Vec::new();
        for &concurrency in levels {
            let stats = store.group_stats();
            let (commits, changes) = (stats.groups(), stats.units());
            let deadline = Instant::now() + duration;
            let started = Instant::now();
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (client, url, body, key) =
                        (client.clone(), url.clone(), body.clone(), (key.id.clone(), secret.clone()));
                    tokio::spawn(async move {
                        let (mut latencies, mut errors) = (Vec::new(), 0usize);
                        while Instant::now() < deadline {
                            let sent = Instant::now();
                            let answer = client
                                .post(&url)
                                .basic_auth(&key.0, Some(&key.1))
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await;
                            match answer {
                                Ok(r) if r.status().is_success() => {
                                    let _ = r.bytes().await;
                                    latencies.push(sent.elapsed());
                                }
                                _ => errors += 1,
                            }
                        }
                        (latencies, errors)
                    })
                })
                .collect();
            let (mut latencies, mut errors) = (Vec::new(), 0);
            for worker in workers {
                let (l, e) = worker.await?;
                latencies.extend(l);
                errors += e;
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort();
            figures.push(LoadFigures {
                concurrency,
                events_per_second: latencies.len() as f64 / elapsed,
                p50_ms: percentile(&latencies, 0.5),
                p99_ms: percentile(&latencies, 0.99),
                errors,
                changes_per_commit: (stats.units() - changes) as f64 / (stats.groups() - commits).max(1) as f64,
            });
        }
        let _ = stop.send(());
        server.await??;
        anyhow::Ok(figures)
    })
}
