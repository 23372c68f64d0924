//! The commands against a PostgreSQL store (`--store postgres://…`), through the binary and a
//! real component, on a throwaway server `scripts/test.sh` starts: the same answers as on the
//! embedded store, and `store copy` of an embedded store into a database.

mod support;

use support::{Demo, JAN, json, mail_changed, stderr};

#[test]
fn every_command_works_against_a_postgres_store() {
    let Some(demo) = Demo::on_postgres() else { return };
    let out = demo.run("propagate-mail", &mail_changed(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["committed"], true);
    let ended: Vec<&str> = report["actions"].as_array().unwrap().iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(ended.len(), 7);
    assert!(ended.iter().all(|s| *s == "success"), "{ended:?}");

    let retry = report["actions"].as_array().unwrap().iter().find(|a| a["origin"] == "manual retry").unwrap();
    let shown = json(&demo.provhost(&["actions", "show", retry["id"].as_str().unwrap()]));
    let history: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(history, ["pending", "running", "success"]);

    let person = json(&demo.provhost(&["persons", "show", JAN]));
    let exchange = person["accounts"].as_array().unwrap().iter().find(|a| a["system"] == "exchange-online").unwrap();
    assert!(exchange["attributes"].to_string().contains("jan.jansen@fabrikam.example"), "{exchange}");

    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("verify"), "{}", String::from_utf8_lossy(&verify.stdout));
    let keys = json(&demo.provhost(&["keys", "list"]));
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let systems = json(&demo.provhost(&["systems", "list", "--tenant", "demo"]));
    assert_eq!(systems.as_array().unwrap().len(), 4);
    let migrate = demo.provhost(&["store", "migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
}

#[test]
fn an_embedded_store_copied_into_postgres_verifies_and_goes_on_there() {
    let Some(url) = support::fresh_postgres_database() else { return };
    let file = Demo::new();
    let out = file.run("propagate-mail", &mail_changed(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let copy = file.provhost(&["store", "copy", "--to", &url]);
    assert!(copy.status.success(), "{}", stderr(&copy));
    let copied = json(&copy);
    let chain = &copied["chains"][0];
    assert_eq!((chain["tenant"].as_str(), chain["broken"].is_null()), (Some("demo"), true), "{copied}");

    // The same data directory and key, now with the database as its store.
    let on_db = |args: &[&str]| {
        let mut all = vec!["--store", url.as_str()];
        all.extend_from_slice(args);
        file.provhost(&all)
    };
    let copied_actions = json(&on_db(&["actions", "list", "--tenant", "demo", "--json"]));
    assert_eq!(copied_actions, json(&file.provhost(&["actions", "list", "--tenant", "demo", "--json"])));
    let plugin = support::plugin("propagate-mail");
    let event = mail_changed();
    let run = on_db(&[
        "run",
        "--api-key",
        &file.key,
        "--plugin",
        plugin.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "the copied key works on the database: {}", stderr(&run));
    let verify = on_db(&["audit", "verify"]);
    assert!(verify.status.success(), "the copied chain goes on verifiably: {}", stderr(&verify));
    let export = on_db(&["audit", "export", "--tenant", "demo"]);
    assert!(export.status.success(), "{}", stderr(&export));
}
