//! Leases that fence, against real platform clients and loopback platforms that are slow and
//! count what they receive: a carry-out that outlives many leases runs once; a killed server's
//! claim is taken up exactly once by the servers after it and the workflow is not launched again;
//! a waiting action is followed up until the platform ends it (or for no longer than its limit);
//! a tenant the configuration does not name is never run.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provhost::audit::InvocationRecord;
use provhost::config::Config;
use provhost::executor::Executor;
use provhost::gate::{Call, TenantContext};
use provhost::model::{Action, ActionFilter, ActionState, new_id};
use provhost::pipeline::{Execution, Mode, run_request};
use provhost::policy::Grants;
use provhost::store::{ActionStore, DEMO_TENANT, SqliteStore, Store, seed_demo};
use provhost::tenant::{Requester, Tenant};
use provhost::webhook::Tracking;
use reqwest::blocking::Client;
use serde_json::Value;
use support::helloid::HelloId;
use support::scim::{Answer, PASSWORD, Scim, USER};
use support::server::Server;
use support::{Demo, JAN, mail_changed, plugin, stderr};

/// Jan's id with a demo suffix (accounts 0x100.., entitlements 0x200.., groups 0x300..).
fn jan(suffix: u32) -> String {
    format!("{}{suffix:04x}", &JAN[..32])
}

/// How long claims hold in these tests: far shorter than the platforms take.
const LEASE: Duration = Duration::from_millis(300);

fn identityiq(base: &str, extra: &str) -> String {
    format!(
        "kind = \"identityiq\"\nbase-url = \"{base}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         poll-interval-ms = 20\ncompletion-timeout-ms = 3000\n{extra}\
         http = {{ retry-base-ms = 10, max-retries = 3, timeout-ms = 10000 }}\n"
    )
}

fn helloid(base: &str) -> String {
    format!(
        "kind = \"helloid\"\nbase-url = \"{base}\"\napi-key = \"k\"\napi-secret = \"s\"\n\
         poll-interval-ms = 20\ncompletion-timeout-ms = 3000\nhttp = {{ timeout-ms = 10000 }}\n"
    )
}

/// A store handle and the demo tenant wired on it, as one process has them.
type Process = (Arc<dyn Store>, Arc<TenantContext>);

/// One store file opened twice, as two processes would, each handle with the tenant wired on it.
fn two_processes(backend: &str) -> (tempfile::TempDir, [Process; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provhost.db");
    let config = Config::parse(Path::new("provhost.toml"), &format!("[tenants.demo.backend]\n{backend}")).unwrap();
    let tenant = config.tenant(DEMO_TENANT).unwrap();
    let open = |seed: bool| {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        if seed {
            seed_demo(&*store).unwrap();
        }
        let wired = Tenant::configured(DEMO_TENANT, &tenant, &store).unwrap();
        let context = wired.request_context(Requester { key_id: "phk_test", grants: &Grants::everything() }, "api");
        (store, context)
    };
    let first = open(true);
    (dir, [first, open(false)])
}

/// Commits one action through the gate without carrying it out.
fn committed(context: &Arc<TenantContext>, plan: impl FnOnce(&mut provhost::gate::Gate) -> Action) -> Action {
    let report = run_request(context.clone(), "test", Mode::commit(Execution::Queued), |gate| Ok(vec![plan(gate)]));
    let id = report.unwrap().actions[0].id.clone();
    context.parts.store.action(DEMO_TENANT, &id).unwrap()
}

/// Commits a pending copy of the demo's failed TOPdesk update (the platform's directory is not
/// read: the stub serves only the update).
fn committed_update(store: &dyn Store) -> Action {
    let failed = ActionFilter { state: Some(ActionState::Error), ..Default::default() };
    let failed = store.actions(DEMO_TENANT, &failed, 1).unwrap().remove(0);
    let action = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed };
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "an update");
    store.commit_invocation(&record, std::slice::from_ref(&action)).unwrap();
    action
}

/// Executor A carries `action` out on the first handle while executor B, on the second, keeps
/// trying to take it up; returns A's result and how many of B's tries claimed it.
fn outlive_the_lease(handles: &[Process; 2], action: &Action) -> (Action, usize) {
    let (a, b) = (Executor::new(LEASE), Executor::new(LEASE));
    let (ctx_a, ctx_b) = (handles[0].1.clone(), handles[1].1.clone());
    let pending = action.clone();
    let carrying =
        std::thread::spawn(move || a.run_now(&ctx_a, Tracking::Fixed("test", "test"), &[pending]).unwrap().remove(0));
    let mut taken = 0;
    while !carrying.is_finished() {
        let now = handles[1].0.action(DEMO_TENANT, &action.id).unwrap();
        if now.state == ActionState::Pending {
            // A has not claimed it yet.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let after = b.run_now(&ctx_b, Tracking::Fixed("test", "test"), std::slice::from_ref(&now)).unwrap().remove(0);
        if after.message.contains(b.owner()) {
            taken += 1;
        }
        std::thread::sleep(LEASE / 4);
    }
    (carrying.join().unwrap(), taken)
}

fn states(store: &dyn Store, id: &str) -> Vec<ActionState> {
    store.action_history(DEMO_TENANT, id).unwrap().into_iter().map(|h| h.state).collect()
}

#[test]
fn an_identityiq_launch_that_outlives_many_leases_is_launched_once() {
    let scim = Scim::start();
    scim.script(&[Answer::Hang(LEASE * 5)]);
    let (_dir, handles) = two_processes(&identityiq(&scim.base, ""));
    let action = committed(&handles[0].1, |gate| {
        gate.decide(&Call::re_enforce(JAN, jan(0x300), "re-enforce")).unwrap().remove(0)
    });
    let (ended, taken) = outlive_the_lease(&handles, &action);
    assert_eq!(ended.state, ActionState::Success, "{ended:?}");
    assert_eq!(taken, 0, "the other executor never took the action while its lease was renewed");
    assert_eq!(scim.launches().len(), 1, "launched once");
    use ActionState::*;
    assert_eq!(states(&*handles[0].0, &action.id), [Pending, Running, Success], "one attempt, one end");
    assert_eq!(scim.violations(), Vec::<String>::new());
}

#[test]
fn a_helloid_update_that_outlives_many_leases_is_sent_once() {
    let platform = HelloId::start(LEASE * 5);
    let (_dir, handles) = two_processes(&helloid(&platform.base));
    let action = committed_update(&*handles[0].0);
    let (ended, taken) = outlive_the_lease(&handles, &action);
    assert_eq!(ended.state, ActionState::Success, "{ended:?}");
    assert_eq!(taken, 0);
    assert_eq!(platform.calls(), [format!("provhost-{}", action.id)], "sent once, with the action's key");
    assert_eq!(platform.applied(), 1);
}

/// The demo with `backend` as its tenant's backend.
fn demo_on(backend: &str, more: &str) -> Demo {
    let mut demo = Demo::new();
    demo.configure(&format!("[tenants.demo.backend]\n{backend}{more}"));
    demo
}

/// `GET path` on the server under the demo key.
fn get(server: &Server, demo: &Demo, path: &str) -> Value {
    let (id, secret) = demo.key.split_once(':').unwrap();
    Client::new().get(server.url(path)).basic_auth(id, Some(secret)).send().unwrap().json().unwrap()
}

/// `POST path` on the server under the demo key, with an empty body and extra headers.
fn post(server: &Server, demo: &Demo, path: &str, headers: &[(&str, &str)]) -> Value {
    let (id, secret) = demo.key.split_once(':').unwrap();
    let mut request = Client::new().post(server.url(path)).basic_auth(id, Some(secret)).json(&serde_json::json!({}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().unwrap().json().unwrap()
}

/// Waits (up to `within`) until `done` holds of the action as the server shows it; returns it.
fn wait_for(server: &Server, demo: &Demo, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let action = get(server, demo, &format!("/v1/actions/{id}"));
        if done(&action) {
            return action;
        }
        assert!(Instant::now() < deadline, "the action did not get there in {within:?}: {action:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn re_enforce_path() -> String {
    format!("/provisioning/persons/{JAN}/entitlements/{}/re-enforce", jan(0x300))
}

#[test]
fn a_killed_servers_claim_is_taken_up_once_and_its_workflow_is_not_launched_again() {
    let scim = Scim::start();
    scim.script(&[Answer::Hang(Duration::from_secs(30))]);
    let demo = demo_on(&identityiq(&scim.base, ""), "");
    let lease = ["--lease-ms", "400"];
    let first = Server::start(&demo, &lease);
    let answer = post(&first, &demo, &re_enforce_path(), &[]);
    let id = answer["actions"][0]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while scim.requests() == 0 {
        assert!(Instant::now() < deadline, "the workflow was never launched");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(first); // SIGKILL while IdentityIQ works on the launch: its answer never arrives.

    // Two servers on the same store compete for the claim once its lease passes.
    let (second, third) = (Server::start(&demo, &lease), Server::start(&demo, &lease));
    let ended = wait_for(&second, &demo, &id, Duration::from_secs(30), |a| a["state"] == "success");
    let history: Vec<&Value> = ended["history"].as_array().unwrap().iter().collect();
    let taken_up: Vec<&&Value> =
        history.iter().filter(|h| h["message"].as_str().unwrap().contains("taken up again")).collect();
    assert_eq!(taken_up.len(), 1, "taken up exactly once: {history:#?}");
    assert!(taken_up[0]["message"].as_str().unwrap().contains("(attempt 2)"), "{history:#?}");
    let ends = history.iter().filter(|h| h["state"] == "success" || h["state"] == "error").count();
    assert_eq!(ends, 1, "{history:#?}");
    assert!(ended["message"].as_str().unwrap().contains("launched by an earlier attempt"), "{ended:#}");
    assert_eq!(scim.launches().len(), 1, "the second attempt found the first launch by its key");
    assert!(scim.lookups() >= 1);
    assert_eq!(scim.violations(), Vec::<String>::new());
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    drop((second, third));
}

#[test]
fn a_waiting_action_is_followed_up_until_the_platform_ends_it_or_for_no_longer_than_its_limit() {
    let scim = Scim::start();
    scim.script(&[Answer::Running, Answer::Running]);
    let pace = "follow-up-interval-ms = 100\nfollow-up-limit-ms = 1500\n";
    let demo = demo_on(
        &identityiq(&scim.base, pace).replace("completion-timeout-ms = 3000", "completion-timeout-ms = 100"),
        "",
    );
    let server = Server::start(&demo, &[]);
    let answer = post(&server, &demo, &re_enforce_path(), &[("prefer", "wait=10")]);
    assert_eq!(answer["actions"][0]["state"], "waiting", "{answer:#}");
    let id = answer["actions"][0]["id"].as_str().unwrap().to_owned();

    // Still running there: followed up, and nothing recorded until it ends.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(&server, &demo, &format!("/v1/actions/{id}"))["history"].as_array().unwrap().len(), 3);
    scim.complete("Success");
    let ended = wait_for(&server, &demo, &id, Duration::from_secs(30), |a| a["state"] == "success");
    let history: Vec<&str> =
        ended["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(history, ["pending", "running", "waiting", "success"]);

    // One that never ends there ends in error once its limit passed.
    let answer = post(&server, &demo, &re_enforce_path(), &[("prefer", "wait=10")]);
    let id = answer["actions"][0]["id"].as_str().unwrap().to_owned();
    let ended = wait_for(&server, &demo, &id, Duration::from_secs(30), |a| a["state"] == "error");
    assert!(ended["message"].as_str().unwrap().contains("did not complete within 1 s of waiting"), "{ended:#}");
    assert_eq!(scim.launches().len(), 2, "follow-ups never launch");
}

#[test]
fn the_executor_never_runs_a_tenant_the_configuration_does_not_name() {
    let mut demo = Demo::new();
    let plugin_config = format!(
        "[tenants.demo.plugins.propagate-mail]\ncomponent = {:?}\n",
        plugin("propagate-mail").to_str().unwrap()
    );
    demo.configure(&plugin_config);
    let out = demo.run_as(&demo.key, "propagate-mail", &mail_changed(), &["--no-wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pending = |demo: &Demo| demo.actions().into_iter().filter(|a| a["state"] == "pending").count();
    let waiting = pending(&demo);
    assert!(waiting >= 3, "the run left its actions to a server");

    // The demo tenant is taken out of the configuration: its actions wait, and say why.
    demo.configure("[tenants.acme]\n");
    let server = Server::start(&demo, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        let logs = server.logs.lock().unwrap().clone();
        if let Some(line) = logs.iter().find(|l| l.contains("actions wait and are not carried out")) {
            break line.clone();
        }
        assert!(Instant::now() < deadline, "the log never said why the tenant's actions wait: {logs:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(reason.contains("tenant 'demo' is not in the configuration"), "{reason}");
    let ready = get(&server, &demo, "/readyz");
    assert_eq!(ready["held"]["actions"], waiting as u64, "{ready:#}");
    assert!(ready["held"]["reason"].as_str().unwrap().contains("not in the configuration"), "{ready:#}");
    let anonymous: Value = Client::new().get(server.url("/readyz")).send().unwrap().json().unwrap();
    assert!(anonymous.get("held").is_none(), "an anonymous caller learns nothing of tenants");
    assert_eq!(pending(&demo), waiting, "nothing of the unconfigured tenant was carried out");
    drop(server);

    // Configured again, its actions run.
    demo.configure(&plugin_config);
    let server = Server::start(&demo, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending(&demo) > 0 {
        assert!(Instant::now() < deadline, "the configured tenant's actions did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stop().success());
}

/// How many of `tenant`'s actions are `pending`, as the store holds them.
fn pending_of(demo: &Demo, tenant: &str) -> usize {
    let store = SqliteStore::open(&demo.dir.path().join("provhost.db")).unwrap();
    let pending = ActionFilter { state: Some(ActionState::Pending), ..Default::default() };
    store.actions(tenant, &pending, 10_000).unwrap().len()
}

#[test]
fn a_server_without_a_configuration_runs_only_the_embedded_demo_tenant() {
    let demo = Demo::new();
    let init = demo.provhost(&["init", "--tenant", "fabrikam", "--demo-data"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let fabrikam = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let propagate = plugin("propagate-mail");
    for key in [&demo.key, &fabrikam] {
        let out = demo.run_as(key, propagate.to_str().unwrap(), &mail_changed(), &["--no-wait"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let waiting = pending_of(&demo, "fabrikam");
    assert!(waiting >= 3 && pending_of(&demo, DEMO_TENANT) >= 3, "each run left its actions to a server");

    let server = Server::start(&demo, &[]);
    let (id, secret) = fabrikam.split_once(':').unwrap();
    let refused = Client::new().get(server.url("/v1/persons")).basic_auth(id, Some(secret)).send().unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let problem: Value = refused.json().unwrap();
    assert_eq!(problem["type"], "/problems/tenant-not-configured", "{problem:#}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("runs only the embedded demo tenant 'demo'") && detail.contains("--config"), "{detail}");
    let ready: Value =
        Client::new().get(server.url("/readyz")).basic_auth(id, Some(secret)).send().unwrap().json().unwrap();
    assert_eq!(ready["held"]["actions"], waiting as u64, "{ready:#}");
    assert!(ready["held"]["reason"].as_str().unwrap().contains("[tenants.fabrikam]"), "{ready:#}");

    // The demo tenant runs as before; the other one's actions wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending_of(&demo, DEMO_TENANT) > 0 {
        assert!(Instant::now() < deadline, "the demo tenant's actions did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&server, &demo, "/readyz")["tenant"], DEMO_TENANT);
    assert!(server.stop().success());
    assert_eq!(pending_of(&demo, "fabrikam"), waiting, "nothing of a tenant without a configuration was carried out");
}

#[test]
fn one_tenants_slow_platform_holds_back_no_other_tenants_actions() {
    use provhost::executor::Tenants;
    let platform = HelloId::start(Duration::from_millis(400));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    seed_demo(&*store).unwrap();
    provhost::store::seed_demo_as(&*store, "quick", "Quick").unwrap();
    let slow: Vec<Action> = (0..8).map(|_| committed_update(&*store)).collect();
    // The quick tenant's one action is committed last: oldest-first would run it last.
    let failed = ActionFilter { state: Some(ActionState::Error), ..Default::default() };
    let template = store.actions("quick", &failed, 1).unwrap().remove(0);
    let quick = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..template };
    let record = InvocationRecord::history(&new_id(), "quick", "test", "an update");
    store.commit_invocation(&record, std::slice::from_ref(&quick)).unwrap();

    let config = Config::parse(
        Path::new("provhost.toml"),
        &format!("[tenants.demo.backend]\n{}[tenants.quick]\n", helloid(&platform.base)),
    )
    .unwrap();
    let wired: Vec<Arc<Tenant>> = ["demo", "quick"]
        .iter()
        .map(|id| Arc::new(Tenant::configured(id, &config.tenant(id).unwrap(), &store).unwrap()))
        .collect();
    let tenants = Tenants {
        roster: Arc::new(|| Ok(vec!["demo".to_string(), "quick".to_string()])),
        wire: Arc::new(move |id: &str| wired.iter().find(|t| t.id() == id).cloned().ok_or(format!("no tenant {id}"))),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let executor = Arc::new(Executor::new(Duration::from_secs(60)));
    let work = executor.work(store.clone(), tenants, Arc::default(), tokio::sync::watch::Sender::new(0), stopped);
    let worker = runtime.spawn(work);

    let deadline = Instant::now() + Duration::from_secs(20);
    while store.action("quick", &quick.id).unwrap().state != ActionState::Success {
        assert!(Instant::now() < deadline, "the quick tenant's action never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let slow_ended =
        slow.iter().filter(|a| store.action(DEMO_TENANT, &a.id).unwrap().state == ActionState::Success).count();
    assert!(slow_ended <= 1, "the quick tenant waited for {slow_ended} of the slow tenant's actions");
    let deadline = Instant::now() + Duration::from_secs(20);
    while slow.iter().any(|a| store.action(DEMO_TENANT, &a.id).unwrap().state != ActionState::Success) {
        assert!(Instant::now() < deadline, "the slow tenant's actions did not all run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(platform.applied(), 8, "each once");
    stop.send(true).unwrap();
    runtime.block_on(worker).unwrap();
}
