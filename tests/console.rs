//! The operator console over HTTP, without a browser: a real `provhost serve` on 127.0.0.1 and a
//! reqwest client that sends what a browser's forms send. Sign-in and its cookie, CSRF on every
//! form, scopes from both sides (not shown, and refused when posted anyway), tenancy (another
//! tenant's ids are 404), the end of a session at logout and when its key is revoked, blocked
//! groups decided through the API's path, a new plugin version replayed from the plugins page
//! through the API's path (scope, token and upload bound from both sides), and the request log
//! `serve` writes by default. The same flow in a real browser is in tests/browser.rs.

mod support;

use serde_json::{Value, json};
use support::console::{Session, client, set_cookie, sign_in, sign_in_answer};
use support::server::Server;
use support::{DEMO_UNRATED, Demo, JAN, plugin, stderr};

/// A demo whose topdesk account updates are blocked from the first one.
fn blocking_demo(extra: &str) -> Demo {
    let mut demo = Demo::new();
    demo.configure(&format!(
        "{DEMO_UNRATED}[[tenants.demo.thresholds]]\nsystem = \"topdesk\"\nkind = \"update\"\ncount = 1\n{extra}"
    ));
    demo
}

/// Has the API update Jan's accounts; the topdesk one is blocked. Its id.
fn block_one(server: &Server, demo: &Demo) -> String {
    let (id, secret) = demo.key.split_once(':').unwrap();
    let answer: serde_json::Value = client()
        .post(server.url(&format!("/provisioning/persons/{JAN}/accounts/update")))
        .basic_auth(id, Some(secret))
        .header("prefer", "wait=10")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let blocked = answer["actions"].as_array().unwrap().iter().find(|a| a["system"] == "topdesk").unwrap();
    assert_eq!(blocked["state"], "blocked", "{answer}");
    blocked["id"].as_str().unwrap().to_owned()
}

#[test]
fn sign_in_opens_a_strict_http_only_session_and_refuses_a_wrong_secret_or_a_forged_form() {
    let demo = blocking_demo("");
    let server = Server::start(&demo, &[]);
    let (status, page) = {
        let r = client().get(server.url("/console")).send().unwrap();
        (r.status().as_u16(), r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()))
    };
    assert_eq!((status, page.as_deref()), (303, Some("/console/signin?why=signed-out")), "no session: to sign-in");

    let (id, _) = demo.key.split_once(':').unwrap();
    let wrong = sign_in_answer(&server, &format!("{id}:not-the-secret"), &[]);
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie(&wrong, "provhost_console").is_none());
    assert!(wrong.text().unwrap().contains(&format!("API key '{id}' is not valid")));

    let forged = client()
        .post(server.url("/console/signin"))
        .form(&[("csrf", "made-up"), ("key_id", id), ("secret", demo.key.split_once(':').unwrap().1)])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403, "a sign-in form without its cookie's token is refused");
    assert!(set_cookie(&forged, "provhost_console").is_none());

    let answer = sign_in_answer(&server, &demo.key, &[]);
    assert_eq!((answer.status().as_u16(), answer.headers()["location"].to_str().unwrap()), (303, "/console"));
    let (_, line) = set_cookie(&answer, "provhost_console").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!line.contains("Secure"), "plain HTTP: {line}");
    let behind_tls = sign_in_answer(&server, &demo.key, &[("x-forwarded-proto", "https")]);
    assert!(set_cookie(&behind_tls, "provhost_console").unwrap().1.ends_with("; Secure"));

    let session = sign_in(&server, &demo.key);
    let (status, page) = session.get("/console");
    assert_eq!(status, 200);
    assert!(page.contains("Executor backlog") && page.contains(&format!("Key <code>{id}</code>")), "{page}");
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(logs.contains("console sign-in refused") && logs.contains("console session opened"), "{logs}");
    assert!(
        logs.contains(r#""route":"/console""#) && logs.contains(r#""message":"request""#),
        "a line per request: {logs}"
    );
}

#[test]
fn a_blocked_group_is_approved_through_the_api_path_under_the_signed_in_key_and_forms_need_the_token() {
    let demo = blocking_demo("");
    let server = Server::start(&demo, &[]);
    let id = block_one(&server, &demo);
    let session = sign_in(&server, &demo.key);
    let (status, page) = session.get("/console/blocked");
    assert_eq!(status, 200);
    assert!(page.contains("<code>topdesk</code> × update — 1 blocked"), "{page}");
    assert!(page.contains("Threshold: ") && page.contains(&id), "{page}");
    assert!(page.contains(r#"value="approve-group""#));

    let group = [("system", "topdesk"), ("kind", "update"), ("do", "approve-group")];
    let (status, page) = session.post("/console/blocked", &group);
    assert_eq!(status, 403, "a form without the CSRF token: {page}");
    assert!(page.contains("CSRF token"));
    let (status, _) = session.post("/console/blocked", &[group.as_slice(), &[("csrf", "0000")]].concat());
    assert_eq!(status, 403, "a form with another token");
    assert!(session.get(&format!("/console/actions/{id}")).1.contains(r#"class="state blocked""#), "still blocked");

    let token = session.csrf();
    let (status, page) = session.post("/console/blocked", &[group.as_slice(), &[("csrf", token.as_str())]].concat());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved 1 actions") && page.contains(&id), "{page}");
    let (_, page) = session.get(&format!("/console/actions/{id}"));
    assert!(page.contains(r#"class="state success""#), "the approved action ran: {page}");
    let key_id = demo.key.split_once(':').unwrap().0;
    assert!(page.contains("approval") && page.contains(&format!(r#"<td class="mono">{key_id}</td>"#)), "{page}");
    assert!(session.get("/console/blocked").1.contains("No action is blocked."));
}

#[test]
fn a_key_without_approve_sees_no_decision_and_is_refused_when_it_posts_one() {
    let demo = blocking_demo("");
    let server = Server::start(&demo, &[]);
    let id = block_one(&server, &demo);
    let reader = sign_in(&server, &demo.key_with(&["persons:read"]));
    let (status, page) = reader.get("/console/blocked");
    assert_eq!(status, 200);
    assert!(page.contains(&id) && !page.contains("approve-group") && !page.contains("Approve"), "{page}");
    assert!(!page.contains("/console/audit"), "no audit:read, no audit link: {page}");
    let token = reader.csrf();
    for decision in ["approve-group", "approve-selected"] {
        let fields =
            [("csrf", token.as_str()), ("system", "topdesk"), ("kind", "update"), ("id", &id), ("do", decision)];
        let (status, page) = reader.post("/console/blocked", &fields);
        assert_eq!(status, 403, "{decision}: {page}");
        assert!(page.contains("is not granted actions:approve"), "{page}");
    }
    assert_eq!(reader.get("/console/audit").0, 403);
    assert!(reader.get(&format!("/console/actions/{id}")).1.contains(r#"class="state blocked""#));

    let auditor = sign_in(&server, &demo.key_with(&["audit:read"]));
    assert_eq!(auditor.get("/console/blocked").0, 403, "no persons:read");
    let (status, page) = auditor.get("/console/audit?verify=1");
    assert_eq!(status, 200);
    assert!(page.contains("intact: "), "{page}");
}

#[test]
fn another_tenants_ids_are_not_found_and_a_session_ends_at_logout_and_with_its_key() {
    let demo = blocking_demo("\n[tenants.fabrikam]\n");
    assert!(demo.provhost(&["init", "--tenant", "fabrikam", "--empty"]).status.success());
    let other = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let server = Server::start(&demo, &[]);
    let id = block_one(&server, &demo);
    let mine = sign_in(&server, &demo.key);
    assert_eq!(mine.get(&format!("/console/actions/{id}")).0, 200);
    let theirs = sign_in(&server, &other);
    for path in [format!("/console/actions/{id}"), format!("/console/persons/{JAN}")] {
        let (status, page) = theirs.get(&path);
        assert_eq!(status, 404, "{path}: {page}");
    }
    assert!(theirs.get("/console/blocked").1.contains("No action is blocked."));
    let token = theirs.csrf();
    let fields = [("csrf", token.as_str()), ("id", id.as_str()), ("do", "approve-selected")];
    assert_eq!(theirs.post("/console/blocked", &fields).0, 404, "deciding another tenant's action");
    assert!(mine.get(&format!("/console/actions/{id}")).1.contains(r#"class="state blocked""#));

    let (status, _) = theirs.post("/console/logout", &[("csrf", token.as_str())]);
    assert_eq!(status, 303);
    assert_eq!(theirs.get("/console").0, 303, "signed out");

    let short = demo.key_with(&["persons:read"]);
    let session = sign_in(&server, &short);
    assert_eq!(session.get("/console/actions").0, 200);
    assert!(demo.provhost(&["keys", "revoke", short.split_once(':').unwrap().0]).status.success());
    let r = client().get(server.url("/console/actions")).header("cookie", &session.cookie).send().unwrap();
    assert_eq!(r.status(), 303, "a revoked key ends its session");
    assert_eq!(r.headers()["location"], "/console/signin?why=key-ended");
    assert_eq!(session.get("/console").0, 303, "and it stays ended");
}

/// Signs in on `demo`'s store, restarts `serve` on it and finds the session still open; with
/// `hosts`, a second `serve` on the same store at once knows it too. Logging out ends a session
/// everywhere, and a revoked key's session is refused on its next request, on any host.
fn sessions_outlive_a_restart_and_end_with_their_key(demo: &Demo, hosts: bool) {
    let key = demo.key_with(&["persons:read"]);
    let first = Server::start(demo, &[]);
    let session = sign_in(&first, &key);
    let leaving = sign_in(&first, &key);
    assert_eq!(session.get("/console/actions").0, 200);
    let logs = first.logs.clone();
    let stopped = first.stop();
    assert!(stopped.success(), "{stopped}: {}", logs.lock().unwrap().join("\n"));

    let second = Server::start(demo, &[]);
    let on = |server: &Server, session: &support::console::Session| support::console::Session {
        client: client(),
        base: server.base.clone(),
        cookie: session.cookie.clone(),
    };
    let (status, page) = on(&second, &session).get("/console/actions");
    assert_eq!(status, 200, "still signed in after a restart: {page}");
    let other = hosts.then(|| Server::start(demo, &[]));
    let elsewhere = other.as_ref().unwrap_or(&second);
    assert_eq!(on(elsewhere, &session).get("/console/actions").0, 200, "the session holds on every host");

    let token = on(&second, &leaving).csrf();
    assert_eq!(on(&second, &leaving).post("/console/logout", &[("csrf", token.as_str())]).0, 303);
    let r = client().get(elsewhere.url("/console/actions")).header("cookie", &leaving.cookie).send().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/console/signin?why=expired"),
        "logged out on one host, out on all"
    );

    assert!(demo.provhost(&["keys", "revoke", key.split_once(':').unwrap().0]).status.success());
    let r = client().get(elsewhere.url("/console/actions")).header("cookie", &session.cookie).send().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/console/signin?why=key-ended"),
        "a revoked key's session is refused on its next request"
    );
    assert_eq!(on(&second, &session).get("/console/actions").0, 303, "and on every host");
}

#[test]
fn a_session_is_kept_in_the_embedded_store_by_its_tokens_hash_and_outlives_a_restart() {
    let demo = blocking_demo("");
    sessions_outlive_a_restart_and_end_with_their_key(&demo, false);
    let server = Server::start(&demo, &[]);
    let session = sign_in(&server, &demo.key);
    let token = session.cookie.strip_prefix("provhost_console=").unwrap().to_owned();
    let db = rusqlite::Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT token_hash FROM console_sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!stored.is_empty() && !stored.contains(&token), "only a hash of the token is kept: {stored:?}");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert!(stored.contains(&hash), "{stored:?}");
}

#[test]
fn a_session_on_a_shared_postgres_store_holds_on_every_host_and_outlives_a_restart() {
    let Some(mut demo) = Demo::on_postgres() else { return };
    demo.configure(DEMO_UNRATED);
    sessions_outlive_a_restart_and_end_with_their_key(&demo, true);
    let server = Server::start(&demo, &[]);
    let operator = sign_in(&server, &demo.key);
    let pages =
        ["/console", "/console/blocked", "/console/actions?state=error", "/console/plugins", "/console/audit?verify=1"];
    for path in pages {
        let (status, page) = operator.get(path);
        assert_eq!(status, 200, "{path} over PostgreSQL: {page}");
    }
    let export = client().get(server.url("/console/audit/export")).header("cookie", &operator.cookie).send().unwrap();
    assert_eq!(export.status(), 200);
    assert!(export.text().unwrap().lines().count() > 1, "the chain, downloaded from PostgreSQL");
}

/// Takes a checkpoint with `provhost audit anchor` by `by`; the record it names.
fn anchor(demo: &Demo, by: &str) -> u64 {
    let secret = demo.dir.path().join("anchor.secret");
    std::fs::write(&secret, "an operator's own secret, kept elsewhere").unwrap();
    let out =
        demo.provhost(&["audit", "anchor", "--tenant", "demo", "--secret-file", secret.to_str().unwrap(), "--by", by]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checkpoint: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    checkpoint["seq"].as_u64().unwrap()
}

#[test]
fn the_audit_page_shows_the_last_checkpoint_and_loudly_a_chain_rewritten_after_it() {
    let demo = blocking_demo("");
    let server = Server::start(&demo, &[]);
    block_one(&server, &demo);
    let auditor = sign_in(&server, &demo.key_with(&["audit:read"]));
    let (status, page) = auditor.get("/console/audit");
    assert_eq!(status, 200);
    assert!(page.contains("none recorded yet"), "{page}");

    let seq = anchor(&demo, "alice");
    let (_, page) = auditor.get("/console/audit?verify=1");
    assert!(page.contains(&format!("record #{seq}, taken ")) && page.contains(" by alice "), "{page}");
    assert!(page.contains(&format!("the chain still holds record #{seq} with the hash it signed")), "{page}");
    assert!(!page.contains(r#"role="alert""#), "nothing is wrong: {page}");
    assert!(page.contains(&format!("checkpoint of record {seq} (hash ")), "the record of its taking is listed: {page}");

    // Someone with write access to the file rewrites the record the checkpoint names.
    let db = rusqlite::Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_is_never_updated;").unwrap();
    let forged = "f".repeat(64);
    db.execute("UPDATE audit SET hash = ?1 WHERE tenant = 'demo' AND seq = ?2", rusqlite::params![forged, seq as i64])
        .unwrap();
    let (_, page) = auditor.get("/console/audit");
    let loud = format!(
        r#"<strong class="warning" role="alert">The chain does not match this checkpoint: record {seq} has hash {forged}, but the checkpoint of "#
    );
    assert!(page.contains(&loud) && page.contains("the chain was rewritten"), "{page}");
}

#[test]
fn the_audit_pages_end_on_the_first_record_and_the_export_downloads_the_chain() {
    let demo = blocking_demo("");
    let server = Server::start(&demo, &[]);
    block_one(&server, &demo);
    let auditor = sign_in(&server, &demo.key_with(&["audit:read", "persons:read"]));
    let export = client().get(server.url("/console/audit/export")).header("cookie", &auditor.cookie).send().unwrap();
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    assert_eq!(export.headers()["content-disposition"], "attachment; filename=\"audit-demo.jsonl\"");
    let text = export.text().unwrap();
    let seqs: Vec<u64> =
        text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
    let head = *seqs.last().unwrap();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "the whole chain, in order");
    let file = demo.dir.path().join("downloaded.jsonl");
    std::fs::write(&file, &text).unwrap();
    assert!(demo.provhost(&["audit", "verify", "--file", file.to_str().unwrap()]).status.success());

    let (_, first) = auditor.get("/console/audit?limit=2");
    assert!(first.contains(&format!("<td>{head}</td>")) && first.contains("Showing 1–2; older ones follow"), "{first}");
    assert!(first.contains(r#"rel="next""#) && !first.contains(r#"rel="prev""#), "{first}");
    let (_, middle) = auditor.get("/console/audit?limit=2&offset=2");
    assert!(middle.contains("Showing 3–4; older ones follow") && middle.contains(r#"rel="prev""#), "{middle}");
    let (_, last) = auditor.get(&format!("/console/audit?limit=2&offset={}", head - 1));
    assert!(last.contains("<td>1</td>") && last.contains(&format!("Showing {head}–{head} of {head}")), "{last}");
    assert!(!last.contains(r#"rel="next""#) && !last.contains("follow"), "{last}");
    let (_, empty) = auditor.get("/console/actions?person=nobody");
    assert!(empty.contains("No action matches.") && !empty.contains("Showing") && !empty.contains("Older"), "{empty}");
    assert_eq!(client().get(server.url("/console/audit/export")).send().unwrap().status(), 303, "signed in only");
}

/// The demo tenant keeping its events and running propagate-mail into Exchange Online and TOPdesk,
/// with Sanne's and Fatima's mail changes run through it and kept.
fn replaying_demo() -> Demo {
    let mut demo = Demo::new();
    demo.configure(&format!(
        "{DEMO_UNRATED}[tenants.demo.retention]\nkeep-events = true\n\n\
         [tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\nconfig = {{ systems = \"exchange-online,topdesk\" }}\n",
        plugin("propagate-mail").display()
    ));
    for person in ["7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02", "e5b7c9d1-3f2a-4c6e-b8d4-1a9f7e5c3b04"] {
        let event = json!({
            "type": "attribute-changed", "person": person, "system": "active-directory", "source": "a workflow",
            "changes": [{"attribute": "mail", "oldValues": ["old@contoso.example"], "newValues": ["new@fabrikam.example"]}]
        });
        let out = demo.run_as(&demo.key, "propagate-mail", &demo.event(&format!("{person}.json"), &event), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    demo
}

/// The replays on the demo tenant's audit trail.
fn replays(demo: &Demo) -> Vec<Value> {
    let out = demo.provhost(&["audit", "list", "--tenant", "demo", "--kind", "replay", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

const REPLAY: &str = "/console/plugins/propagate-mail/replay";

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in {page}"));
    let rest = &page[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[test]
fn a_new_version_replayed_from_the_plugin_page_shows_the_actions_it_adds_page_by_page() {
    let demo = replaying_demo();
    let server = Server::start(&demo, &[]);
    let session = sign_in(&server, &demo.key);
    let (status, page) = session.get("/console/plugins");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(r#"action="{REPLAY}""#)) && page.contains(r#"enctype="multipart/form-data""#),
        "{page}"
    );
    let token = session.csrf();
    let next = std::fs::read(plugin("propagate-mail-next")).unwrap();
    let (status, page) = session.upload(REPLAY, &[("csrf", &token), ("limit", "1")], ("component", &next));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Replay of propagate-mail") && page.contains("A dry run: nothing was committed"), "{page}");
    assert!(page.contains("<dt>Different</dt><dd>1</dd>") && page.contains("Added actions"), "{page}");
    assert!(page.contains("<td>afas-hr</td><td>update</td>"), "the action the new version adds: {page}");
    assert!(page.contains("Replay the next page"), "{page}");
    let after = hidden(&page, "after");
    assert_eq!(replays(&demo).len(), 1, "the page replayed is one audit record");

    let fields = [("csrf", token.as_str()), ("limit", "1"), ("after", after.as_str())];
    let (status, page) = session.upload(REPLAY, &fields, ("component", &next));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dt>Events replayed</dt><dd>1</dd>") && page.contains("<td>afas-hr</td>"), "{page}");
    let fields = [("csrf", token.as_str()), ("limit", "1"), ("after", &hidden(&page, "after"))];
    let (status, page) = session.upload(REPLAY, &fields, ("component", &next));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No kept event of this plugin is in the range."), "past the last: {page}");
    assert!(!page.contains("Replay the next page"), "{page}");
    let records = replays(&demo);
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[1]["key_id"], demo.key.split_once(':').unwrap().0, "under the signed-in key");

    let same = std::fs::read(plugin("propagate-mail")).unwrap();
    let (status, page) = session.upload(REPLAY, &[("csrf", &token)], ("component", &same));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<dt>Identical</dt><dd>2</dd>") && !page.contains("Added actions"), "{page}");
    let (status, page) = session.upload(REPLAY, &[("csrf", &token), ("since", "yesterday")], ("component", &same));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("since: "), "{page}");
}

#[test]
fn a_replay_from_the_console_needs_its_scope_the_token_and_a_component_within_the_bound() {
    let demo = replaying_demo();
    let server = Server::start(&demo, &[]);
    let next = std::fs::read(plugin("propagate-mail-next")).unwrap();
    let reader = sign_in(&server, &demo.key_with(&["persons:read"]));
    let (status, page) = reader.get("/console/plugins");
    assert_eq!(status, 200);
    assert!(page.contains("propagate-mail") && !page.contains("/replay"), "no plugins:replay, no form: {page}");
    let token = reader.csrf();
    let (status, page) = reader.upload(REPLAY, &[("csrf", &token)], ("component", &next));
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("is not granted plugins:replay"), "{page}");

    let session: Session = sign_in(&server, &demo.key);
    let (status, page) = session.upload(REPLAY, &[], ("component", &next));
    assert_eq!(status, 403, "a form without the CSRF token: {page}");
    assert!(page.contains("CSRF token"), "{page}");
    let (status, _) = session.upload(REPLAY, &[("csrf", "0000")], ("component", &next));
    assert_eq!(status, 403, "a form with another token");
    let token = session.csrf();
    let (status, page) = session.upload(REPLAY, &[("csrf", &token)], ("component", &[]));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("choose the new version"), "{page}");
    let (status, page) = session.upload("/console/plugins/nope/replay", &[("csrf", &token)], ("component", &next));
    assert_eq!(status, 404, "{page}");
    let huge = vec![0u8; (64 << 20) + (64 << 10) + 1];
    let (status, page) = session.upload(REPLAY, &[("csrf", &token)], ("component", &huge));
    assert_eq!(status, 413, "{page}");
    assert!(page.contains("larger than the 67108864 bytes a replay takes; nothing was replayed"), "{page}");
    assert!(replays(&demo).is_empty(), "nothing refused was replayed");
    let (status, page) = session.upload(REPLAY, &[("csrf", &token)], ("component", &next));
    assert_eq!(status, 200, "the same session replays within the bound: {page}");
}
