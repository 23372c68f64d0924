//! Fresh and warm instances, through the runtime and through `provhost serve`: by default every
//! event gets a fresh instance; a tenant that opts into `events-per-instance` gets warm ones,
//! which are dropped after a trap, a limit or their last event, and never serve another tenant.

mod support;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use provhost::backend::MemoryBackend;
use provhost::config::Triggers;
use provhost::event::Event;
use provhost::limits::Limits;
use provhost::manifest::Resolved;
use provhost::model::Person;
use provhost::policy::Grants;
use provhost::runtime::{Invocation, LoadedPlugin, Runtime};
use provhost::store::{DEMO_TENANT, SqliteStore, Store, seed_demo};
use provhost::tenant::{Requester, Tenant};
use serde_json::Value;
use support::server::Server;
use support::{Demo, JAN, mail_changed, plugin};

/// The runtime, the misbehave plugin and the demo tenant in memory.
struct Sandbox {
    runtime: Runtime,
    plugin: LoadedPlugin,
    store: Arc<dyn Store>,
    _cache: tempfile::TempDir,
}

impl Sandbox {
    fn new(events_per_instance: u32) -> Self {
        let cache = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(cache.path().to_owned()).unwrap();
        let plugin = runtime
            .load(&plugin("misbehave"), None)
            .unwrap()
            .with_warm_instances(NonZeroU32::new(events_per_instance).unwrap());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        Sandbox { runtime, plugin, store, _cache: cache }
    }

    /// Runs the mail event in `mode`.
    fn run(&self, mode: &str, limits: Limits) -> Invocation {
        self.run_on(&self.plugin, mode, limits)
    }

    /// Runs the mail event in `mode` through `loaded`.
    fn run_on(&self, loaded: &LoadedPlugin, mode: &str, limits: Limits) -> Invocation {
        let plugin = Resolved {
            name: "misbehave".into(),
            component: plugin("misbehave"),
            sha256: None,
            capabilities: Grants::everything(),
            triggers: Triggers::default(),
            settings: BTreeMap::from([("mode".to_string(), mode.to_string())]),
            limits,
        };
        let backend = Arc::new(MemoryBackend::snapshot(&*self.store, DEMO_TENANT).unwrap());
        let caller = Requester { key_id: "test", grants: &Grants::everything() };
        let context = Tenant::with_backend(DEMO_TENANT, &self.store, backend).plugin_context(caller, &plugin);
        let event = Event::from_json(&std::fs::read_to_string(mail_changed()).unwrap()).unwrap();
        self.runtime.invoke(loaded, context, limits, &event).unwrap()
    }

    /// How many events the instance that ran this one had seen.
    fn remember(&self) -> String {
        self.remember_on(&self.plugin)
    }

    /// How many events the instance of `loaded` that ran this one had seen.
    fn remember_on(&self, loaded: &LoadedPlugin) -> String {
        let invocation = self.run_on(loaded, "remember", Limits::default());
        assert!(invocation.completed(), "{:?}", invocation.outcome);
        let seen = invocation.outcome.detail().trim_start_matches("events seen by this instance: ").to_owned();
        assert_eq!(invocation.guest_output, format!("event {seen} of this instance\n"), "output is per event");
        seen
    }
}

#[test]
fn by_default_every_event_gets_a_fresh_instance() {
    let sandbox = Sandbox::new(1);
    let seen: Vec<String> = (0..20).map(|_| sandbox.remember()).collect();
    assert!(seen.iter().all(|s| s == "1"), "a reused pool slot starts clean: {seen:?}");
}

#[test]
fn plugins_loaded_from_one_component_share_its_compiled_copy_and_still_get_fresh_instances() {
    let sandbox = Sandbox::new(1);
    let other_tenants = sandbox.runtime.load(&plugin("misbehave"), None).unwrap();
    let counts = sandbox.runtime.compiled_counts();
    assert_eq!((counts.shared, counts.in_memory), (1, 1), "one compiled copy for both: {counts:?}");
    for _ in 0..3 {
        assert_eq!(sandbox.remember(), "1");
        assert_eq!(sandbox.remember_on(&other_tenants), "1", "sharing the code shares no instance");
    }
}

#[test]
fn a_warm_instance_serves_up_to_its_events_then_a_fresh_one_follows() {
    let sandbox = Sandbox::new(3);
    let seen: Vec<String> = (0..7).map(|_| sandbox.remember()).collect();
    assert_eq!(seen, ["1", "2", "3", "1", "2", "3", "1"]);
}

#[test]
fn a_warm_instance_idle_for_its_time_is_dropped_and_the_next_event_gets_a_fresh_one() {
    let sandbox = Sandbox::new(100);
    assert_eq!(sandbox.remember(), "1");
    assert_eq!(sandbox.runtime.evict_idle(std::time::Duration::from_secs(3600)), 0, "not idle for an hour yet");
    assert_eq!(sandbox.remember(), "2", "the warm instance still serves");
    assert_eq!(sandbox.runtime.evict_idle(std::time::Duration::ZERO), 1, "the idle one is dropped");
    assert_eq!(sandbox.runtime.evict_idle(std::time::Duration::ZERO), 0, "and none is left");
    assert_eq!(sandbox.remember(), "1", "the next event gets a fresh instance");
}

#[test]
fn a_warm_instance_is_dropped_after_a_trap_or_a_limit() {
    let sandbox = Sandbox::new(100);
    assert_eq!(sandbox.remember(), "1");
    assert_eq!(sandbox.remember(), "2");
    let trapped = sandbox.run("panic", Limits::default());
    assert_eq!(trapped.outcome.code(), "trap");
    assert_eq!(sandbox.remember(), "1", "the trapped instance is not reused");
    assert_eq!(sandbox.remember(), "2");
    let limits = Limits { max_host_calls: 5, ..Limits::default() };
    let stormed = sandbox.run("storm", limits);
    assert_eq!(stormed.outcome.code(), "limit");
    assert_eq!(sandbox.remember(), "1", "an instance that hit a limit is not reused");
    let refused = sandbox.run("plan-then-err", Limits::default());
    assert_eq!(refused.outcome.code(), "plugin-error");
    assert!(refused.plan.len() > 1, "{:?}", refused.plan);
    let next = sandbox.run("plan-then-err", Limits::default());
    assert_eq!(next.plan.len(), refused.plan.len(), "a plan does not carry over to the next event");
    assert_ne!(next.plan[0].id, refused.plan[0].id);
}

/// Posts the mail event with `key`; the summary of the one invocation.
fn post(server: &Server, key: &str) -> String {
    let (id, secret) = key.split_once(':').unwrap();
    let event: Value = serde_json::from_str(&std::fs::read_to_string(mail_changed()).unwrap()).unwrap();
    let answer: Value = reqwest::blocking::Client::new()
        .post(server.url("/v1/events"))
        .basic_auth(id, Some(secret))
        .json(&event)
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["invocations"][0]["outcome"]["summary"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

#[test]
fn warm_instances_under_serve_belong_to_one_tenant() {
    let mut demo = Demo::new();
    assert!(demo.provhost(&["init", "--tenant", "fabrikam", "--empty"]).status.success());
    let fabrikam = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    {
        let store: Box<dyn Store> = Box::new(SqliteStore::open(&demo.dir.path().join("provhost.db")).unwrap());
        let jan = Person { id: JAN.into(), display_name: "Jan Jansen".into(), attributes: Vec::new() };
        store.insert_person("fabrikam", &jan).unwrap();
    }
    let mut config = String::new();
    for tenant in ["demo", "fabrikam"] {
        config.push_str(&format!(
            "[tenants.{tenant}.plugins.remember]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\"]\n\
             config = {{ mode = \"remember\" }}\nevents-per-instance = 50\n",
            plugin("misbehave").display()
        ));
    }
    demo.configure(&config);
    let server = Server::start(&demo, &[]);
    let demo_key = demo.key.clone();
    assert_eq!(post(&server, &demo_key), "events seen by this instance: 1");
    assert_eq!(post(&server, &demo_key), "events seen by this instance: 2");
    assert_eq!(post(&server, &fabrikam), "events seen by this instance: 1", "another tenant's instance");
    assert_eq!(post(&server, &demo_key), "events seen by this instance: 3");
    assert_eq!(server.stop().code(), Some(0));
}
