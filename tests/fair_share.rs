//! Fair share between tenants through a real `provhost serve`: one tenant flooding the service
//! with plugins that sleep to their deadline neither starves another tenant nor keeps the
//! service from stopping on SIGTERM within the longest deadline.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use support::server::Server;
use support::{Demo, mail_changed, plugin};

const DEADLINE_MS: u64 = 1_500;

/// Tenant `demo` runs the hostile plugin asleep to its deadline, at most 8 events at once;
/// tenant `fabrikam`, a copy of the demo's directory, runs propagate-mail.
fn two_tenants() -> (Demo, String) {
    let mut demo = Demo::new();
    demo.configure(&format!(
        r#"
[tenants.demo.share]
max-concurrent-events = 8

[tenants.demo.plugins.sleeper]
component = "{hostile}"
config = {{ mode = "sleep" }}
limits = {{ timeout-ms = {DEADLINE_MS} }}

[tenants.fabrikam.plugins.propagate-mail]
component = "{propagate}"
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

#[test]
fn a_flooding_tenant_with_sleeping_plugins_does_not_starve_another() {
    let (demo, b_key) = two_tenants();
    let server = Server::start(&demo, &[]);
    let base: Arc<str> = server.base.clone().into();
    let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    slowest_of(3, &client, &base, &b_key);
    let alone = slowest_of(10, &client, &base, &b_key);

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
    std::thread::sleep(Duration::from_millis(300));
    let during = slowest_of(10, &client, &base, &b_key);
    flooding.store(false, Ordering::Relaxed);
    let statuses: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "tenant A sees only 200 or 429: {statuses:?}");
    assert!(statuses.contains(&429), "tenant A was held to its share");
    assert!(
        during <= alone * 10 + Duration::from_millis(500),
        "tenant B's slowest event took {during:?} during the flood, {alone:?} alone"
    );
}

#[test]
fn sigterm_stops_the_service_within_the_longest_deadline() {
    let (demo, _) = two_tenants();
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
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.stop();
    let stopping = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(stopping < Duration::from_millis(DEADLINE_MS) + Duration::from_secs(3), "stopping took {stopping:?}");
    for sleeper in sleepers {
        assert_eq!(sleeper.join().unwrap(), 200, "events running at SIGTERM are answered: cut off at their deadline");
    }
}

#[test]
fn a_caller_that_hangs_up_keeps_its_share_until_its_plugins_end() {
    let (demo, _) = two_tenants();
    let server = Server::start(&demo, &[]);
    let impatient = Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
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
    std::thread::sleep(Duration::from_millis(DEADLINE_MS + 500));
    assert_eq!(post(&client, &server.base, &demo.key).0, 200, "once they end, the share is free again");
}
