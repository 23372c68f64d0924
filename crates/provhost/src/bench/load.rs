//! The server under load: a real server on 127.0.0.1 with its store on disk (WAL), in this
//! process, or one or more `provhost serve` processes on a PostgreSQL database, and a
//! closed-loop load generator on loopback at rising concurrency, measuring events answered per
//! second and latency percentiles with every plan committed and synced, how many changes each
//! group commit held, how many actions the executor carried out per second meanwhile, and the
//! events per second sustained once the wait for every action to be carried out is counted. The
//! generator is `wrk` in a process of its own when it is on the PATH (so it does not share the
//! server's runtime), otherwise a lean in-process client.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::process::Serving;
use crate::config::Config;
use crate::model::{ActionFilter, ActionState};
use crate::runtime::Runtime;
use crate::server::{AppState, serve};
use crate::store::{ActionStore, IssuedKey, KeyStore, PostgresStore, ScratchDatabase, SqliteStore, Store, seed_demo};

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
    /// Actions the executor carried out per second meanwhile.
    pub actions_per_second: f64,
    /// Actions pending, running or waiting when the level ended: what the executor had still to
    /// carry out.
    pub unfinished: u64,
    /// Events answered per second of the level and of the wait after it until every action was
    /// carried out: the rate the server sustains with its executor keeping up. `None` when the
    /// actions were not all carried out within [`DRAIN_LIMIT`].
    pub sustained_events_per_second: Option<f64>,
    /// On PostgreSQL, transactions the database committed per event answered, over the level and
    /// the wait after it: the event's commit, the executor's claims and ends, and every read (each
    /// a transaction of its own).
    pub transactions_per_event: Option<f64>,
    /// What generated the load: `wrk` or `in-process`.
    pub generator: &'static str,
}

/// What one level of load measured: answers, latencies, failures.
struct Measured {
    answered: usize,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// Which store the server under load runs on, and on how many hosts.
#[derive(Debug, Clone, Copy)]
pub enum Setup<'a> {
    /// The embedded SQLite store, one server in this process.
    Embedded,
    /// A fresh database on the PostgreSQL server at `server` (a URL naming any database the user
    /// may create others beside), served by `hosts` `provhost serve` processes, each with a data
    /// directory, a connection pool, an instance pool and an executor of its own; the load is split
    /// evenly across them.
    Postgres {
        /// The server's URL.
        server: &'a str,
        /// How many `serve` processes share the database.
        hosts: usize,
    },
}

/// The configuration every server under load runs: the demo tenant with the plugin, its share
/// raised so that no event is refused for being busy.
fn config_text(plugin: &Path) -> String {
    format!(
        "[tenants.demo.share]\nmax-concurrent-events = 128\nevents-per-second = 1000000\n\n[tenants.demo.plugins.bench]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\", \"accounts:update\", \"entitlements:re-enforce\", \"actions:retry\"]\n",
        plugin.display()
    )
}

/// What the store has counted so far: group commits and the changes they held (the embedded
/// store's), actions ended, and on PostgreSQL the transactions the database committed.
struct Counted {
    groups: u64,
    units: u64,
    ended: u64,
    transactions: Option<i64>,
}

/// The longest a level waits, after its load, for its actions to be carried out: past an
/// executor's lease, so that an action whose attempt failed (and that is taken up again once its
/// lease passes) is waited for.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(crate::executor::DEFAULT_LEASE.as_secs() + 60);

/// Whether any of the demo tenant's actions is pending, running or waiting: the newest action in
/// each of those states, a read the store answers from an index without counting, so that
/// polling it takes nothing worth measuring from the executor it waits for.
fn any_open(store: &dyn Store) -> anyhow::Result<bool> {
    for state in [ActionState::Pending, ActionState::Running, ActionState::Waiting] {
        let filter = ActionFilter { state: Some(state), ..Default::default() };
        if !store.actions("demo", &filter, 1)?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Waits until none of the demo tenant's actions in `store` is pending, running or waiting
/// ([`any_open`], polled) and says how long that took; `None` past [`DRAIN_LIMIT`], said on the
/// log with how many were still open.
async fn drained(store: &dyn Store) -> anyhow::Result<Option<Duration>> {
    let since = Instant::now();
    loop {
        if !any_open(store)? {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() > DRAIN_LIMIT {
            let left = store.open_actions_of("demo")?;
            tracing::warn!(
                "{left} actions still pending, running or waiting after {DRAIN_LIMIT:?}; the next level starts with them"
            );
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the load at each concurrency for `duration` on `setup`. The demo's first event (which
/// retries the failed action the demo holds) is sent and answered before the first level, so
/// that every level sees the state a served tenant is in, and none counts the retry the
/// events of its first moment all plan and the store refuses for all but one.
pub fn run(
    plugin: &Path,
    event: &Path,
    levels: &[usize],
    duration: Duration,
    setup: Setup<'_>,
) -> anyhow::Result<Vec<LoadFigures>> {
    let data = tempfile::tempdir()?;
    let body = std::fs::read_to_string(event)?;
    match setup {
        Setup::Embedded => {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.path().join("provhost.db"))?);
            seed_demo(&*store)?;
            let key = store.create_key("demo", &crate::policy::Grants::everything(), "bench", None)?;
            let config = Arc::new(Config::parse(Path::new("bench.toml"), &config_text(plugin))?);
            let runtime = Arc::new(Runtime::new(data.path().join("cache"))?);
            let state = Arc::new(AppState::new(store.clone(), runtime, config)?);
            let counted = || {
                Ok(Counted {
                    groups: store.group_stats().groups(),
                    units: store.group_stats().units(),
                    ended: store.actions_ended("demo")?,
                    transactions: None,
                })
            };
            let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            tokio.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let urls = vec![format!("http://{}/v1/events", listener.local_addr()?)];
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let server = tokio::spawn(serve(listener, state, async move {
                    let _ = stopped.await;
                }));
                let settle = || Ok(());
                let measures = (&settle as _, &counted as _, &*store);
                let figures = levels_of(data.path(), &urls, (&body, &key), (levels, duration), measures).await;
                let _ = stop.send(());
                server.await??;
                figures
            })
        }
        Setup::Postgres { server, hosts } => {
            let database = ScratchDatabase::create(server)?;
            let store = PostgresStore::open(database.url())?;
            seed_demo(&store)?;
            let key = store.create_key("demo", &crate::policy::Grants::everything(), "bench", None)?;
            let config = data.path().join("bench.toml");
            std::fs::write(&config, config_text(plugin))?;
            let serving = (0..hosts.max(1))
                .map(|host| {
                    let dir = data.path().join(format!("host-{host}"));
                    std::fs::create_dir_all(&dir)?;
                    Serving::start(&dir, &config, Some(database.url()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let urls: Vec<String> = serving.iter().map(|s| format!("{}/v1/events", s.base)).collect();
            let counted = || {
                Ok(Counted {
                    groups: 0,
                    units: 0,
                    ended: store.actions_ended("demo")?,
                    transactions: Some(store.transactions_committed()?),
                })
            };
            // The planner's statistics of the new database, once it holds a served tenant's rows,
            // as a running database's are: without them it takes the growing tables for empty.
            let settle = || Ok(store.analyze()?);
            let measures = (&settle as _, &counted as _, &store as _);
            let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let figures = tokio.block_on(levels_of(data.path(), &urls, (&body, &key), (levels, duration), measures));
            drop(serving);
            drop(store);
            drop(database);
            figures
        }
    }
}

/// What a load's levels read from the store: settling it before the first, what it counted, and
/// the store itself, for the actions still open.
type Measures<'a> = (&'a dyn Fn() -> anyhow::Result<()>, &'a dyn Fn() -> anyhow::Result<Counted>, &'a dyn Store);

/// Sends the first event, settles the store and waits for the event's actions, then measures each level against the servers at
/// `urls`.
async fn levels_of(
    dir: &Path,
    urls: &[String],
    (body, key): (&str, &IssuedKey),
    (levels, duration): (&[usize], Duration),
    (settle, counted, store): Measures<'_>,
) -> anyhow::Result<Vec<LoadFigures>> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let first = client
        .post(&urls[0])
        .basic_auth(&key.record.id, Some(&key.secret))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    anyhow::ensure!(
        first.status().is_success(),
        "the first event was answered {}: {}",
        first.status(),
        first.text().await?
    );
    settle()?;
    anyhow::ensure!(
        drained(store).await?.is_some(),
        "the first event's actions were not carried out within {DRAIN_LIMIT:?}"
    );
    let wrk = wrk_script(dir, body, key)?;
    let mut figures = Vec::new();
    for &concurrency in levels {
        let before = counted()?;
        let started = Instant::now();
        let measured = match &wrk {
            Some(script) => {
                let (urls, script) = (urls.to_vec(), script.clone());
                tokio::task::spawn_blocking(move || run_wrk(&urls, &script, concurrency, duration)).await??
            }
            None => in_process(&client, urls, body, key, concurrency, duration).await?,
        };
        let elapsed = started.elapsed().as_secs_f64();
        let unfinished = store.open_actions_of("demo")?;
        let after = counted()?;
        let drain = drained(store).await?;
        let sustained = drain.map(|_| measured.answered as f64 / started.elapsed().as_secs_f64());
        let drained_at = counted()?;
        let transactions_per_event = match (before.transactions, drained_at.transactions) {
            (Some(before), Some(after)) => Some((after - before) as f64 / measured.answered.max(1) as f64),
            _ => None,
        };
        figures.push(LoadFigures {
            concurrency,
            events_per_second: measured.answered as f64 / elapsed,
            p50_ms: measured.p50_ms,
            p99_ms: measured.p99_ms,
            errors: measured.errors,
            changes_per_commit: (after.units - before.units) as f64 / (after.groups - before.groups).max(1) as f64,
            actions_per_second: (after.ended - before.ended) as f64 / elapsed,
            unfinished,
            sustained_events_per_second: sustained,
            transactions_per_event,
            generator: if wrk.is_some() { "wrk" } else { "in-process" },
        });
    }
    Ok(figures)
}

/// A closed loop of `concurrency` in-process clients sending under `key` for `duration`, taking
/// the servers at `urls` in turn.
async fn in_process(
    client: &reqwest::Client,
    urls: &[String],
    body: &str,
    key: &IssuedKey,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let url = urls[worker % urls.len()].clone();
            let (client, body, key, secret) =
                (client.clone(), body.to_owned(), key.record.id.clone(), key.secret.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = client
                        .post(&url)
                        .basic_auth(&key, Some(&secret))
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
    latencies.sort();
    Ok(Measured {
        answered: latencies.len(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        errors,
    })
}

/// The Lua script that has `wrk` post the event under `key`, when `wrk` is on the PATH.
fn wrk_script(dir: &Path, body: &str, key: &IssuedKey) -> anyhow::Result<Option<std::path::PathBuf>> {
    let found = std::process::Command::new("wrk").arg("--version").output().is_ok();
    if !found {
        return Ok(None);
    }
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", key.record.id, key.secret));
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let script = format!(
        "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = {}\n",
        quote(body),
        quote(&format!("Basic {basic}"))
    );
    let path = dir.join("load.lua");
    std::fs::write(&path, script)?;
    Ok(Some(path))
}

/// Runs one `wrk` per server at `urls`, together, splitting `concurrency` connections among them,
/// for `duration`, and reads their summaries: answers and errors added up, the medians averaged
/// and the highest 99th percentile.
fn run_wrk(urls: &[String], script: &Path, concurrency: usize, duration: Duration) -> anyhow::Result<Measured> {
    let each = (concurrency / urls.len()).max(1);
    let running = urls
        .iter()
        .map(|url| {
            std::process::Command::new("wrk")
                .args(["-t", &each.min(2).to_string(), "-c", &each.to_string()])
                .args(["-d", &format!("{}s", duration.as_secs().max(1)), "--latency", "-s"])
                .arg(script)
                .arg(url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut all = Vec::new();
    for child in running {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        all.push(parse_wrk(&text).ok_or_else(|| anyhow::anyhow!("cannot read wrk's summary:\n{text}"))?);
    }
    Ok(Measured {
        answered: all.iter().map(|m| m.answered).sum(),
        p50_ms: all.iter().map(|m| m.p50_ms).sum::<f64>() / all.len() as f64,
        p99_ms: all.iter().map(|m| m.p99_ms).fold(0.0, f64::max),
        errors: all.iter().map(|m| m.errors).sum(),
    })
}

/// Reads requests, non-2xx answers and the 50 % and 99 % latencies from `wrk --latency` output.
fn parse_wrk(text: &str) -> Option<Measured> {
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim));
    let requests: usize = text.lines().find_map(|l| l.trim().split_once(" requests in ")?.0.trim().parse().ok())?;
    let errors: usize = field("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0);
    let millis = |value: &str| -> Option<f64> {
        let split = value.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = value.split_at(split);
        let number: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => number / 1e3,
            "ms" => number,
            "s" => number * 1e3,
            "m" => number * 60e3,
            _ => return None,
        })
    };
    Some(Measured {
        answered: requests.saturating_sub(errors),
        p50_ms: millis(field("50%")?)?,
        p99_ms: millis(field("99%")?)?,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_summaries_are_read_with_their_units() {
        let text = "Running 5s test @ http://127.0.0.1:1/v1/events\n  2 threads and 16 connections\n  \
                    Latency Distribution\n     50%    4.21ms\n     75%    5.00ms\n     90%    6.10ms\n     99%  850.00us\n  \
                    15234 requests in 5.00s, 40.1MB read\n  Non-2xx or 3xx responses: 34\nRequests/sec:   3046.80\n";
        let m = parse_wrk(text).unwrap();
        assert_eq!((m.answered, m.errors), (15200, 34));
        assert!((m.p50_ms - 4.21).abs() < 1e-9 && (m.p99_ms - 0.85).abs() < 1e-9);
        assert!(parse_wrk("wrk: connection refused").is_none());
    }
}
