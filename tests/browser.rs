//! The operator console in a real headless browser: Debian's chromium driven over WebDriver
//! (chromedriver, started on a free loopback port) against a real `provhost serve` on 127.0.0.1.
//! An operator signs in by keyboard, an API request reaches a threshold, the blocked group shows,
//! is approved and its action runs, with the approval's audit record; a checkpoint taken shows on
//! the audit page; a key without `actions:approve` sees no decision and is refused when it posts
//! one; a form without the CSRF token is refused; another tenant's action is not found; logout and
//! a revoked key end the session. A new plugin version is uploaded on the plugins page and replayed
//! over the kept events: the actions it adds show, and a key without `plugins:replay` sees no form.
//! Screenshots of the main pages are written to docs/console/. `scripts/browser.sh` installs
//! chromium and chromedriver when they are missing.

mod support;

use serde_json::{Value, json};
use support::server::Server;
use support::webdriver::{Browser, By, ENTER, TAB};
use support::{DEMO_UNRATED, Demo, JAN, mail_changed, plugin, repo};

/// Writes a screenshot of the page shown to docs/console/NAME.png.
fn screenshot(browser: &Browser, name: &str) {
    let dir = repo().join("docs/console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), browser.screenshot()).unwrap();
}

/// Signs in through the form, by keyboard: the key id, Tab, the secret, Enter.
fn sign_in(browser: &Browser, server: &Server, key: &str) {
    browser.goto(&server.url("/console"));
    let field = browser.find(By::Css("#key_id"));
    let (id, secret) = key.split_once(':').unwrap();
    field.send_keys(&format!("{id}{TAB}"));
    assert_eq!(browser.execute("return document.activeElement.id", vec![]), "secret", "Tab moves to the secret");
    browser.find(By::Css("#secret")).send_keys(&format!("{secret}{ENTER}"));
    browser.find(By::XPath("//h1[text()='Overview']"));
}

/// Posts a form built in the page (as a forged or hand-made one would be) with `fields` to
/// `action`; the text of the page answered.
fn post_form(browser: &Browser, action: &str, fields: Value) -> String {
    let script = "const [action, fields] = arguments; const f = document.createElement('form'); \
                  f.method = 'post'; f.action = action; \
                  for (const [n, v] of Object.entries(fields)) { const i = document.createElement('input'); \
                  i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); } \
                  document.body.appendChild(f); f.submit();";
    browser.execute(script, vec![json!(action), fields]);
    browser.find(By::XPath("//h1[starts-with(text(), '403')]"));
    browser.text()
}

/// The session's CSRF token, from the sign-out form.
fn csrf(browser: &Browser) -> String {
    browser.find(By::Css("form.signout input[name=csrf]")).attr("value").unwrap()
}

/// A request to the API under `key`, holding the answer until its actions end.
fn api(server: &Server, key: &str, path: &str, body: Option<Value>) -> Value {
    let (id, secret) = key.split_once(':').unwrap();
    let client = reqwest::blocking::Client::new();
    let mut request = client.post(server.url(path)).basic_auth(id, Some(secret)).header("prefer", "wait=10");
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().unwrap().json().unwrap()
}

#[test]
fn an_operator_approves_a_blocked_group_in_a_browser_within_the_keys_scopes_and_tenant() {
    let mut demo = Demo::new();
    demo.configure(&format!(
        r#"{DEMO_UNRATED}
[[tenants.demo.thresholds]]
system = "topdesk"
kind = "update"
count = 1

[tenants.demo.plugins.propagate-mail]
component = "{}"
capabilities = ["persons:read", "accounts:update", "entitlements:re-enforce", "actions:retry"]
triggers = {{ events = ["attribute-changed"], attributes = ["mail", "proxyAddresses", "userPrincipalName"] }}

[tenants.fabrikam]
"#,
        plugin("propagate-mail").display()
    ));
    assert!(demo.provhost(&["init", "--tenant", "fabrikam", "--empty"]).status.success());
    let other = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let reader = demo.key_with(&["persons:read"]);
    let server = Server::start(&demo, &[]);
    let event: Value = serde_json::from_str(&std::fs::read_to_string(mail_changed()).unwrap()).unwrap();
    let ran = api(&server, &demo.key, "/v1/events", Some(event));
    let invocation = ran["invocations"][0]["invocation"].as_str().expect("the event ran the plugin").to_owned();
    let answer = api(&server, &demo.key, &format!("/provisioning/persons/{JAN}/accounts/update"), None);
    let blocked =
        answer["actions"].as_array().unwrap().iter().find(|a| a["state"] == "blocked").expect("a blocked action");
    let (id, system) = (blocked["id"].as_str().unwrap().to_owned(), blocked["system"].as_str().unwrap().to_owned());
    // The event's plan may have been blocked too: the group counts both.
    let (key_id, secret) = demo.key.split_once(':').unwrap();
    let all: Value = reqwest::blocking::Client::new()
        .get(server.url(&format!("/v1/actions/blocked?system={system}&limit=500")))
        .basic_auth(key_id, Some(secret))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let count = all["items"].as_array().unwrap().iter().filter(|a| a["kind"] == "update").count();

    let browser = Browser::start();
    sign_in(&browser, &server, &demo.key);
    screenshot(&browser, "overview");

    browser.goto(&server.url("/console/blocked"));
    let page = browser.text();
    assert!(page.contains(&format!("{system} × update — {count} blocked")), "{page}");
    assert!(page.contains("Threshold: "), "{page}");
    screenshot(&browser, "blocked");

    let page =
        post_form(&browser, "/console/blocked", json!({ "system": system, "kind": "update", "do": "approve-group" }));
    assert!(page.contains("403 Forbidden") && page.contains("CSRF token"), "a forged form: {page}");

    browser.goto(&server.url("/console/blocked"));
    browser.find(By::Css("button[value=approve-group]")).click();
    let approved = format!("//h1[text()='Approved {count} actions']");
    browser.find(By::XPath(&approved));
    browser.goto(&server.url(&format!("/console/actions/{id}")));
    let page = browser.text();
    assert!(page.contains("success"), "the approved action ran: {page}");
    assert!(page.contains("approval") && page.contains(key_id), "the approval's audit record: {page}");
    screenshot(&browser, "action");

    browser.goto(&server.url("/console/actions"));
    assert!(browser.text().contains(&id));
    screenshot(&browser, "actions");
    browser.goto(&server.url(&format!("/console/invocations/{invocation}")));
    let page = browser.text();
    assert!(page.contains("Host calls and decisions") && page.contains("propagate-mail"), "{page}");
    screenshot(&browser, "invocation");
    browser.goto(&server.url(&format!("/console/persons/{JAN}")));
    assert!(browser.text().contains("Entitlements"));
    screenshot(&browser, "person");
    browser.goto(&server.url("/console/plugins"));
    let page = browser.text();
    assert!(page.contains("propagate-mail") && page.contains("The last 24 hours"), "{page}");
    screenshot(&browser, "plugins");
    let secret = demo.dir.path().join("anchor.secret");
    std::fs::write(&secret, "an operator's own secret, kept elsewhere").unwrap();
    let anchored = demo.provhost(&["audit", "anchor", "--secret-file", secret.to_str().unwrap(), "--by", "alice"]);
    assert!(anchored.status.success(), "{}", String::from_utf8_lossy(&anchored.stderr));
    browser.goto(&server.url("/console/audit?verify=1"));
    let page = browser.text();
    assert!(page.contains("intact: ") && page.contains("by alice") && page.contains("the chain still holds"), "{page}");
    screenshot(&browser, "audit");

    browser.find(By::Css("form.signout button")).click();
    browser.find(By::XPath("//h1[text()='Sign in']"));
    browser.goto(&server.url("/console/actions"));
    browser.find(By::XPath("//h1[text()='Sign in']"));

    // A second block, for the key that may not decide it.
    let again = api(&server, &demo.key, &format!("/provisioning/persons/{JAN}/accounts/update"), None);
    assert!(again["actions"].as_array().unwrap().iter().any(|a| a["state"] == "blocked"), "{again}");
    sign_in(&browser, &server, &reader);
    browser.goto(&server.url("/console/blocked"));
    assert!(browser.text().contains("× update — 1 blocked"));
    assert!(browser.find_all(By::Css("button.approve, button.reject")).is_empty());
    let token = csrf(&browser);
    let page = post_form(
        &browser,
        "/console/blocked",
        json!({ "csrf": token, "system": system, "kind": "update", "do": "approve-group" }),
    );
    assert!(page.contains("403 Forbidden") && page.contains("is not granted actions:approve"), "{page}");

    assert!(demo.provhost(&["keys", "revoke", reader.split_once(':').unwrap().0]).status.success());
    browser.goto(&server.url("/console/blocked"));
    browser.find(By::XPath("//h1[text()='Sign in']"));
    assert!(browser.text().contains("was revoked or expired"));

    sign_in(&browser, &server, &other);
    browser.goto(&server.url(&format!("/console/actions/{id}")));
    let page = browser.text();
    assert!(page.contains("404 Not Found"), "another tenant's action: {page}");
}

#[test]
fn an_operator_uploads_a_new_version_on_the_plugins_page_and_sees_the_actions_it_adds() {
    let mut demo = Demo::new();
    demo.configure(&format!(
        "{DEMO_UNRATED}[tenants.demo.retention]\nkeep-events = true\n\n\
         [tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\nconfig = {{ systems = \"exchange-online,topdesk\" }}\n",
        plugin("propagate-mail").display()
    ));
    let sanne = "7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02";
    let event = json!({
        "type": "attribute-changed", "person": sanne, "system": "active-directory", "source": "a workflow",
        "changes": [{"attribute": "mail", "oldValues": ["old@contoso.example"], "newValues": ["new@fabrikam.example"]}]
    });
    let ran = demo.run_as(&demo.key, "propagate-mail", &demo.event("sanne.json", &event), &[]);
    assert!(ran.status.success(), "{}", support::stderr(&ran));
    let reader = demo.key_with(&["persons:read"]);
    let server = Server::start(&demo, &[]);
    let browser = Browser::start();
    sign_in(&browser, &server, &demo.key);
    browser.goto(&server.url("/console/plugins"));
    let next = plugin("propagate-mail-next").canonicalize().unwrap();
    browser.find(By::Css("#replay-propagate-mail-component")).send_keys(next.to_str().unwrap());
    browser.find(By::Css("#replay-propagate-mail-limit")).send_keys("10");
    browser.find(By::XPath("//form[contains(@action, '/replay')]//button[@type='submit']")).click();
    browser.find(By::XPath("//h1[text()='Replay of propagate-mail']"));
    let page = browser.text();
    assert!(page.contains("Added actions") && page.contains("afas-hr"), "the action the new version adds: {page}");
    assert!(page.contains(sanne) && page.contains("A dry run"), "{page}");
    screenshot(&browser, "replay");

    browser.find(By::Css("form.signout button")).click();
    browser.find(By::XPath("//h1[text()='Sign in']"));
    sign_in(&browser, &server, &reader);
    browser.goto(&server.url("/console/plugins"));
    assert!(browser.text().contains("propagate-mail"));
    assert!(browser.find_all(By::Css("input[type=file]")).is_empty(), "no plugins:replay, no upload");
}
