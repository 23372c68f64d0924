//! Two real `provhost serve` processes on one PostgreSQL database, each test in a database of its
//! own: concurrent targeted updates split across both hosts never overrun a window and are each
//! carried out once, a count threshold blocks its whole kind on both, an `Idempotency-Key` is
//! answered once whichever host it reaches, a blocked action approved on both hosts is decided by
//! one, and a host killed mid-load leaves its claims to the other, which carries them out after
//! the lease. Skipped, loudly, when `PROVHOST_TEST_POSTGRES` names no server.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use support::server::{Receiver, Server};
use support::{Demo, JAN, stderr};

/// The demo tenant's share raised so that neither host refuses a change for being busy: the
/// refusals these tests count are the governance's own.
const ROOMY: &str = "[tenants.demo.share]\nmax-concurrent-events = 192\nevents-per-second = 1000000\nburst = 1000000\n";

/// How many requests each host has in flight at once.
const PER_HOST: usize = 24;

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(PER_HOST).build().unwrap()
}

fn auth(request: RequestBuilder, key: &str) -> RequestBuilder {
    let (id, secret) = key.split_once(':').unwrap();
    request.basic_auth(id, Some(secret))
}

/// The status and JSON body of an answer, or `None` when the host could not be reached.
fn send(request: RequestBuilder) -> Option<(u16, Value)> {
    let response = request.send().ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().unwrap_or(Value::Null)))
}

/// The demo on a fresh PostgreSQL database under `policy`, served by two hosts with `flags`.
fn two_hosts(policy: &str, flags: &[&str]) -> Option<(Demo, [Server; 2], postgres::Client)> {
    let mut demo = Demo::on_postgres()?;
    demo.configure(&format!("{ROOMY}[tenants.demo]\n{policy}"));
    let hosts = [Server::start(&demo, flags), Server::start(&demo, flags)];
    let db = postgres::Client::connect(demo.store().unwrap(), postgres::NoTls).expect("reaching the test database");
    Some((demo, hosts, db))
}

/// Jan's Exchange Online account.
fn exchange_account(host: &Server, key: &str) -> String {
    let (_, accounts) = send(auth(client().get(host.url(&format!("/v1/persons/{JAN}/accounts"))), key)).unwrap();
    accounts["items"].as_array().unwrap().iter().find(|a| a["system"] == "exchange-online").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends `total` POSTs to `path`, split evenly across `hosts`, [`PER_HOST`] at once on each;
/// `after` is called with the running count of answers. Returns every answer, `None` for a request
/// its host never answered.
fn load(
    hosts: &[&Server],
    key: &str,
    path: &str,
    total: usize,
    after: &(dyn Fn(usize) + Sync),
) -> Vec<Option<(u16, Value)>> {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let workers = hosts.len() * PER_HOST;
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..workers)
            .map(|worker| {
                let (host, answered) = (hosts[worker % hosts.len()], &answered);
                scope.spawn(move || {
                    let client = client();
                    (worker..total)
                        .step_by(workers)
                        .map(|n| {
                            let request = auth(client.post(host.url(path)), key)
                                .json(&json!({"reason": format!("scale-out change {n}")}));
                            let answer = send(request);
                            after(answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
                            answer
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        running.into_iter().flat_map(|r| r.join().unwrap()).collect()
    })
}

/// `ask` of both hosts at once; their answers.
fn on_both<T: Send>(hosts: [&Server; 2], ask: impl Fn(&Server) -> T + Sync) -> [T; 2] {
    std::thread::scope(|scope| hosts.map(|host| scope.spawn(|| ask(host))).map(|h| h.join().unwrap()))
}

/// The ids of the actions the accepted answers planned.
fn planned(answers: &[Option<(u16, Value)>]) -> Vec<String> {
    answers
        .iter()
        .flatten()
        .filter(|(status, _)| *status == 200)
        .flat_map(|(_, report)| {
            report["actions"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Waits until none of `ids` is pending, running or waiting (at most a minute); their states.
fn ended(db: &mut postgres::Client, ids: &[String]) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = db.query("SELECT id, state FROM actions WHERE tenant = 'demo' AND id = ANY($1)", &[&ids]).unwrap();
        let states: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let open = states.values().filter(|s| matches!(s.as_str(), "pending" | "running" | "waiting")).count();
        if open == 0 {
            return states;
        }
        assert!(Instant::now() < deadline, "{open} of {} actions still open after a minute", ids.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How often the executors' audit records moved each action into each state.
fn moves(db: &mut postgres::Client) -> HashMap<(String, String), usize> {
    let rows = db.query("SELECT details FROM audit WHERE tenant = 'demo' AND kind = 'action-state'", &[]).unwrap();
    let mut counted = HashMap::new();
    for row in rows {
        let details: Value = serde_json::from_str(row.get(0)).unwrap();
        for change in details["changes"].as_array().unwrap() {
            let key = (change["action"].as_str().unwrap().to_owned(), change["state"].as_str().unwrap().to_owned());
            *counted.entry(key).or_default() += 1;
        }
    }
    counted
}

/// Each of `ids` was claimed and ended exactly once, by one executor's records.
fn carried_out_once(db: &mut postgres::Client, ids: &[String]) {
    let moves = moves(db);
    for id in ids {
        let (claimed, succeeded) =
            (moves.get(&(id.clone(), "running".into())), moves.get(&(id.clone(), "success".into())));
        assert_eq!((claimed, succeeded), (Some(&1), Some(&1)), "action {id} is claimed once and succeeds once");
    }
}

/// Every action of the demo tenant.
fn action_ids(db: &mut postgres::Client) -> HashSet<String> {
    db.query("SELECT id FROM actions WHERE tenant = 'demo'", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Every queued notification is delivered, each by one host once.
fn delivered_once(db: &mut postgres::Client, receiver: &Receiver) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let queued = loop {
        let row =
            db.query_one("SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'delivered') FROM deliveries", &[]).unwrap();
        let (queued, delivered): (i64, i64) = (row.get(0), row.get(1));
        if queued == delivered {
            break queued as usize;
        }
        assert!(Instant::now() < deadline, "{delivered} of {queued} notifications delivered after a minute");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(queued > 0);
    let received = receiver.wait_for(queued, Duration::from_secs(30));
    let ids: HashSet<&str> = received.iter().map(|r| r.header("X-Provhost-Delivery").unwrap()).collect();
    assert_eq!((received.len(), ids.len()), (queued, queued), "each notification arrives once, from one host");
}

fn chain_verifies(demo: &Demo) {
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn a_window_split_across_two_hosts_admits_exactly_its_budget_and_each_action_runs_once() {
    let window = "[[tenants.demo.windows]]\nsystem = \"exchange-online\"\nkind = \"update\"\nmax = 500\nper = \"1h\"\n";
    let Some((demo, [a, b], mut db)) = two_hosts(window, &[]) else { return };
    let path = format!("/provisioning/persons/{JAN}/accounts/{}/update", exchange_account(&a, &demo.key));
    let answers = load(&[&a, &b], &demo.key, &path, 2000, &|_| {});
    let mut by_answer: HashMap<(u16, String), usize> = HashMap::new();
    for (status, body) in answers.iter().map(|a| a.as_ref().expect("both hosts answer every request")) {
        *by_answer.entry((*status, body["code"].as_str().unwrap_or("").to_owned())).or_default() += 1;
    }
    assert_eq!(
        by_answer,
        HashMap::from([((200, String::new()), 500), ((429, "threshold-exceeded".into()), 1500)]),
        "exactly the window's 500 are accepted, every other is refused"
    );
    let ids = planned(&answers);
    assert_eq!(ids.len(), 500);
    assert!(ended(&mut db, &ids).values().all(|s| s == "success"));
    carried_out_once(&mut db, &ids);
    let refused: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM audit WHERE tenant = 'demo' AND kind = 'invocation'
             AND decision IN ('threshold-exceeded', 'refused')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(refused, 1500, "every refusal has its record, at plan time or at the commit's re-check");
    chain_verifies(&demo);
}

#[test]
fn across_two_hosts_a_count_threshold_blocks_its_kind_a_key_is_answered_once_and_a_block_is_decided_once() {
    let receiver = Receiver::start(&[200]);
    let policy = format!(
        "[[tenants.demo.thresholds]]\nsystem = \"topdesk\"\nkind = \"update\"\ncount = 1\n\
         [[tenants.demo.webhooks]]\nurl = \"{}\"\nsecret = \"a-secret-of-twenty-chars\"\n",
        receiver.url
    );
    let Some((demo, [a, b], mut db)) = two_hosts(&policy, &[]) else { return };
    let answers = load(&[&a, &b], &demo.key, &format!("/provisioning/persons/{JAN}/accounts/update"), 200, &|_| {});
    assert!(answers.iter().all(|a| a.as_ref().map(|(s, _)| *s) == Some(200)), "every request is accepted");
    let ids = planned(&answers);
    let states = ended(&mut db, &ids);
    let topdesk: HashSet<String> = answers
        .iter()
        .flatten()
        .flat_map(|(_, r)| r["actions"].as_array().unwrap().clone())
        .filter(|a| a["system"] == "topdesk")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(topdesk.len(), 200);
    assert!(topdesk.iter().all(|id| states[id] == "blocked"), "every TOPdesk update is blocked, on both hosts");
    let others: Vec<String> = ids.iter().filter(|id| !topdesk.contains(*id)).cloned().collect();
    assert!(others.iter().all(|id| states[id] == "success"), "the other systems' updates go on");
    carried_out_once(&mut db, &others);
    delivered_once(&mut db, &receiver);

    // One blocked action approved on both hosts at once: one decides, the other answers 409.
    let blocked = topdesk.iter().next().unwrap().clone();
    let decided = on_both([&a, &b], |host| {
        send(auth(client().post(host.url(&format!("/v1/actions/{blocked}/approve"))), &demo.key)).unwrap().0
    });
    let mut sorted = decided;
    sorted.sort_unstable();
    assert_eq!(sorted, [200, 409], "one host decides the approval, the other answers 409: {decided:?}");
    ended(&mut db, std::slice::from_ref(&blocked));
    carried_out_once(&mut db, std::slice::from_ref(&blocked));

    // One Idempotency-Key sent to both hosts at once: one runs it, the other replays its answer.
    let path = format!("/provisioning/persons/{JAN}/accounts/{}/update", exchange_account(&a, &demo.key));
    let replies = on_both([&a, &b], |host| {
        loop {
            let request = auth(client().post(host.url(&path)), &demo.key).header("Idempotency-Key", "scale-out-1");
            let response = request.send().unwrap();
            if response.status() == 409 {
                std::thread::sleep(Duration::from_millis(20)); // the other host still runs it
                continue;
            }
            assert_eq!(response.status(), 200);
            break (response.headers().contains_key("idempotent-replayed"), response.json::<Value>().unwrap());
        }
    });
    assert_eq!(replies.iter().filter(|(replayed, _)| !replayed).count(), 1, "the key is answered once");
    assert_eq!(replies[0].1, replies[1].1, "both get the same answer");
    let runs: i64 = db
        .query_one("SELECT COUNT(*) FROM requests WHERE tenant = 'demo' AND idempotency_key = 'scale-out-1'", &[])
        .unwrap()
        .get(0);
    assert_eq!(runs, 1);
    chain_verifies(&demo);
}

#[test]
fn a_host_killed_mid_load_leaves_its_claims_to_the_other_and_nothing_is_lost() {
    let Some((demo, [a, b], mut db)) = two_hosts("", &["--lease-ms", "1500"]) else { return };
    let before = action_ids(&mut db);
    let path = format!("/provisioning/persons/{JAN}/accounts/{}/update", exchange_account(&a, &demo.key));
    let owner = format!("{}-%", b.pid());
    let (killed, stranded) = (std::sync::OnceLock::new(), std::sync::Mutex::new(Vec::<String>::new()));
    let watch = postgres::Client::connect(demo.store().unwrap(), postgres::NoTls).unwrap();
    let watch = std::sync::Mutex::new(watch);
    // Once a third is answered, kill -9 the second host as soon as it holds claims.
    let kill_when_claimed = |answered: usize| {
        if answered < 200 || killed.get().is_some() {
            return;
        }
        let mut watch = watch.lock().unwrap();
        let holding = |c: &mut postgres::Client| -> Vec<String> {
            let rows =
                c.query("SELECT id FROM actions WHERE state = 'running' AND lease_owner LIKE $1", &[&owner]).unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        };
        let signal = |name: &str| {
            std::process::Command::new("kill").args([name, &b.pid().to_string()]).status().unwrap();
        };
        if killed.get().is_none() && !holding(&mut watch).is_empty() {
            // Frozen first, so that claims it ends in the meantime (a batch ends in milliseconds)
            // are not taken for stranded; killed only if it still holds some once frozen.
            signal("-STOP");
            std::thread::sleep(Duration::from_millis(100));
            let held = holding(&mut watch);
            if held.is_empty() {
                signal("-CONT");
                return;
            }
            signal("-KILL");
            killed.set(Instant::now()).unwrap();
            *stranded.lock().unwrap() = held;
        }
    };
    let answers = load(&[&a, &b], &demo.key, &path, 600, &kill_when_claimed);
    assert!(killed.get().is_some(), "the second host was killed while it held claims");
    let stranded = stranded.into_inner().unwrap();
    assert!(!stranded.is_empty(), "the killed host left claims behind");

    // Every action either host committed ends, whether or not its answer got out.
    let open: Vec<String> = action_ids(&mut db).difference(&before).cloned().collect();
    assert!(open.len() >= planned(&answers).len());
    let states = ended(&mut db, &open);
    assert!(states.values().all(|s| s == "success"), "nothing is lost: {states:?}");
    let moves = moves(&mut db);
    for id in &open {
        assert_eq!(moves.get(&(id.clone(), "success".into())), Some(&1), "action {id} ends once");
    }
    for id in &stranded {
        let shown = demo.provhost(&["actions", "show", id]);
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(text.contains("taken up again by executor"), "{id} is taken up by the other host: {text}");
        assert_eq!(moves.get(&(id.clone(), "running".into())), Some(&2), "claimed by the killed host, then the other");
    }
    chain_verifies(&demo);
    drop(b);
}

#[test]
fn a_commit_made_elsewhere_wakes_a_hosts_executor_without_waiting_for_its_poll() {
    let Some(demo) = Demo::on_postgres() else { return };
    // The host polls once a minute: only the commit's notification can wake it within the bound.
    let host = Server::start(&demo, &["--poll-ms", "60000"]);
    let mut db = postgres::Client::connect(demo.store().unwrap(), postgres::NoTls).unwrap();
    std::thread::sleep(Duration::from_millis(500)); // past the host's first round
    let out = demo.run("propagate-mail", &support::mail_changed(), &["--no-wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> =
        report["actions"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().into()).collect();
    assert!(!ids.is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = db.query("SELECT state FROM actions WHERE id = ANY($1)", &[&ids]).unwrap();
        if rows.iter().all(|r| r.get::<_, &str>(0) == "success") {
            break;
        }
        assert!(Instant::now() < deadline, "the host's executor was not woken by the commit");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(host);
}
