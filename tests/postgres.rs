//! The commands against a PostgreSQL store (`--store postgres://…`), through the binary and a
//! real component, on a throwaway server `scripts/test.sh` starts: the same answers as on the
//! embedded store, `store copy` of an embedded store into a database, and a store whose URL
//! asks for TLS (`sslmode=require`), against that server, which has none, and against one of
//! this test's own that refuses every connection without it.

mod support;

use std::process::Command;

use support::{Demo, JAN, json, mail_changed, repo, stderr};

/// A PostgreSQL server with TLS on a self-signed certificate (`scripts/postgres.sh start-tls`),
/// refusing TCP connections without it; stopped and removed when dropped.
struct TlsServer {
    dir: tempfile::TempDir,
    url: String,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(repo().join("scripts/postgres.sh")).arg("start-tls").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "starting a PostgreSQL with TLS: {}", stderr(&out));
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        TlsServer { dir, url }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/postgres.sh")).arg("stop").arg(self.dir.path()).output();
    }
}

#[test]
fn a_store_url_that_requires_tls_is_refused_by_a_server_without_it_and_served_by_one_with_it() {
    let Some(plain) = support::fresh_postgres_database() else { return };
    let with_password = |url: &str| url.replacen("postgres://provhost@", "postgres://provhost:s3cret@", 1);
    let required = format!("{}?sslmode=require", with_password(&plain));
    let refused = Demo::new().provhost(&["--store", &required, "store", "migrate"]);
    assert!(!refused.status.success(), "a server without TLS served a URL that requires it");
    let said = stderr(&refused);
    let shown = format!("{}?sslmode=require", plain.replacen("provhost@", "provhost:***@", 1));
    assert!(said.contains(&shown) && said.contains("TLS") && !said.contains("s3cret"), "{said}");

    let server = TlsServer::start();
    let demo = Demo::on_store(&format!("{}?sslmode=require", with_password(&server.url)));
    let out = demo.run("propagate-mail", &mail_changed(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["committed"], true);
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    // The same server refuses the same URL without TLS: the commands above ran over it.
    let without = Demo::new().provhost(&["--store", &server.url, "store", "migrate"]);
    assert!(!without.status.success(), "the TLS-only server served a connection without TLS");
    assert!(stderr(&without).contains("no encryption"), "{}", stderr(&without));
}

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
