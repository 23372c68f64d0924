//! The audit trail end to end: what real runs through components record, that a trap leaves
//! only its invocation record, tamper evidence against edits, deletions and swaps made directly
//! in the database, and export → import → verify.

mod support;

use rusqlite::Connection;
use serde_json::Value;
use support::{Demo, JAN, json, mail_changed, plugin, stderr};

fn records(demo: &Demo, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "list", "--format", "json"];
    args.extend_from_slice(filters);
    let out = demo.provhost(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out).as_array().unwrap().clone()
}

fn db(demo: &Demo) -> Connection {
    let conn = Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    // What someone with write access to the file could do: remove the guards first.
    conn.execute_batch("DROP TRIGGER audit_is_never_updated; DROP TRIGGER audit_is_never_deleted;").unwrap();
    conn
}

fn id_at(demo: &Demo, seq: u64) -> String {
    records(demo, &["--tenant", "demo"]).into_iter().find(|r| r["seq"] == seq).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn verify(demo: &Demo) -> (Option<i32>, String) {
    let out = demo.provhost(&["audit", "verify"]);
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)))
}

#[test]
fn a_committed_run_records_invocation_calls_notes_commits_and_state_changes() {
    let demo = Demo::new();
    let report = json(&demo.run("propagate-mail", &mail_changed(), &[]));
    let invocation = report["invocation"].as_str().unwrap();
    let key_id = demo.key.split(':').next().unwrap();
    let mine: Vec<Value> = records(&demo, &[]).into_iter().filter(|r| r["invocation"] == invocation).collect();

    let inv = mine.iter().find(|r| r["kind"] == "invocation").unwrap();
    assert_eq!(inv["key_id"], key_id);
    assert_eq!(inv["plugin"], "propagate-mail");
    assert_eq!(inv["decision"], "completed");
    let details = &inv["details"];
    assert_eq!(details["plugin_sha256"], report["plugin"]["sha256"]);
    assert_eq!(details["event_digest"].as_str().unwrap().len(), 64);
    assert!(details["event_summary"].as_str().unwrap().starts_with("mail, proxyAddresses of person"));
    assert_eq!(details["host_calls"], report["usage"]["host_calls"]);
    assert!(details["fuel_used"].as_u64().unwrap() > 0 && details["peak_memory"].as_u64().unwrap() > 0);
    assert!(!serde_json::to_string(&mine).unwrap().contains(demo.key.split(':').nth(1).unwrap()), "never the secret");

    let calls = details["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 11, "4 queries and 7 actions, in the one invocation record");
    let update = calls.iter().find(|c| c["function"] == "update-account").unwrap();
    assert_eq!((update["decision"].as_str(), update["ids"][0].as_str()), (Some("allowed"), Some(JAN)));
    assert_eq!(update["interface"], "actions");
    assert_eq!(details["notes"].as_array().unwrap().len(), 7);
    assert_eq!(details["plan"].as_array().unwrap().len(), 7, "the committed plan, with its action ids");
    assert_eq!(mine.iter().filter(|r| r["kind"] == "invocation").count(), 1);

    let action = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "update" && a["origin"] == "update account")
        .unwrap();
    let id = action["id"].as_str().unwrap();
    let trail = records(&demo, &["--action", id]);
    let states: Vec<(&str, &str)> =
        trail.iter().map(|r| (r["kind"].as_str().unwrap(), r["decision"].as_str().unwrap())).collect();
    assert_eq!(
        states,
        [("invocation", "completed"), ("action-state", "running"), ("action-state", "success")],
        "one record per unit of work: the invocation with its plan, the executor's claim, its step"
    );
    let change = |r: &Value| r["details"]["changes"].as_array().unwrap().iter().find(|c| c["action"] == id).cloned();
    assert!(trail[1..].iter().all(|r| change(r).unwrap()["audit_action"] == "UpdateAccount"));
    let step = &trail[2];
    let names: Vec<&str> =
        step["details"]["changes"].as_array().unwrap().iter().map(|c| c["audit_action"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 7, "the executor's step records every action it moved");
    assert!(names.contains(&"CreateAccount") && names.contains(&"GrantPermission"), "{names:?}");

    let one = demo.provhost(&["audit", "show", step["id"].as_str().unwrap()]);
    let shown = json(&one);
    assert_eq!(shown["record"]["id"], step["id"]);
    assert_eq!(shown["invocation"]["id"], inv["id"]);
    assert_eq!(verify(&demo).0, Some(0));
}

#[test]
fn refusals_approvals_and_rejections_are_recorded_with_who_decided() {
    let mut demo = Demo::new();
    let component = plugin("propagate-mail");
    demo.configure(&format!(
        "[tenants.demo.plugins.pm]\ncomponent = \"{}\"\ncapabilities = [\"persons:read\", \"accounts:update\", \"entitlements:re-enforce\"]\n\
         [[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncount = 1\n",
        component.display()
    ));
    let report = json(&demo.run_as(&demo.key, "pm", &mail_changed(), &[]));
    let invocation = records(&demo, &["--kind", "invocation", "--plugin", "pm"]).pop().unwrap();
    let forbidden: Vec<&Value> =
        invocation["details"]["calls"].as_array().unwrap().iter().filter(|c| c["decision"] == "forbidden").collect();
    assert_eq!(forbidden.len(), 1);
    assert!(forbidden[0]["reason"].as_str().unwrap().contains("does not declare the capability actions:retry"));

    let blocked: Vec<&str> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "blocked")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(blocked.len(), 2);
    let approver = demo.key_with(&["actions:approve"]);
    assert!(demo.provhost(&["actions", "approve", "--api-key", &approver, blocked[0]]).status.success());
    assert!(demo.provhost(&["actions", "reject", "--api-key", &approver, blocked[1]]).status.success());
    let approver_id = approver.split(':').next().unwrap();
    let approvals = records(&demo, &["--kind", "approval"]);
    let rejections = records(&demo, &["--kind", "rejection"]);
    assert_eq!((approvals.len(), rejections.len()), (1, 1));
    assert_eq!(approvals[0]["key_id"], approver_id);
    assert_eq!(approvals[0]["action"], blocked[0]);
    assert_eq!(rejections[0]["decision"], "rejected");
    assert_eq!(
        records(&demo, &["--key", approver_id]).len(),
        2,
        "the approval and the rejection; running it is the executor's"
    );
}

#[test]
fn a_trapping_invocation_leaves_its_invocation_record_and_nothing_else() {
    let demo = Demo::new();
    let before = records(&demo, &[]).len();
    let out = demo.run("misbehave", &mail_changed(), &["--set", "mode=panic"]);
    assert_eq!(out.status.code(), Some(3));
    let after = records(&demo, &[]);
    assert_eq!(after.len(), before + 1);
    let last = after.last().unwrap();
    assert_eq!((last["kind"].as_str(), last["decision"].as_str()), (Some("invocation"), Some("trap")));
    assert!(last["message"].as_str().unwrap().contains("deliberate panic after planning"));
    assert_eq!(last["details"]["calls"][0]["decision"], "allowed", "what it asked for is kept in the record");

    let dry = demo.run("propagate-mail", &mail_changed(), &["--dry-run"]);
    assert!(dry.status.success());
    let last = records(&demo, &[]).pop().unwrap();
    assert_eq!(last["decision"], "dry-run:completed");
}

#[test]
fn an_event_naming_an_unknown_action_is_refused_before_any_plugin_runs() {
    let demo = Demo::new();
    let before = records(&demo, &[]).len();
    let event = demo.event("gone.json", &serde_json::json!({"type": "action-failed", "action": "no-such-action"}));
    let out = demo.run("propagate-mail", &event, &[]);
    assert!(!out.status.success(), "an unknown action is not run");
    let err = stderr(&out);
    assert!(err.contains("action 'no-such-action' not found in tenant 'demo'"), "{err}");
    assert_eq!(records(&demo, &[]).len(), before, "no plugin ran, so no invocation is recorded");
}

#[test]
fn keys_and_system_failures_are_audit_records() {
    let demo = Demo::new();
    let key = demo.key_with(&["persons:read"]);
    let id = key.split(':').next().unwrap();
    assert!(demo.provhost(&["keys", "revoke", id]).status.success());
    let keys = records(&demo, &["--kind", "key"]);
    let decisions: Vec<(&str, &str)> =
        keys.iter().map(|r| (r["details"]["key"].as_str().unwrap(), r["decision"].as_str().unwrap())).collect();
    assert!(decisions.contains(&(id, "created")) && decisions.contains(&(id, "revoked")), "{decisions:?}");
    assert!(!serde_json::to_string(&keys).unwrap().contains(key.split(':').nth(1).unwrap()), "never a secret");

    for args in [&["systems", "fail", "topdesk", "--message", "maintenance"][..], &["systems", "restore", "topdesk"]] {
        let out = demo.provhost(args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let systems = records(&demo, &["--kind", "system"]);
    let decisions: Vec<&str> = systems.iter().map(|r| r["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["failing", "restored"]);
    assert_eq!(verify(&demo).0, Some(0));
}

/// Writes the operator's secret and the checkpoints `audit anchor` prints now beside the store
/// (in a real deployment both live elsewhere); their paths.
fn take_checkpoints(demo: &Demo) -> (String, String) {
    let secret = demo.dir.path().join("anchor.secret");
    std::fs::write(&secret, "an operator's own secret, kept elsewhere\n").unwrap();
    let secret = secret.to_str().unwrap().to_owned();
    let out = demo.provhost(&["audit", "anchor", "--secret-file", &secret]);
    assert!(out.status.success(), "{}", stderr(&out));
    let anchor = demo.dir.path().join("checkpoints.jsonl");
    std::fs::write(&anchor, &out.stdout).unwrap();
    (secret, anchor.to_str().unwrap().to_owned())
}

#[test]
fn a_checkpoint_kept_outside_shows_a_removed_tail_and_a_rewritten_head() {
    let demo = Demo::new();
    assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    let (secret, anchor) = take_checkpoints(&demo);
    let (secret, anchor) = (secret.as_str(), anchor.as_str());
    let checked = |demo: &Demo| demo.provhost(&["audit", "verify", "--anchor", anchor, "--secret-file", secret]);
    assert!(checked(&demo).status.success(), "{}", stderr(&checked(&demo)));
    // The record the checkpoint names: the head when it was taken, before the record of its taking.
    let checkpoint: Value = serde_json::from_str(std::fs::read_to_string(anchor).unwrap().trim()).unwrap();
    let head = checkpoint["seq"].as_u64().unwrap();
    let taken = records(&demo, &["--tenant", "demo", "--kind", "checkpoint"]);
    assert_eq!(taken.len(), 1, "the checkpoint is recorded in its chain: {taken:?}");
    assert_eq!(taken[0]["seq"].as_u64(), Some(head + 1));
    assert_eq!(taken[0]["details"]["checkpoint"], checkpoint, "with its signature");

    // Whoever rewrites the record the checkpoint names, and the hashes from it on, keeps the chain
    // consistent, not the checkpoint.
    let records = records(&demo, &["--tenant", "demo"]);
    let conn = db(&demo);
    let mut prev = None;
    for seq in [head, head + 1] {
        let mut rewritten: provhost::audit::AuditRecord =
            serde_json::from_value(records.iter().find(|r| r["seq"] == seq).unwrap().clone()).unwrap();
        if seq == head {
            rewritten.entry.message = "nothing happened here".into();
        }
        if let Some(prev) = prev {
            rewritten.prev_hash = prev;
        }
        let hash = provhost::audit::record_hash(&rewritten);
        conn.execute(
            "UPDATE audit SET message = ?1, prev_hash = ?2, hash = ?3 WHERE tenant = 'demo' AND seq = ?4",
            rusqlite::params![rewritten.entry.message, rewritten.prev_hash, hash, seq as i64],
        )
        .unwrap();
        prev = Some(hash);
    }
    assert_eq!(verify(&demo).0, Some(0), "the chain alone cannot tell");
    let out = checked(&demo);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the chain was rewritten"), "{}", stderr(&out));

    conn.execute("DELETE FROM audit WHERE tenant = 'demo' AND seq >= ?1", [(head - 2) as i64]).unwrap();
    assert_eq!(verify(&demo).0, Some(0), "a shorter chain still verifies on its own");
    let out = checked(&demo);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("its tail was removed"), "{}", stderr(&out));

    let forged = std::fs::read_to_string(anchor).unwrap().replace(&format!("\"seq\":{head}"), "\"seq\":1");
    std::fs::write(anchor, forged).unwrap();
    assert!(stderr(&checked(&demo)).contains("its signature does not verify"));
}

/// Someone with write access to the file removes the oldest records and writes down, wherever a
/// store might look for it, that the chain starts where the records now start.
fn remove_prefix(demo: &Demo, first_kept: u64) {
    let conn = db(demo);
    let prev: String = conn
        .query_row("SELECT prev_hash FROM audit WHERE tenant = 'demo' AND seq = ?1", [first_kept as i64], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM audit WHERE tenant = 'demo' AND seq < ?1", [first_kept as i64]).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS audit_anchor (tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL)")
        .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO audit_anchor (tenant, seq, prev_hash) VALUES ('demo', ?1, ?2)",
        rusqlite::params![first_kept as i64, prev],
    )
    .unwrap();
}

#[test]
fn a_removed_prefix_is_shown_by_verify_and_by_a_checkpoint() {
    let demo = Demo::new();
    assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    let (secret, anchor) = take_checkpoints(&demo);
    let (secret, anchor) = (secret.as_str(), anchor.as_str());
    assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    let (code, text) = verify(&demo);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("records 1 to "), "verify names the first record it checked: {text}");

    remove_prefix(&demo, 5);
    let (code, text) = verify(&demo);
    assert_eq!(code, Some(1), "a chain that starts at record 5 is not whole: {text}");
    assert!(text.contains("starts at record 5"), "{text}");
    assert!(text.contains("--anchor"), "it says what would cover the start: {text}");
    let out = demo.provhost(&["audit", "verify", "--anchor", anchor, "--secret-file", secret]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("records 1 to 4 were removed"), "{}", stderr(&out));
}

#[test]
fn the_database_refuses_to_update_or_delete_audit_records() {
    let demo = Demo::new();
    let conn = Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    let err = conn.execute("UPDATE audit SET message = 'x' WHERE seq = 1", []).unwrap_err();
    assert!(err.to_string().contains("audit records are never updated"), "{err}");
    let err = conn.execute("DELETE FROM audit", []).unwrap_err();
    assert!(err.to_string().contains("audit records are never deleted"), "{err}");
}

#[test]
fn verify_finds_an_edited_record() {
    let demo = Demo::new();
    for _ in 0..3 {
        assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    }
    assert_eq!(verify(&demo).0, Some(0));
    let id = id_at(&demo, 5);
    db(&demo).execute("UPDATE audit SET decision = 'forbidden' WHERE tenant = 'demo' AND seq = 5", []).unwrap();
    let (code, text) = verify(&demo);
    assert_eq!(code, Some(1));
    assert!(text.contains(&format!("breaks at record 5 ({id}): its content does not match its hash")), "{text}");
}

#[test]
fn verify_finds_a_deleted_record() {
    let demo = Demo::new();
    for _ in 0..3 {
        assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    }
    let next = id_at(&demo, 8);
    db(&demo).execute("DELETE FROM audit WHERE tenant = 'demo' AND seq = 7", []).unwrap();
    let (code, text) = verify(&demo);
    assert_eq!(code, Some(1));
    assert!(text.contains(&format!("breaks at record 8 ({next}): expected record 7 here")), "{text}");
}

#[test]
fn verify_finds_two_swapped_records() {
    let demo = Demo::new();
    for _ in 0..3 {
        assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    }
    let first = id_at(&demo, 4);
    let conn = db(&demo);
    conn.execute_batch(
        "UPDATE audit SET seq = -4 WHERE tenant = 'demo' AND seq = 4;
         UPDATE audit SET seq = 4 WHERE tenant = 'demo' AND seq = 9;
         UPDATE audit SET seq = 9 WHERE tenant = 'demo' AND seq = -4;",
    )
    .unwrap();
    let (code, text) = verify(&demo);
    assert_eq!(code, Some(1));
    assert!(text.contains("breaks at record 4 ("), "{text}");
    assert!(!text.contains(&first), "the record now in place 4 is the one from place 9: {text}");
}

#[test]
fn an_exported_chain_imports_into_an_archive_and_verifies() {
    let demo = Demo::new();
    for _ in 0..3 {
        assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    }
    let export = demo.provhost(&["audit", "export", "--tenant", "demo"]);
    assert!(export.status.success());
    let file = demo.dir.path().join("demo-audit.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let lines = String::from_utf8_lossy(&export.stdout).lines().count();
    assert_eq!(lines, records(&demo, &["--tenant", "demo"]).len());

    let out = demo.provhost(&["audit", "verify", "--file", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("records 1 to {lines} in")), "{}", stderr(&out));

    let archive = tempfile::tempdir().unwrap();
    let provhost = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_provhost"))
            .arg("--data-dir")
            .arg(archive.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = provhost(&["audit", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let imported = format!("imported {lines} audit records");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&imported), "{}", String::from_utf8_lossy(&out.stdout));
    let out = provhost(&["audit", "verify", "--tenant", "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = provhost(&["audit", "import", file.to_str().unwrap()]);
    assert!(stderr(&again).contains("does not continue tenant 'demo''s chain"), "{}", stderr(&again));

    // A range that starts inside the chain and runs to its end: records 10 to the last.
    assert!(lines > 10, "three runs make a chain longer than ten records: {lines}");
    let range = demo.provhost(&["audit", "export", "--tenant", "demo", "--from-seq", "10"]);
    assert!(range.status.success(), "{}", stderr(&range));
    let seqs: Vec<u64> = String::from_utf8_lossy(&range.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (10..=lines as u64).collect::<Vec<_>>(), "the range is records 10 to {lines}");
    let tail = demo.dir.path().join("tail.jsonl");
    std::fs::write(&tail, &range.stdout).unwrap();
    let later = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_provhost"))
            .arg("--data-dir")
            .arg(later.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = demo.provhost(&["audit", "verify", "--file", tail.to_str().unwrap()]);
    assert!(out.status.success(), "a range verifies on its own: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the first continues record 9 (hash"), "{}", stderr(&out));
    let out = run(&["audit", "import", tail.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let imported = format!("imported {} audit records", lines - 9);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&imported), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "an archive that starts at record 10 is not whole on its own");
    assert!(stderr(&out).contains("records 10 to "), "{}", stderr(&out));
    assert!(stderr(&out).contains("the chain starts at record 10: records 1 to 9 are not in this store"));

    // The operator vouches for the archive's start once, right after importing it.
    let secret = later.path().join("anchor.secret");
    std::fs::write(&secret, "an operator's own secret, kept elsewhere").unwrap();
    let secret = secret.to_str().unwrap();
    let refused = run(&["audit", "anchor", "--secret-file", secret]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--starts-at 10"), "{}", stderr(&refused));
    let signed = run(&["audit", "anchor", "--secret-file", secret, "--tenant", "demo", "--starts-at", "10"]);
    assert!(signed.status.success(), "{}", stderr(&signed));
    let checkpoints = later.path().join("checkpoints.jsonl");
    std::fs::write(&checkpoints, &signed.stdout).unwrap();
    let out = run(&["audit", "verify", "--anchor", checkpoints.to_str().unwrap(), "--secret-file", secret]);
    assert!(out.status.success(), "a checkpoint taken of the archive covers its start: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("as a checkpoint taken of it says"));

    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replacen("\"decision\":\"allowed\"", "\"decision\":\"forbidden\"", 1);
    std::fs::write(&file, text).unwrap();
    let out = demo.provhost(&["audit", "verify", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("its content does not match its hash"), "{}", stderr(&out));
}

#[test]
fn list_filters_and_formats() {
    let demo = Demo::new();
    demo.run("propagate-mail", &mail_changed(), &[]);
    let jsonl = demo.provhost(&["audit", "list", "--person", JAN, "--format", "jsonl"]);
    let lines: Vec<Value> =
        String::from_utf8_lossy(&jsonl.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let about_jan = |r: &Value| {
        r["person"] == JAN || r["details"]["refs"]["persons"].as_array().is_some_and(|p| p.contains(&JAN.into()))
    };
    assert!(!lines.is_empty() && lines.iter().all(about_jan), "{lines:#?}");
    let table = String::from_utf8_lossy(&demo.provhost(&["audit", "list", "--kind", "invocation"]).stdout).into_owned();
    assert!(table.starts_with("SEQ") && table.lines().count() == 3, "{table}");
    let none = records(&demo, &["--since", "2999-01-01T00:00:00Z"]);
    assert!(none.is_empty());
}

/// Recomputes an exported chain the way docs/audit.md tells a third party to, with Python's
/// standard library instead of provhost: each record without its `hash`, in RFC 8785 form (keys
/// sorted, no whitespace, UTF-8), hashed with SHA-256, and each `prev_hash` the hash before it.
#[test]
fn an_export_recomputes_outside_provhost_with_any_jcs_and_sha256() {
    let demo = Demo::new();
    assert!(demo.run("propagate-mail", &mail_changed(), &[]).status.success());
    let export = demo.provhost(&["audit", "export", "--tenant", "demo"]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(export.stderr.is_empty(), "no progress bar when standard error is not a terminal: {}", stderr(&export));
    let quiet = demo.provhost(&["--quiet", "audit", "export", "--tenant", "demo"]);
    assert_eq!(quiet.stdout, export.stdout, "--quiet changes nothing but the terminal's progress bar");
    let file = demo.dir.path().join("export.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let script = r#"
import hashlib, json, sys
prev, checked = "0" * 64, 0
for line in open(sys.argv[1], encoding="utf-8"):
    record = json.loads(line)
    if record.get("format", 1) < 2:
        continue
    claimed = record.pop("hash")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    actual = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert actual == claimed, (record["seq"], actual, claimed)
    assert record["prev_hash"] == prev or checked == 0, record["seq"]
    prev, checked = claimed, checked + 1
print(checked)
"#;
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&file).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checked: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(checked >= 4, "every record of the run recomputes: {checked}");
}
