//! Platform backends against loopback servers only: the HelloID backend against a real
//! `provhost serve` (directly and through a proxy that loses answers), the IdentityIQ backend
//! against a SCIM server that validates every request and answers as scripted.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use provhost::api::{ActionSummary, RequestReport};
use provhost::config::Config;
use provhost::executor::{DEFAULT_LEASE, Executor};
use provhost::gate::{Call, Gate, TenantContext};
use provhost::model::{ActionFilter, ActionState};
use provhost::pipeline::{Execution, Mode, RunError, run_request};
use provhost::policy::Grants;
use provhost::refusal::Refusal;
use provhost::store::{AuditFilter, DEMO_TENANT, SqliteStore, Store, seed_demo};
use provhost::tenant::{Requester, Tenant};
use serde_json::Value;
use support::flaky::Flaky;
use support::scim::{Answer, PASSWORD, Scim, USER};
use support::server::Server;
use support::{Demo, JAN, json, mail_changed, plugin, stderr};

/// Jan's id with a demo suffix (accounts 0x100.., entitlements 0x200.., groups 0x300..).
fn jan(suffix: u32) -> String {
    format!("{}{suffix:04x}", &JAN[..32])
}

/// A demo store with `backend` (TOML for `[tenants.demo.backend]`), under an all-scopes key.
fn tenant(backend: &str) -> (Arc<dyn Store>, Arc<TenantContext>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    seed_demo(&*store).unwrap();
    let config = Config::parse(Path::new("provhost.toml"), &format!("[tenants.demo.backend]\n{backend}")).unwrap();
    let tenant = Tenant::configured(DEMO_TENANT, &config.tenant(DEMO_TENANT).unwrap(), &store).unwrap();
    let context = tenant.request_context(Requester { key_id: "phk_test", grants: &Grants::everything() }, "api");
    (store, context)
}

/// Runs one targeted request and returns its report (or the refusal).
fn request(
    context: &Arc<TenantContext>,
    plan: impl FnOnce(&mut Gate) -> Result<Vec<provhost::model::Action>, Refusal>,
) -> Result<RequestReport, Refusal> {
    match run_request(
        context.clone(),
        "test request",
        Mode::commit(Execution::Now(&Executor::new(DEFAULT_LEASE))),
        plan,
    ) {
        Err(RunError::Refused(refusal)) => Err(refusal),
        answer => Ok(answer.unwrap()),
    }
}

/// The key's id and secret.
fn credentials(key: &str) -> (&str, &str) {
    key.split_once(':').unwrap()
}

/// Every action of the server's tenant, read over its API.
fn remote_actions(server: &Server, key: &str) -> Vec<Value> {
    let (id, secret) = credentials(key);
    let client = reqwest::blocking::Client::new();
    let page: Value =
        client.get(server.url("/v1/actions?limit=500")).basic_auth(id, Some(secret)).send().unwrap().json().unwrap();
    page["items"].as_array().unwrap().clone()
}

fn helloid_backend(base: &str, key: &str) -> String {
    let (id, secret) = credentials(key);
    format!(
        "kind = \"helloid\"\nbase-url = \"{base}\"\napi-key = \"{id}\"\napi-secret = \"{secret}\"\n\
         poll-interval-ms = 20\ncompletion-timeout-ms = 3000\nhttp = {{ retry-base-ms = 10, max-retries = 3 }}\n"
    )
}

#[test]
fn helloid_backend_runs_a_plugin_against_a_real_provhost_serve() {
    let remote = Demo::new();
    let server = Server::start(&remote, &[]);
    let mut local = Demo::new();
    // Were anything executed locally, the simulated Exchange Online would fail it.
    let out = local.provhost(&["systems", "fail", "exchange-online", "--message", "local executor used"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let component = plugin("propagate-mail");
    local.configure(&format!(
        "[tenants.demo.backend]\n{}\n[tenants.demo.plugins.propagate-mail]\ncomponent = {:?}\n",
        helloid_backend(&server.base, &remote.key),
        component.to_str().unwrap()
    ));
    let out = local.run_as(&local.key, "propagate-mail", &mail_changed(), &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let report = json(&out);
    let actions = report["actions"].as_array().unwrap();
    assert!(actions.len() >= 3, "{report:#}");
    for action in actions {
        assert_eq!(action["state"], "success", "{action:#}");
        assert!(action["message"].as_str().unwrap().starts_with("HelloID action "), "{action:#}");
    }
    // The remote provhost applied exactly what the local one committed: the failed TOPdesk
    // update retried there, the account updates and re-enforcements, each once.
    let applied: Vec<Value> =
        remote_actions(&server, &remote.key).into_iter().filter(|a| a["origin"] != "enforcement").collect();
    assert_eq!(applied.len(), actions.len(), "{applied:#?}");
    assert!(applied.iter().all(|a| a["state"] == "success"), "{applied:#?}");
    assert!(applied.iter().any(|a| a["retry_of"] == jan(0x900)), "the remote's failed action was retried there");
    assert!(server.stop().success());
}

#[test]
fn a_platform_that_stalls_during_an_invocation_holds_it_no_longer_than_its_deadline() {
    let remote = Demo::new();
    let server = Server::start(&remote, &[]);
    let stalling = Flaky::stalling(&server.base, "/accounts");
    let mut local = Demo::new();
    let (id, secret) = credentials(&remote.key);
    local.configure(&format!(
        "[tenants.demo.backend]\nkind = \"helloid\"\nbase-url = \"{}\"\napi-key = \"{id}\"\napi-secret = \"{secret}\"\n\
         http = {{ timeout-ms = 60000, max-retries = 3, retry-base-ms = 10 }}\n\
         [tenants.demo.plugins.propagate-mail]\ncomponent = {:?}\n",
        stalling.base,
        plugin("propagate-mail").to_str().unwrap()
    ));
    let started = std::time::Instant::now();
    let out = local.run_as(&local.key, "propagate-mail", &mail_changed(), &["--timeout-ms", "1000"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "nothing committed: {}", stderr(&out));
    assert!(took < std::time::Duration::from_secs(10), "the 60 s platform timeout did not hold the plugin: {took:?}");
    let report = json(&out);
    assert!(report["usage"]["wall_time_us"].as_u64().unwrap() < 1_500_000, "{}", report["usage"]);
}

#[test]
fn helloid_backend_sends_again_after_a_lost_answer_and_the_platform_applies_once() {
    let remote = Demo::new();
    let server = Server::start(&remote, &[]);
    let flaky = Flaky::start(&server.base, 1);
    let (store, context) = tenant(&helloid_backend(&flaky.base, &remote.key));
    let report = request(&context, |p| p.decide(&Call::update_account(JAN, jan(0x101), "mail changed"))).unwrap();
    let action = &report.actions[0];
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("(after 2 tries)"), "{}", action.message);
    assert_eq!(flaky.posts(), 2, "sent once, lost, sent again");
    let applied: Vec<Value> = remote_actions(&server, &remote.key)
        .into_iter()
        .filter(|a| a["target"]["id"] == jan(0x101) && a["origin"] == "update account")
        .collect();
    assert_eq!(applied.len(), 1, "applied twice: {applied:#?}");
    // The local history says who carried it out; the credentials are nowhere in the audit trail.
    let history = store.action_history(DEMO_TENANT, &action.id).unwrap();
    let states: Vec<_> = history.iter().map(|h| h.state).collect();
    assert_eq!(states, [ActionState::Pending, ActionState::Running, ActionState::Success]);
    let audit = serde_json::to_string(&store.audit(&AuditFilter::default(), 1000, 0).unwrap()).unwrap();
    assert!(!audit.contains(credentials(&remote.key).1), "the API secret leaked into the audit trail");
}

#[test]
fn helloid_reads_go_to_the_platform_and_its_refusals_come_back_named() {
    let remote = Demo::new();
    let server = Server::start(&remote, &[]);
    let (_store, context) = tenant(&helloid_backend(&server.base, &remote.key));
    let backend = &context.parts.backend;
    assert_eq!(backend.person(DEMO_TENANT, JAN).unwrap().display_name, "Jan Jansen");
    assert_eq!(backend.entitlements(DEMO_TENANT, JAN).unwrap().len(), 6);
    assert_eq!(backend.account(DEMO_TENANT, &jan(0x100)).unwrap().system, "active-directory");
    assert_eq!(backend.entitlement_count(DEMO_TENANT, "active-directory").unwrap(), 6 + 6, "accounts and groups");
    assert_eq!(backend.persons(DEMO_TENANT).unwrap().len(), 6);
    let failed = ActionFilter { state: Some(ActionState::Error), ..Default::default() };
    assert_eq!(backend.actions(DEMO_TENANT, &failed, 10).unwrap()[0].id, jan(0x900));
    let missing = backend.person(DEMO_TENANT, "nobody").unwrap_err().to_string();
    assert!(missing.contains("nobody"), "{missing}");
    // Retrying an action that is not in error: HelloID refuses, and the local action says so.
    let retried = request(&context, |p| p.decide(&Call::retry(jan(0x900), "first"))).unwrap();
    assert_eq!(retried.actions[0].state, ActionState::Success, "{:?}", retried.actions);
    let again = request(&context, |p| p.decide(&Call::retry(jan(0x900), "second")));
    match again {
        Err(Refusal::Conflict(message)) => assert!(message.contains("already retried"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn identityiq(scim: &Scim, http: &str) -> String {
    format!(
        "kind = \"identityiq\"\nbase-url = \"{}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         poll-interval-ms = 20\ncompletion-timeout-ms = 3000\nhttp = {{ {http} }}\n\
         [tenants.demo.backend.applications.exchange-online]\nname = \"Exchange Online (Entra ID)\"\n\
         attributes = {{ mail = \"mail\", proxyAddresses = \"proxyAddresses\" }}\n",
        scim.base
    )
}

const FAST: &str = "retry-base-ms = 10, max-retries = 3, timeout-ms = 2000";

fn re_enforce_group(context: &Arc<TenantContext>) -> ActionSummary {
    let report = request(context, |p| p.decide(&Call::re_enforce(JAN, jan(0x300), "re-enforce"))).unwrap();
    report.actions.into_iter().next().unwrap()
}

#[test]
fn identityiq_re_enforce_launches_lcm_provisioning_with_an_add_plan_and_follows_it() {
    let scim = Scim::start();
    let (store, context) = tenant(&identityiq(&scim, FAST));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("IdentityIQ task result"), "{}", action.message);
    assert_eq!(scim.violations(), Vec::<String>::new());
    let launches = scim.launches();
    assert_eq!(launches.len(), 1);
    let launch = &launches[0];
    assert_eq!(launch.action, action.id);
    assert_eq!(launch.identity, JAN);
    assert_eq!(
        launch.account,
        (
            "Active Directory".to_string(),
            "CN=Jan Jansen,OU=Sales,DC=contoso,DC=example".to_string(),
            "Modify".to_string()
        )
    );
    assert_eq!(launch.attributes, [("memberOf".to_string(), "Add".to_string(), vec!["Sales team".to_string()])]);
    let audit = serde_json::to_string(&store.audit(&AuditFilter::default(), 1000, 0).unwrap()).unwrap();
    assert!(!audit.contains(PASSWORD), "the password leaked into the audit trail");
}

#[test]
fn identityiq_update_sets_the_mapped_attributes_and_a_warning_still_succeeds() {
    let scim = Scim::start();
    scim.script(&[Answer::Launch("Warning")]);
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    let report = request(&context, |p| p.decide(&Call::update_account(JAN, jan(0x101), "mail"))).unwrap();
    let action = &report.actions[0];
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("warnings") && action.message.contains("scripted Warning"), "{}", action.message);
    let launch = &scim.launches()[0];
    assert_eq!(launch.account.0, "Exchange Online (Entra ID)");
    assert_eq!(launch.account.1, "jan.jansen@contoso.example");
    let proxies = launch.attributes.iter().find(|a| a.0 == "proxyAddresses").unwrap();
    assert_eq!(proxies.1, "Set");
    assert_eq!(proxies.2, ["SMTP:jan.jansen@contoso.example", "smtp:jan.jansen@contoso.onmicrosoft.example"]);
    assert!(launch.attributes.iter().any(|a| a.0 == "mail" && a.2 == ["jan.jansen@contoso.example"]));
}

#[test]
fn identityiq_429_is_retried_after_retry_after_and_launches_once() {
    let scim = Scim::start();
    scim.script(&[Answer::Refuse(429, Some(1))]);
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    let started = std::time::Instant::now();
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    assert!(action.message.contains("(after 2 tries)"), "{}", action.message);
    assert_eq!((scim.requests(), scim.launches().len()), (2, 1));
}

#[test]
fn identityiq_server_errors_are_retried_a_bounded_number_of_times() {
    let scim = Scim::start();
    scim.otherwise(Answer::Refuse(500, None));
    let (_store, context) = tenant(&identityiq(&scim, "retry-base-ms = 5, max-retries = 2, breaker-failures = 10"));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Error, "{action:?}");
    assert!(action.message.contains("failed after 3 tries") && action.message.contains("500"), "{}", action.message);
    assert_eq!((scim.requests(), scim.launches().len()), (3, 0));
}

#[test]
fn identityiq_a_launch_answered_500_after_it_launched_is_found_by_its_key_and_never_sent_again() {
    let scim = Scim::start();
    scim.script(&[Answer::FailAfterLaunch(500)]);
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("found by its idempotency key"), "{}", action.message);
    assert_eq!(scim.launches().len(), 1, "a launch answered 500 was launched again");
    assert_eq!((scim.requests(), scim.lookups()), (1, 1), "looked up once, sent once");
}

#[test]
fn identityiq_a_launch_without_an_answer_is_not_sent_again_and_is_followed_once_found_by_its_key() {
    let scim = Scim::start();
    scim.script(&[Answer::Hang(Duration::from_millis(1500))]);
    let (_store, context) = tenant(&identityiq(&scim, "retry-base-ms = 5, max-retries = 3, timeout-ms = 300"));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("found by its idempotency key"), "{}", action.message);
    assert_eq!((scim.requests(), scim.launches().len()), (1, 1), "a launch that may have run was sent twice");
    assert_eq!(scim.lookups(), 1);
}

#[test]
fn identityiq_a_task_result_location_off_the_configured_origin_is_refused_and_gets_no_credentials() {
    let attacker = support::server::Receiver::start(&[200]);
    let host = attacker.url.trim_start_matches("http://").trim_end_matches("/hook").to_owned();
    let scim = Scim::start();
    let elsewhere = [format!("@{host}/steal"), format!("http://{host}/steal"), format!("//{host}/steal")];
    scim.script(&elsewhere.iter().map(|l| Answer::Location(l.clone())).collect::<Vec<_>>());
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    for location in &elsewhere {
        let action = re_enforce_group(&context);
        assert_eq!(action.state, ActionState::Error, "{location}: {action:?}");
        assert!(action.message.contains("its meta.location is not followed"), "{}", action.message);
        assert!(
            action.message.contains(&format!("refusing to send credentials to '{location}'")),
            "{}",
            action.message
        );
    }
    assert!(attacker.received.lock().unwrap().is_empty(), "a request reached another origin");
    // The same origin written as an absolute URL is followed.
    scim.script(&[Answer::Location(format!("{}/identityiq/scim/v2/TaskResults/{:032x}", scim.base, 4))]);
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
}

#[test]
fn platform_answers_past_the_bounds_are_refused_naming_the_bound() {
    let platform = support::helloid::HelloId::start(Duration::ZERO);
    let bounded = format!(
        "kind = \"helloid\"\nbase-url = \"{}\"\napi-key = \"k\"\napi-secret = \"s\"\n\
         http = {{ max-body-bytes = 65536, max-pages = 5 }}\n",
        platform.base
    );
    let (_store, context) = tenant(&bounded);
    let endless = context.parts.backend.persons(DEMO_TENANT).unwrap_err().to_string();
    assert!(endless.contains("GET /v1/persons has more than 5 pages (`http.max-pages`)"), "{endless}");
    platform.pad(100_000);
    let large = context.parts.backend.persons(DEMO_TENANT).unwrap_err().to_string();
    assert!(large.contains("answered with a body over 65536 bytes (`http.max-body-bytes`)"), "{large}");

    // An oversized launch answer is not read; the launch is found by its key instead.
    let scim = Scim::start();
    scim.script(&[Answer::Oversized(100_000)]);
    let (_store, context) = tenant(&identityiq(&scim, "max-body-bytes = 65536"));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Success, "{action:?}");
    assert!(action.message.contains("found by its idempotency key"), "{}", action.message);
    assert_eq!(scim.launches().len(), 1);
}

#[test]
fn a_platform_streaming_a_50_mb_answer_without_a_length_is_cut_off_at_the_bound_not_read_whole() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // A platform that streams 50 MB in chunks, with no Content-Length to refuse it by; it counts
    // what it got to send before the client hung up.
    let platform = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        stream.write_all(answer).unwrap();
        let chunk = [b' '; 64 * 1024];
        let mut sent = 0usize;
        while sent < 50 << 20 {
            let framed = stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(&chunk))
                .and_then(|()| stream.write_all(b"\r\n"));
            if framed.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let (_store, context) = tenant(&format!(
        "kind = \"helloid\"\nbase-url = \"{base}\"\napi-key = \"k\"\napi-secret = \"s\"\nhttp = {{ max-retries = 0 }}\n"
    ));
    let refused = context.parts.backend.persons(DEMO_TENANT).unwrap_err().to_string();
    assert!(refused.contains("answered with a body over 4194304 bytes (`http.max-body-bytes`)"), "{refused}");
    drop(context);
    let sent = platform.join().unwrap();
    assert!(sent < 50 << 20, "provhost read the whole 50 MB answer ({sent} bytes sent)");
}

#[test]
fn identityiq_a_malformed_answer_ends_in_error_naming_it() {
    let scim = Scim::start();
    scim.script(&[Answer::Malformed]);
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    let action = re_enforce_group(&context);
    assert_eq!(action.state, ActionState::Error, "{action:?}");
    assert!(
        action.message.contains("cannot read") && action.message.contains("check IdentityIQ"),
        "{}",
        action.message
    );
    assert_eq!(scim.requests(), 1);
}

#[test]
fn identityiq_failed_completions_end_in_error_and_a_retry_launches_the_plan_again() {
    let scim = Scim::start();
    scim.script(&[Answer::Launch("Error"), Answer::Launch("Terminated"), Answer::Launch("TempError")]);
    let (_store, context) = tenant(&identityiq(&scim, FAST));
    let mut failed = Vec::new();
    for expected in ["Error", "Terminated", "TempError"] {
        let action = re_enforce_group(&context);
        assert_eq!(action.state, ActionState::Error, "{action:?}");
        assert!(action.message.contains(&format!(": {expected}")), "{}", action.message);
        failed.push(action.id);
    }
    let retry = request(&context, |p| p.decide(&Call::retry(&failed[2], "try again"))).unwrap();
    assert_eq!(retry.actions[0].state, ActionState::Success, "{:?}", retry.actions);
    let launches = scim.launches();
    assert_eq!(launches.len(), 4);
    assert_eq!(launches[3].account, launches[2].account);
    assert_eq!(launches[3].attributes, launches[2].attributes, "the retry launches the same plan");
    assert_eq!(scim.violations(), Vec::<String>::new());
}

#[test]
fn identityiq_unmanage_is_refused_as_invalid_and_nothing_is_sent() {
    let scim = Scim::start();
    let (store, context) = tenant(&identityiq(&scim, FAST));
    let refused = request(&context, |p| p.decide(&Call::unmanage(JAN, jan(0x300), "stop")));
    match refused {
        Err(Refusal::Invalid(message)) => assert!(message.contains("no equivalent of unmanaging"), "{message}"),
        other => panic!("expected invalid, got {other:?}"),
    }
    assert_eq!(scim.requests(), 0);
    let records = serde_json::to_string(&store.audit(&AuditFilter::default(), 1000, 0).unwrap()).unwrap();
    assert!(records.contains("no equivalent of unmanaging"), "the refusal is audited");
}

#[test]
fn identityiq_breaker_opens_after_failures_and_half_opens_for_one_trial() {
    let scim = Scim::start();
    // Refusals that leave no doubt (a 5xx would have each launch looked up, and a lookup IdentityIQ
    // answers is a success for the breaker).
    scim.script(&[Answer::Refuse(429, None), Answer::Refuse(429, None), Answer::Refuse(429, None)]);
    // A cooldown long enough that the call right after a failed trial falls inside it, however
    // loaded the machine.
    let http = "retry-base-ms = 5, max-retries = 0, breaker-failures = 2, breaker-cooldown-ms = 1500";
    let (_store, context) = tenant(&identityiq(&scim, http));
    assert_eq!(re_enforce_group(&context).state, ActionState::Error);
    assert_eq!(re_enforce_group(&context).state, ActionState::Error);
    let refused = re_enforce_group(&context);
    assert_eq!(refused.state, ActionState::Error);
    assert!(refused.message.contains("circuit breaker open"), "{}", refused.message);
    assert_eq!(scim.requests(), 2, "an open breaker sends nothing");
    // Half-open once the cooldown passed: one trial goes out; it fails, and the breaker opens
    // again at once.
    let trial = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let action = re_enforce_group(&context);
            if !action.message.contains("circuit breaker open") {
                return action;
            }
            assert!(std::time::Instant::now() < deadline, "the breaker never half-opened");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(trial().message.contains("429"));
    assert!(re_enforce_group(&context).message.contains("circuit breaker open"));
    assert_eq!(scim.requests(), 3);
    // The next trial succeeds and closes it.
    assert_eq!(trial().state, ActionState::Success);
    assert_eq!(re_enforce_group(&context).state, ActionState::Success);
    assert_eq!(scim.requests(), 5);
}

#[test]
fn a_provhost_serve_on_identityiq_answers_targeted_requests_with_the_workflow_outcome() {
    let scim = Scim::start();
    let mut demo = Demo::new();
    demo.configure(&format!("[tenants.demo.backend]\n{}", identityiq(&scim, FAST)));
    let server = Server::start(&demo, &[]);
    let (id, secret) = credentials(&demo.key);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str| -> (u16, Value) {
        let response = client
            .post(server.url(path))
            .basic_auth(id, Some(secret))
            .header("prefer", "wait=10")
            .json(&serde_json::json!({}))
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap())
    };
    let (status, report) = post(&format!("/provisioning/persons/{JAN}/entitlements/{}/re-enforce", jan(0x300)));
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["actions"][0]["state"], "success", "{report:#}");
    assert_eq!(scim.launches().len(), 1);
    let (status, problem) = post(&format!("/provisioning/persons/{JAN}/entitlements/{}/unmanage", jan(0x300)));
    assert_eq!(status, 422, "{problem:#}");
    assert!(problem["detail"].as_str().unwrap().contains("no equivalent of unmanaging"), "{problem:#}");
    assert_eq!(scim.requests(), 1);
    assert!(server.stop().success());
}
