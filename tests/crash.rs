//! Crash safety through a real `provhost serve`. Events are under load when the server is killed
//! with SIGKILL at a random moment; it is restarted on the same data directory, and the round
//! repeats. After each round:
//! - before the kill, every event is answered 2xx, or 409 when another event retried the same
//!   failed action first, and then nothing of it is committed;
//! - every event answered 2xx is committed whole, and each of its actions ended exactly once;
//! - nothing is half-committed;
//! - no action is left `pending` or `running` once its lease passed;
//! - the audit chain verifies;
//! - an answered request replayed with its Idempotency-Key gets its first answer.
//!
//! The rounds run on the embedded store and on PostgreSQL (one body, both stores).
//! `PROVHOST_CRASH_ROUNDS` sets the number of rounds (10 here; `scripts/crash.sh` runs 50).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use support::server::Server;
use support::{DEMO_UNRATED, Demo, mail_changed, plugin, stderr};

/// How long an executor's claim holds in these rounds.
const LEASE_MS: u64 = 300;

/// The actions propagate-mail plans for the demo's mail change.
const PLAN: usize = 7;

/// One answered event: its Idempotency-Key, status and body.
type Answered = (String, u16, Value);

/// `demo` running propagate-mail, its event rate raised out of the way of the load.
fn configured(mut demo: Demo) -> Demo {
    demo.configure(&format!(
        "{DEMO_UNRATED}[tenants.demo.plugins.propagate-mail]\ncomponent = {:?}\n",
        plugin("propagate-mail").to_str().unwrap()
    ));
    demo
}

fn start(demo: &Demo) -> Server {
    Server::start(demo, &["--lease-ms", &LEASE_MS.to_string()])
}

/// A cheap random number (the clock's nanoseconds), enough to vary when the kill falls.
fn random_below(n: u64) -> u64 {
    u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()) % n
}

/// What the load saw: every 2xx answer; every event refused at its commit because another event
/// retried the same failed action first (the plan retries Jan's failed TOPdesk update, and
/// concurrent events race for it); and everything else, which it must not see (a 5xx, any other
/// refusal, a send or a body that failed before the kill).
#[derive(Default)]
struct Seen {
    answered: Vec<Answered>,
    lost_the_retry: Vec<Value>,
    wrong: Vec<String>,
}

/// Posts events from three clients until `stop`, keeping every answer. `killing` is raised
/// just before the server is killed: a request that fails after it may have been cut off by the
/// kill, one that fails before it may not.
fn load(
    server: &Server,
    key: &str,
    killing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) -> Vec<std::thread::JoinHandle<()>> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let event = std::fs::read_to_string(mail_changed()).unwrap();
    let (id, secret) = key.split_once(':').unwrap();
    (0..3)
        .map(|_| {
            let (url, id, secret, event) = (server.url("/v1/events"), id.to_owned(), secret.to_owned(), event.clone());
            let (killing, stop, seen) = (killing.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let client = Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("crash-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
                    let sent = client
                        .post(&url)
                        .basic_auth(&id, Some(&secret))
                        .header("idempotency-key", &key)
                        .header("content-type", "application/json")
                        .body(event.clone())
                        .send()
                        .and_then(|response| {
                            let status = response.status().as_u16();
                            response.text().map(|text| (status, text))
                        });
                    let mut seen = seen.lock().unwrap();
                    match sent {
                        Ok((status, text)) if (200..300).contains(&status) => match serde_json::from_str(&text) {
                            Ok(body) => seen.answered.push((key, status, body)),
                            Err(e) => seen.wrong.push(format!("{key}: answered {status} with no JSON ({e}): {text}")),
                        },
                        Ok((409, text)) if text.contains("was already retried by action") => {
                            seen.lost_the_retry.push(serde_json::from_str(&text).unwrap())
                        }
                        Ok((status, text)) => seen.wrong.push(format!("{key}: answered {status}: {text}")),
                        Err(e) if !killing.load(Ordering::SeqCst) => {
                            seen.wrong.push(format!("{key}: failed before the kill: {e}"))
                        }
                        Err(_) => {}
                    }
                }
            })
        })
        .collect()
}

/// Every action of the demo tenant, by id.
fn all_actions(server: &Server, key: &str) -> BTreeMap<String, Value> {
    let (id, secret) = key.split_once(':').unwrap();
    let client = Client::new();
    let mut out = BTreeMap::new();
    let mut offset = 0;
    loop {
        let page: Value = client
            .get(server.url(&format!("/v1/actions?limit=500&offset={offset}")))
            .basic_auth(id, Some(secret))
            .send()
            .unwrap()
            .json()
            .unwrap();
        for action in page["items"].as_array().unwrap() {
            out.insert(action["id"].as_str().unwrap().to_owned(), action.clone());
        }
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => return out,
        }
    }
}

/// Waits (up to 30 s) until no action is `pending` or `running`; returns every action.
fn settled(server: &Server, key: &str) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let actions = all_actions(server, key);
        let open: Vec<&Value> =
            actions.values().filter(|a| a["state"] == "pending" || a["state"] == "running").collect();
        if open.is_empty() {
            return actions;
        }
        assert!(Instant::now() < deadline, "actions stranded after their leases passed: {open:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many times the action entered an end state, from its history.
fn ends(server: &Server, key: &str, action: &str) -> usize {
    let (id, secret) = key.split_once(':').unwrap();
    let one: Value = Client::new()
        .get(server.url(&format!("/v1/actions/{action}")))
        .basic_auth(id, Some(secret))
        .send()
        .unwrap()
        .json()
        .unwrap();
    one["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| ["success", "error"].contains(&h["state"].as_str().unwrap_or("")))
        .count()
}

crate::on_both_stores!(killed_mid_load_and_restarted_the_service_loses_nothing_and_does_nothing_twice);

fn killed_mid_load_and_restarted_the_service_loses_nothing_and_does_nothing_twice(demo: Demo) {
    let rounds: usize = std::env::var("PROVHOST_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(10);
    let demo = configured(demo);
    let event = std::fs::read_to_string(mail_changed()).unwrap();
    let mut answered_before = 0;
    for round in 0..rounds {
        let server = start(&demo);
        let (killing, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let clients = load(&server, &demo.key, killing.clone(), stop.clone(), seen.clone());
        std::thread::sleep(Duration::from_millis(100 + random_below(500)));
        killing.store(true, Ordering::SeqCst);
        drop(server); // SIGKILL
        stop.store(true, Ordering::SeqCst);
        clients.into_iter().for_each(|c| c.join().unwrap());
        let Seen { answered, lost_the_retry, wrong } = std::mem::take(&mut *seen.lock().unwrap());
        assert!(wrong.is_empty(), "round {round}: before the kill, every event is answered:\n{}", wrong.join("\n"));

        let server = start(&demo);
        let actions = settled(&server, &demo.key);
        for (key, _, body) in &answered {
            let planned = body["invocations"][0]["actions"].as_array().unwrap();
            assert_eq!(planned.len(), PLAN, "round {round}: {key} answered with its whole plan");
            for action in planned {
                let id = action["id"].as_str().unwrap();
                assert!(actions.contains_key(id), "round {round}: {key}'s action {id} is committed");
                assert_eq!(ends(&server, &demo.key, id), 1, "round {round}: {key}'s action {id} ended exactly once");
            }
        }
        for refused in &lost_the_retry {
            assert_eq!(refused["type"], "/problems/conflict", "round {round}: {refused}");
            for action in refused["invocations"][0]["actions"].as_array().unwrap() {
                let id = action["id"].as_str().unwrap();
                assert!(!actions.contains_key(id), "round {round}: a refused plan's action {id} is not committed");
            }
        }
        let mut by_invocation: BTreeMap<&str, usize> = BTreeMap::new();
        for action in actions.values().filter(|a| a["origin"] != "seed" && a["invocation"].is_string()) {
            *by_invocation.entry(action["invocation"].as_str().unwrap()).or_default() += 1;
        }
        let partial: Vec<_> = by_invocation.iter().filter(|(_, n)| **n != PLAN).collect();
        assert!(partial.is_empty(), "round {round}: half-committed invocations: {partial:?}");
        let (id, secret) = demo.key.split_once(':').unwrap();
        for (key, _, body) in answered.iter().take(2) {
            let replay = Client::new()
                .post(server.url("/v1/events"))
                .basic_auth(id, Some(secret))
                .header("idempotency-key", key)
                .header("content-type", "application/json")
                .body(event.clone())
                .send()
                .unwrap();
            assert_eq!(replay.status().as_u16(), 200, "round {round}: {key} replays");
            assert_eq!(&replay.json::<Value>().unwrap(), body, "round {round}: {key} replays its first answer");
        }
        let verify = demo.provhost(&["audit", "verify"]);
        assert!(verify.status.success(), "round {round}: the chain verifies: {}", stderr(&verify));
        answered_before += answered.len();
    }
    assert!(answered_before > 0, "the load was answered at least once in {rounds} rounds");
}
