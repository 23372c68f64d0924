//! Fair share between tenants through a real `provhost serve`: one tenant flooding the service
//! with plugins that sleep to their deadline neither starves another tenant nor keeps the
//! service from stopping on SIGTERM within the longest deadline; every route that changes state
//! takes the tenant's share, reads have their own; a commit stuck on the disk stalls no health
//! check and no read.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use support::server::Server;
use support::{Demo, JAN, mail_changed, plugin};

const DEADLINE_MS: u64 = 1_500;

/// Tenant `demo` with `share` (TOML of `[tenants.demo.share]`) runs the hostile plugin asleep to
/// its deadline of `deadline_ms`; tenant `fabrikam`, a copy of the demo's directory, runs
/// propagate-mail; `extra` is added to the configuration. Returns fabrikam's key too.
fn tenants(share: &str, deadline_ms: u64, extra: &str) -> (Demo, String) {
    let mut demo = Demo::new();
    demo.configure(&format!(
        r#"
[tenants.demo.share]
{share}

[tenants.demo.plugins.sleeper]
component = "{hostile}"
config = {{ mode = "sleep" }}
limits = {{ timeout-ms = {deadline_ms} }}

[tenants.fabrikam.plugins.propagate-mail]
component = "{propagate}"
{extra}
"#,
        hostile = plugin("hostile").display(),
        propagate = plugin("propagate-mail").display(),
    ));
    let init = demo.provhost(&["init", "--tenant", "fabrikam", "--demo-data"]);
    assert!(init.status.success(), "{}", support::stderr(&init));
    let key = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    (demo, key)
}

fn post(client: &Client, base: &str, key: &str) -> (u16, Option<String>) {
    let (id, secret) = key.split_once(':').unwrap();
    let body = std::fs::read(mail_changed()).unwrap();
    let response = client
        .post(format!("{base}/v1/events"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry)
}

/// The slowest of `n` events of tenant B, one at a time, all of which must succeed.
fn slowest_of(n: usize, client: &Client, base: &str, key: &str) -> Duration {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            let (status, _) = post(client, base, key);
            assert_eq!(status, 200, "tenant B's event must succeed");
            started.elapsed()
        })
        .max()
        .unwrap()
}

/// Polls `probe` until it is answered 429 (the tenant's share is held), for at most 30 s.
fn until_refused(what: &str, mut probe: impl FnMut() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while probe() != 429 {
        assert!(Instant::now() < deadline, "{what} never held the tenant's share");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A change that takes a place in the tenant's share and touches nothing: an event that does not
/// parse, answered 422 when admitted and 429 when the share is full.
fn probe(client: &Client, base: &str, key: &str) -> u16 {
    let (id, secret) = key.split_once(':').unwrap();
    let response = client
        .post(format!("{base}/v1/events"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    response.status().as_u16()
}

#[test]
fn a_flooding_tenant_with_sleeping_plugins_does_not_starve_another() {
    // Tenant A's plugins sleep to a deadline far longer than any event of B takes, even on a
    // loaded machine: a B starved behind them would wait that long.
    const SLEEP_MS: u64 = 8_000;
    let (demo, b_key) = tenants("max-concurrent-events = 8", SLEEP_MS, "");
    let server = Server::start(&demo, &[]);
    let base: Arc<str> = server.base.clone().into();
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    slowest_of(3, &client, &base, &b_key);

    let flooding = Arc::new(AtomicBool::new(true));
    let flood: Vec<_> = (0..64)
        .map(|_| {
            let (base, flooding, key) = (base.clone(), flooding.clone(), demo.key.clone());
            std::thread::spawn(move || {
                let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let mut seen = Vec::new();
                while flooding.load(Ordering::Relaxed) {
                    let (status, retry) = post(&client, &base, &key);
                    if status == 429 {
                        assert_eq!(retry.as_deref(), Some("1"), "a refusal says when to come back");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    seen.push(status);
                }
                seen
            })
        })
        .collect();
    until_refused("the flood", || probe(&client, &base, &demo.key));
    let during = slowest_of(10, &client, &base, &b_key);
    flooding.store(false, Ordering::Relaxed);
    let statuses: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "tenant A sees only 200 or 429: {statuses:?}");
    assert!(statuses.contains(&429), "tenant A was held to its share");
    assert!(
        during < Duration::from_millis(SLEEP_MS / 2),
        "tenant B's slowest event took {during:?} during the flood, as if it waited for A's {SLEEP_MS} ms sleepers"
    );
}

#[test]
fn sigterm_stops_the_service_within_the_longest_deadline() {
    // The eight sleepers must all be running at once before the stop: a deadline long enough
    // that they overlap even when a loaded machine admits them seconds apart.
    const SLEEP_MS: u64 = 6_000;
    let (demo, _) = tenants("max-concurrent-events = 8", SLEEP_MS, "");
    let server = Server::start(&demo, &[]);
    let sleepers: Vec<_> = (0..8)
        .map(|_| {
            let (base, key) = (server.base.clone(), demo.key.clone());
            std::thread::spawn(move || {
                let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                post(&client, &base, &key).0
            })
        })
        .collect();
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    until_refused("the eight sleepers", || probe(&client, &server.base, &demo.key));
    let started = Instant::now();
    let status = server.stop();
    let stopping = started.elapsed();
    assert!(status.success(), "{status:?}");
    // Far below the 60 s a stop waits for background work at most; room for a loaded machine.
    assert!(stopping < Duration::from_millis(SLEEP_MS) + Duration::from_secs(10), "stopping took {stopping:?}");
    for sleeper in sleepers {
        assert_eq!(sleeper.join().unwrap(), 200, "events running at SIGTERM are answered: cut off at their deadline");
    }
}

#[test]
fn a_caller_that_hangs_up_keeps_its_share_until_its_plugins_end() {
    // The callers hang up after 2 s, long after they were admitted and long before their
    // plugins' 6 s deadline.
    let (demo, _) = tenants("max-concurrent-events = 8", 6_000, "");
    let server = Server::start(&demo, &[]);
    let impatient = Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let hung_up: Vec<_> = (0..8)
        .map(|_| {
            let (base, key, client) = (server.base.clone(), demo.key.clone(), impatient.clone());
            std::thread::spawn(move || {
                let (id, secret) = key.split_once(':').unwrap();
                client
                    .post(format!("{base}/v1/events"))
                    .basic_auth(id, Some(secret))
                    .header("content-type", "application/json")
                    .body(std::fs::read(mail_changed()).unwrap())
                    .send()
                    .is_err()
            })
        })
        .collect();
    assert!(hung_up.into_iter().all(|t| t.join().unwrap()), "each caller hung up before its plugin ended");
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let (status, retry) = post(&client, &server.base, &demo.key);
    assert_eq!(
        (status, retry.as_deref()),
        (429, Some("1")),
        "the eight sleeping plugins still hold the tenant's share"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match post(&client, &server.base, &demo.key).0 {
            429 => assert!(Instant::now() < deadline, "the share was never given back"),
            status => break assert_eq!(status, 200, "once they end, the share is free again"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request under `key`; its status, `Retry-After` and body.
fn send(client: &Client, method: &str, url: &str, key: &str) -> (u16, Option<String>, Value) {
    let (id, secret) = key.split_once(':').unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client
        .request(method, url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry, response.json().unwrap_or(Value::Null))
}

/// Every documented route, method and path, and whether it takes an API key.
fn routes() -> Vec<(String, String, bool)> {
    let document: Value = serde_json::from_str(&provhost::server::openapi()).unwrap();
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let keyed = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r["basic"].as_array().is_some_and(|scopes| !scopes.is_empty())));
            all.push((method.to_uppercase(), path.clone(), keyed));
        }
    }
    all
}

/// A documented route with its parameters filled in.
fn path(route: &str) -> String {
    route
        .replace("{personId}", JAN)
        .replace("{entitlementId}", "no-such-entitlement")
        .replace("{accountId}", "no-such-account")
        .replace("{actionId}", "no-such-action")
        .replace("{deliveryId}", "no-such-delivery")
        .replace("{requestId}", "no-such-request")
        .replace("{systemId}", "exchange-online")
}

/// How many audit records the tenant of `key` has.
fn audit_records(client: &Client, base: &str, key: &str) -> usize {
    let (status, _, page) = send(client, "GET", &format!("{base}/v1/audit?limit=500"), key);
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

#[test]
fn every_route_that_changes_state_takes_the_tenants_share_and_reads_keep_their_own() {
    let (demo, fabrikam) = tenants("max-concurrent-events = 2", 6_000, "");
    let server = Server::start(&demo, &[]);
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let (base, key) = (server.base.clone(), demo.key.clone());
            // The probe below is a change too: a sleeper it crowds out comes back.
            std::thread::spawn(move || {
                loop {
                    match post(&Client::new(), &base, &key).0 {
                        429 => std::thread::sleep(Duration::from_millis(5)),
                        status => return status,
                    }
                }
            })
        })
        .collect();
    // The two sleeping events hold the tenant's whole share of changes once a change is refused.
    let approve = server.url("/v1/actions/no-such-action/approve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while send(&client, "POST", &approve, &demo.key).0 != 429 {
        assert!(Instant::now() < deadline, "the sleeping events never held the share");
        std::thread::sleep(Duration::from_millis(20));
    }
    let recorded = audit_records(&client, &server.base, &demo.key);
    let routes = routes();
    let changes: Vec<&str> = routes.iter().filter(|(m, _, _)| m == "POST").map(|(_, r, _)| r.as_str()).collect();
    assert!(changes.len() >= 9, "{changes:?}");
    for route in &changes {
        let (status, retry, problem) = send(&client, "POST", &server.url(&path(route)), &demo.key);
        assert_eq!((status, retry.as_deref()), (429, Some("1")), "POST {route}: {problem}");
        assert_eq!(problem["type"], "/problems/tenant-busy", "POST {route}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("2 events and other changes running"), "{problem}");
        let (status, _, problem) = send(&client, "POST", &server.url(&path(route)), &fabrikam);
        assert_ne!(status, 429, "another tenant's POST {route} is not held back: {problem}");
    }
    let keyed_reads = routes.iter().filter(|(m, _, keyed)| m == "GET" && *keyed);
    for (_, route, _) in keyed_reads {
        let (status, _, problem) = send(&client, "GET", &server.url(&path(route)), &demo.key);
        assert!(status != 429 && status < 500, "GET {route} has a share of its own: {status} {problem}");
    }
    assert_eq!(audit_records(&client, &server.base, &demo.key), recorded, "a refused request runs nothing");
    for sleeper in sleepers {
        assert_eq!(sleeper.join().unwrap(), 200);
    }
    let (status, _, problem) = send(&client, "POST", &approve, &demo.key);
    assert_eq!(status, 404, "once the events end, changes are admitted again: {problem}");
}

/// A platform that holds every request until told to answer, and counts them.
struct HeldPlatform {
    base: String,
    arrived: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Semaphore>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HeldPlatform {
    fn start() -> Self {
        let (arrived, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let (count, held) = (arrived.clone(), release.clone());
        let app = axum::Router::new().fallback(move || {
            let (count, held) = (count.clone(), held.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = held.acquire().await.unwrap();
                axum::Json(serde_json::json!({ "items": [], "limit": 50, "offset": 0, "next_offset": null }))
            }
        });
        let (base, stop) = support::serve_loopback(app);
        HeldPlatform { base, arrived, release, _stop: stop }
    }
}

#[test]
fn a_tenant_past_its_share_of_reads_is_answered_429_and_others_still_read() {
    let platform = HeldPlatform::start();
    let (demo, fabrikam) = tenants(
        "",
        DEADLINE_MS,
        &format!(
            r#"
[tenants.fronted.share]
max-concurrent-reads = 1
[tenants.fronted.backend]
kind = "helloid"
base-url = "{}"
api-key = "provhost"
api-secret = "a secret of the fronted platform"
http = {{ timeout-ms = 30000, max-retries = 0 }}
"#,
            platform.base
        ),
    );
    let init = demo.provhost(&["init", "--tenant", "fronted", "--empty"]);
    assert!(init.status.success(), "{}", support::stderr(&init));
    let fronted = std::fs::read_to_string(demo.dir.path().join("keys/fronted.key")).unwrap().trim().to_owned();
    let server = Server::start(&demo, &[]);
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let persons = server.url("/v1/persons");
    let held = {
        let (url, key) = (persons.clone(), fronted.clone());
        std::thread::spawn(move || send(&Client::new(), "GET", &url, &key).0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while platform.arrived.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first read never reached the platform");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, retry, problem) = send(&client, "GET", &server.url("/v1/actions"), &fronted);
    assert_eq!((status, retry.as_deref()), (429, Some("1")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("already has 1 reads running"), "{problem}");
    for key in [&demo.key, &fabrikam] {
        assert_eq!(send(&client, "GET", &persons, key).0, 200, "another tenant still reads");
    }
    let (status, _, problem) = send(&client, "POST", &server.url("/v1/webhooks/deliveries/nope/redrive"), &fronted);
    assert_eq!(status, 404, "a change does not take a read's place: {problem}");
    platform.release.add_permits(1000);
    assert_eq!(held.join().unwrap(), 200);
    assert_eq!(send(&client, "GET", &server.url("/v1/actions"), &fronted).0, 200, "the share is free again");
}

#[test]
fn a_commit_stuck_on_the_disk_stalls_neither_health_checks_nor_reads() {
    // More writers than the server has async workers, each waiting on a commit; exactly as many
    // as the tenant's share has places, so that once a probe is refused, every one is in.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let writers = (2 * cores + 2).min(150);
    let (demo, fabrikam) = tenants(&format!("max-concurrent-events = {writers}"), DEADLINE_MS, "");
    let server = Server::start(&demo, &[]);
    let client = Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    assert_eq!(send(&client, "GET", &server.url("/v1/actions"), &fabrikam).0, 200);

    // Another process holds the database's write lock: every commit of the server waits for it.
    let lock = rusqlite::Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    lock.busy_timeout(Duration::from_secs(10)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let writes: Vec<_> = (0..writers)
        .map(|n| {
            let (url, key, answered) = (
                server.url(&format!("/provisioning/persons/{JAN}/accounts/update")),
                demo.key.clone(),
                answered.clone(),
            );
            std::thread::spawn(move || {
                let (id, secret) = key.split_once(':').unwrap();
                let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let status = client
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .header("idempotency-key", format!("stuck-{n}"))
                    .send();
                answered.fetch_add(1, Ordering::SeqCst);
                status.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    // Every write has reached the server and holds its place while it waits for the commit.
    until_refused("the stuck writes", || probe(&client, &server.base, &demo.key));

    let health = client.get(server.url("/healthz")).send().expect("a health check is answered during the stall");
    assert_eq!(health.status().as_u16(), 200);
    let (status, _, page) = send(&client, "GET", &server.url("/v1/actions"), &fabrikam);
    assert_eq!(status, 200, "another tenant reads during the stall: {page}");
    assert_eq!(send(&client, "GET", &server.url("/v1/persons"), &fabrikam).0, 200);
    assert_eq!(answered.load(Ordering::SeqCst), 0, "no write was answered while the lock was held");

    lock.execute_batch("COMMIT").unwrap();
    let statuses: Vec<u16> = writes.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "every write commits once the disk answers: {statuses:?}");
}
