//! The instance pool and warm instances under a hostile tenant, through a real `provhost serve`
//! and the `hostile` test component: one component cannot hold the pool, one tenant holds at most
//! its share of it, idle warm instances give their slots back to a tenant that needs them, a warm
//! instance keeping WASI resources is not reused, and a narrower API key never runs on an
//! instance warmed under a broader one. After each attack the server still answers, its memory
//! and the store grew by at most the stated bounds, nothing committed unless the plugin returned
//! `ok`, and the audit chain verifies.

mod support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;
use support::server::Server;
use support::{Demo, mail_changed, peak_rss, plugin, stderr, store_bytes};

/// The most the server's resident memory may grow by over one attack, in bytes.
const SERVER_MEMORY_BOUND: u64 = 256 << 20;

/// The most the store may grow by over one attack, in bytes.
const STORE_GROWTH_BOUND: u64 = 8 << 20;

/// A running server over a configured demo, with what it used when it started.
struct Attacked {
    demo: Demo,
    server: Server,
    memory: u64,
    store: u64,
    actions: usize,
}

/// Configures the demo tenant (and `fabrikam`, a copy of its directory, when `fabrikam`) with
/// `config` and starts a server.
fn serve(config: &str, fabrikam: bool) -> Attacked {
    let mut demo = Demo::new();
    demo.configure(config);
    if fabrikam {
        let init = demo.provhost(&["init", "--tenant", "fabrikam", "--demo-data"]);
        assert!(init.status.success(), "{}", stderr(&init));
    }
    let server = Server::start(&demo, &[]);
    let memory = peak_rss(server.pid()).unwrap();
    let (store, actions) = (store_bytes(&demo), demo.actions().len());
    Attacked { demo, server, memory, store, actions }
}

impl Attacked {
    /// Posts the mail event with `key`: the status and the body.
    fn post(&self, key: &str) -> (u16, Value) {
        post(&self.server.base, key)
    }

    /// The summary of the one invocation an event with `key` ran.
    fn summary(&self, key: &str) -> String {
        let (status, body) = self.post(key);
        assert_eq!(status, 200, "{body}");
        body["invocations"][0]["outcome"]["summary"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
    }

    /// The tenant `fabrikam`'s key.
    fn fabrikam(&self) -> String {
        std::fs::read_to_string(self.demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned()
    }

    /// Checks what holds after every attack, then stops the server: it still answers, its memory
    /// and the store grew by at most the bounds, only the `committed` actions were committed, and
    /// the audit chain verifies.
    fn holds(self, committed: usize) {
        let health = Client::new().get(self.server.url("/healthz")).send().unwrap();
        assert_eq!(health.status().as_u16(), 200, "the server lives");
        let grown = peak_rss(self.server.pid()).unwrap().saturating_sub(self.memory);
        assert!(grown <= SERVER_MEMORY_BOUND, "the server's resident memory grew by {grown} bytes");
        assert_eq!(self.server.stop().code(), Some(0));
        let grown = store_bytes(&self.demo).saturating_sub(self.store);
        assert!(grown <= STORE_GROWTH_BOUND, "the store grew by {grown} bytes");
        assert_eq!(self.demo.actions().len() - self.actions, committed, "committed actions");
        let verify = self.demo.provhost(&["audit", "verify"]);
        assert!(verify.status.success(), "the audit chain must verify: {}", stderr(&verify));
    }
}

fn post(base: &str, key: &str) -> (u16, Value) {
    let (id, secret) = key.split_once(':').unwrap();
    let response = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .post(format!("{base}/v1/events"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/json")
        .body(std::fs::read(mail_changed()).unwrap())
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A `[tenants.demo.plugins.NAME]` table running the hostile plugin in `mode`, with warm
/// instances serving up to 50 events.
fn warm_hostile(name: &str, mode: &str, more: &str) -> String {
    format!(
        "[tenants.demo.plugins.{name}]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\", \"accounts:update\"]\n\
         config = {{ mode = \"{mode}\"{more} }}\nevents-per-instance = 50\n\n",
        plugin("hostile").display()
    )
}

#[test]
fn a_warm_instance_keeping_wasi_resources_is_not_reused() {
    let attacked = serve(&warm_hostile("hoarder", "hoard-resources", ", count = \"400\""), false);
    let key = attacked.demo.key.clone();
    assert_eq!(attacked.summary(&key), "held 0 from earlier events, now 400");
    assert_eq!(attacked.summary(&key), "held 0 from earlier events, now 400", "a fresh instance, empty table");
    attacked.holds(0);
}

#[test]
fn a_narrower_key_never_runs_on_an_instance_warmed_under_a_broader_one() {
    let attacked = serve(&warm_hostile("cacher", "cache-person", ""), false);
    let broad = attacked.demo.key.clone();
    let narrow = attacked.demo.key_with(&["events:submit"]);
    assert_eq!(attacked.summary(&broad), "now: read; an earlier event read: nothing");
    let summary = attacked.summary(&narrow);
    assert!(summary.starts_with("now: refused Error::Forbidden("), "{summary}");
    assert!(summary.ends_with("an earlier event read: nothing"), "what the broad key read stays with it: {summary}");
    let summary = attacked.summary(&broad);
    assert!(summary.contains("an earlier event read: Jan Jansen <"), "reused for the broad key: {summary}");
    attacked.holds(0);
}

/// Tenant `demo` sleeps to a 3 s deadline; no tenant may hold more than 1 % of the pool: two
/// component instances.
fn sleeper_and_fabrikam() -> String {
    format!(
        "[capacity]\ntenant-pool-share = 1\n\n[tenants.demo.plugins.sleeper]\ncomponent = \"{}\"\n\
         config = {{ mode = \"sleep\" }}\nlimits = {{ timeout-ms = 3000 }}\n\n\
         [tenants.fabrikam.plugins.propagate-mail]\ncomponent = \"{}\"\n",
        plugin("hostile").display(),
        plugin("propagate-mail").display()
    )
}

#[test]
fn a_tenant_holds_at_most_its_share_of_the_pool_and_another_tenant_still_runs() {
    let attacked = serve(&sleeper_and_fabrikam(), true);
    let sleepers: Vec<_> = (0..4)
        .map(|_| {
            let (base, key) = (attacked.server.base.clone(), attacked.demo.key.clone());
            std::thread::spawn(move || post(&base, &key))
        })
        .collect();
    // Two of the four are refused at once; then the other two hold the tenant's share.
    let mut answers: Vec<(u16, Value)> = Vec::new();
    let mut pending = sleepers;
    while answers.iter().filter(|(status, _)| *status == 503).count() < 2 {
        let (done, running): (Vec<_>, Vec<_>) = pending.into_iter().partition(|t| t.is_finished());
        answers.extend(done.into_iter().map(|t| t.join().unwrap()));
        pending = running;
        assert!(!pending.is_empty() || answers.len() == 4, "{answers:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, body) = attacked.post(&attacked.fabrikam());
    assert_eq!(status, 200, "another tenant is not starved: {body}");
    assert_eq!(body["invocations"][0]["outcome"]["status"], "completed", "{body}");
    answers.extend(pending.into_iter().map(|t| t.join().unwrap()));
    let busy: Vec<&Value> = answers.iter().filter(|(status, _)| *status == 503).map(|(_, body)| body).collect();
    assert_eq!(busy.len(), 2, "{answers:?}");
    for problem in busy {
        assert_eq!(problem["type"].as_str().unwrap_or_default().rsplit('/').next(), Some("host-busy"), "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("tenant 'demo' holds its share"), "{problem}");
    }
    let slept = answers
        .iter()
        .filter(|(status, body)| *status == 200 && body["invocations"][0]["outcome"]["hit"]["limit"] == "timeout");
    assert_eq!(slept.count(), 2, "the two that ran were cut off at their deadline: {answers:?}");
    attacked.holds(0);
}

#[test]
fn idle_warm_instances_give_their_slots_back_to_their_tenant_under_pressure() {
    let config = format!("[capacity]\ntenant-pool-share = 1\n\n{}", warm_hostile("cacher", "cache-person", ""));
    let attacked = serve(&config, false);
    let all = attacked.demo.key.clone();
    let reader = attacked.demo.key_with(&["events:submit", "persons:read"]);
    let submitter = attacked.demo.key_with(&["events:submit"]);
    assert!(attacked.summary(&all).ends_with("earlier event read: nothing"));
    assert!(attacked.summary(&reader).ends_with("earlier event read: nothing"));
    // Two idle instances, one per key's grants, hold the tenant's whole share; a third key needs
    // a fresh instance, and gets one once the idle ones are dropped.
    assert!(attacked.summary(&submitter).ends_with("earlier event read: nothing"));
    assert!(attacked.summary(&all).ends_with("earlier event read: nothing"), "its idle instance gave its slots back");
    attacked.holds(0);
}

#[test]
fn a_component_holding_the_pool_keeps_serve_from_starting_naming_it() {
    let mut demo = Demo::new();
    let hoarder = support::hoard::hoarding_plugin(demo.dir.path(), "hoarder", 511, true);
    demo.configure(&format!(
        "[tenants.demo.plugins.hoarder]\ncomponent = \"{}\"\nconfig = {{ mode = \"sleep\" }}\n",
        hoarder.display()
    ));
    let out = demo.provhost(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("plugin 'hoarder'") && err.contains("512 linear memories per instance; provhost allows at most 4"),
        "{err}"
    );
}
