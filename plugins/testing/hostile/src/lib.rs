//! A plugin that attacks the host as a hostile tenant's plugin would, chosen by the `mode`
//! setting, so that tests can show the host holds: the deadline cuts it off wherever it blocks,
//! every byte it hands the host is bounded, nothing commits unless it returns `ok`, and it can
//! reach no file, socket or environment variable.
//!
//! Modes: `sleep` (a 120 s sleep in WASI), `poll-forever` (a poll on a pollable that never
//! resolves), `recurse` (unbounded recursion), `huge-id`, `huge-reason`, `huge-summary`,
//! `huge-err`, `note-flood`, `log-flood` (50–60 MB handed to the host in various ways), `abort`,
//! `exit` (a successful `exit(0)` after planning), `alloc-fail` (an allocation the memory cap
//! refuses), `fs`, `env` (reports what it could reach), `net` (dials the
//! address in the `target` setting and reports how that went), `foreign-id` and `sql-id` (act on
//! the id in the `target` setting), `over-budget` (plans past every budget, then returns `ok`),
//! `refused-flood` (plans, then calls `list-actions` with a 300-byte person id, refused every
//! time, in a loop for 4 s, then returns `ok`), `hoard-resources` (creates `count` WASI pollables,
//! default a million, and keeps them in a global for later events) and `cache-person` (reads the
//! event's person and keeps it in a global; reports what an earlier event of the instance read).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use provhost_sdk::{
    AccountId, ActionFilter, ActionId, AttributeChanged, Outcome, PersonId, Plugin, actions, log, queries,
    register_plugin, settings,
};

thread_local! {
    /// Pollables kept from every event this instance served.
    static HOARD: RefCell<Vec<wasi::io::poll::Pollable>> = const { RefCell::new(Vec::new()) };
    /// The last person an event of this instance could read.
    static CACHED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Calls `list-actions` with an oversized person id until `length` has passed; how many calls
/// were made and how many were refused.
fn refused_calls_for(length: Duration) -> (u64, u64) {
    let filter = ActionFilter { person: Some("P".repeat(300)), state: None, system: None };
    let started = Instant::now();
    let (mut calls, mut refused) = (0, 0);
    while started.elapsed() < length {
        calls += 1;
        if queries::list_actions(&filter, 500).is_err() {
            refused += 1;
        }
    }
    (calls, refused)
}

/// Fifty megabytes of one letter: what a hostile plugin hands the host.
fn huge() -> String {
    "A".repeat(50 << 20)
}

/// Recurses until the stack runs out (the bound is never reached).
fn recurse(depth: u64, trail: &mut Vec<u64>) -> u64 {
    trail.push(depth);
    if std::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    let below = recurse(depth + 1, trail);
    std::hint::black_box(below + depth)
}

struct Hostile;

impl Plugin for Hostile {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        let person = PersonId::from(event.person.as_str());
        let target = settings::get("target").unwrap_or_default();
        let plan_all = |reason: &str| actions::update_all_accounts(&person, reason).map_err(|e| format!("{e:?}"));
        match settings::get("mode").as_deref() {
            Some("sleep") => {
                plan_all("before sleeping")?;
                std::thread::sleep(std::time::Duration::from_secs(120));
                Ok(Outcome::new("woke up"))
            }
            Some("poll-forever") => {
                plan_all("before polling")?;
                let never = wasi::clocks::monotonic_clock::subscribe_duration(u64::MAX);
                wasi::io::poll::poll(&[&never]);
                Ok(Outcome::new("the pollable resolved"))
            }
            Some("recurse") => Ok(Outcome::new(format!("depth {}", recurse(0, &mut Vec::new())))),
            Some("huge-id") => {
                let refused = actions::update_all_accounts(&PersonId::from(huge().as_str()), "x");
                Err(format!("a 50 MB id was answered {refused:?}").chars().take(300).collect())
            }
            Some("huge-reason") => {
                let refused = actions::update_all_accounts(&person, &huge());
                Err(format!("a 50 MB reason was answered {refused:?}"))
            }
            Some("huge-summary") => {
                plan_all("before a huge summary")?;
                Ok(Outcome::new("S".repeat(60 << 20)))
            }
            Some("huge-err") => Err("E".repeat(60 << 20)),
            Some("note-flood") => {
                plan_all("before the notes")?;
                let note = "N".repeat(1 << 20);
                for _ in 0..1000 {
                    log::audit_note(None, &note, false);
                }
                Ok(Outcome::new("every note was taken"))
            }
            Some("log-flood") => {
                let line = "L".repeat(1 << 20);
                for _ in 0..200 {
                    log::write(log::Level::Info, &line);
                }
                plan_all("after the log flood")?;
                Ok(Outcome::new("logged 200 MiB"))
            }
            Some("abort") => {
                plan_all("before abort")?;
                std::process::abort()
            }
            Some("exit") => {
                plan_all("before exit")?;
                std::process::exit(0)
            }
            Some("alloc-fail") => {
                plan_all("before the allocation")?;
                let hoard: Vec<u8> = Vec::with_capacity(1536 << 20);
                Ok(Outcome::new(format!("allocated {}", hoard.capacity())))
            }
            Some("fs") => {
                let tried = ["/etc/passwd", ".", "/"].map(|p| match std::fs::read_dir(p) {
                    Ok(_) => format!("{p}: readable"),
                    Err(e) => format!("{p}: {e}"),
                });
                let file =
                    std::fs::write("escape.txt", "x").map_or_else(|e| format!("write: {e}"), |_| "write: ok".into());
                Ok(Outcome::new(format!("fs: {} | {file}", tried.join(" | "))))
            }
            Some("net") => {
                let tried = match std::net::TcpStream::connect(target.as_str()) {
                    Ok(_) => "connected".to_string(),
                    Err(e) => format!("{:?}: {e}", e.kind()),
                };
                Ok(Outcome::new(format!("net: {target}: {tried}")))
            }
            Some("env") => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args = std::env::args().count();
                Ok(Outcome::new(format!("env: {} variables [{}], {args} arguments", vars.len(), vars.join(","))))
            }
            Some("foreign-id") | Some("sql-id") => {
                let account = actions::update_account(&person, &AccountId::from(target.as_str()), "foreign");
                let retry = actions::retry_action(&ActionId::from(target.as_str()), "foreign");
                let other = actions::update_all_accounts(&PersonId::from(target.as_str()), "foreign");
                Ok(Outcome::new(format!("account: {account:?} | retry: {retry:?} | person: {other:?}")))
            }
            Some("over-budget") => {
                let mut planned = 0;
                for i in 0..100_000 {
                    match actions::update_all_accounts(&person, &format!("attempt {i}")) {
                        Ok(receipts) => planned += receipts.len(),
                        Err(_) => break,
                    }
                    let _ = actions::retry_action(&ActionId::from(format!("a{i}").as_str()), "again");
                }
                Ok(Outcome::new(format!("planned {planned}")))
            }
            Some("refused-flood") => {
                plan_all("before the flood")?;
                let (calls, refused) = refused_calls_for(Duration::from_secs(4));
                Ok(Outcome::new(format!("{calls} calls, {refused} refused")))
            }
            Some("hoard-resources") => {
                let count: usize = settings::get("count").and_then(|c| c.parse().ok()).unwrap_or(1_000_000);
                let before = HOARD.with_borrow(Vec::len);
                for _ in 0..count {
                    let pollable = wasi::clocks::monotonic_clock::subscribe_duration(u64::MAX);
                    HOARD.with_borrow_mut(|hoard| hoard.push(pollable));
                }
                Ok(Outcome::new(format!("held {before} from earlier events, now {}", HOARD.with_borrow(Vec::len))))
            }
            Some("cache-person") => {
                let earlier = CACHED.with_borrow(Clone::clone).unwrap_or_else(|| "nothing".into());
                let read = match queries::get_person(&person) {
                    Ok(found) => {
                        let mail = found.attribute("mail").join(",");
                        CACHED.set(Some(format!("{} <{mail}>", found.display_name())));
                        "read".to_string()
                    }
                    Err(e) => format!("refused {e:?}"),
                };
                Ok(Outcome::new(format!("now: {read}; an earlier event read: {earlier}")))
            }
            Some(other) => Err(format!("unknown mode '{other}'")),
            None => Ok(Outcome::new("no mode set; did nothing")),
        }
    }
}

register_plugin!(Hostile);
