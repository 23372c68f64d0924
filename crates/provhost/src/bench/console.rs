//! The console's pages with 100,000 actions in the store: a real server in process, signed in
//! through the console's form, each page asked for repeatedly and timed from request to the last
//! byte of its answer.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::audit::{ChainStart, Checkpoint, InvocationRecord};
use crate::config::Config;
use crate::model::{Action, ActionFilter, ActionKind, ActionState, new_id, rfc3339};
use crate::runtime::Runtime;
use crate::server::{AppState, serve};
use crate::store::{DEMO_TENANT, IssuedKey, Store, seed_demo};

/// Actions in the store.
pub const ACTIONS: usize = 100_000;

/// Actions committed per invocation while seeding.
const PER_INVOCATION: usize = 1_000;

/// Persons the seeded actions are spread over.
const PERSONS: usize = 5_000;

/// One page's figures.
pub struct PageFigures {
    /// What was asked for.
    pub page: &'static str,
    /// The median time to the answer's last byte, in ms.
    pub median_ms: f64,
    /// The slowest, in ms.
    pub max_ms: f64,
}

/// What the pages are timed on: a demo person with a page, and one action of the many.
struct Seeded {
    /// The demo person's id.
    person: String,
    /// An action's id.
    action: String,
}

/// Seeds [`ACTIONS`] actions over [`PERSONS`] persons (every 50th is a demo person's, who has a
/// page), a minute apart, from invocations of two plugins; a tenth of them failed.
fn seed(store: &dyn Store) -> anyhow::Result<Seeded> {
    seed_demo(store)?;
    let template = store.actions(DEMO_TENANT, &ActionFilter::default(), 1)?.remove(0);
    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(ACTIONS as i64);
    let mut last = String::new();
    for batch in 0..ACTIONS / PER_INVOCATION {
        let invocation = new_id();
        let plugin = if batch % 2 == 0 { "propagate-mail" } else { "sync-groups" };
        let actions: Vec<Action> = (0..PER_INVOCATION)
            .map(|i| {
                let n = batch * PER_INVOCATION + i;
                let at = rfc3339(start + time::Duration::minutes(n as i64));
                Action {
                    id: new_id(),
                    person: if n.is_multiple_of(50) {
                        template.person.clone()
                    } else {
                        format!("person-{}", n % PERSONS)
                    },
                    kind: [ActionKind::Update, ActionKind::Grant][n % 2],
                    state: if n.is_multiple_of(10) { ActionState::Error } else { ActionState::Success },
                    invocation: Some(invocation.clone()),
                    retry_of: None,
                    created_at: at.clone(),
                    updated_at: at,
                    ..template.clone()
                }
            })
            .collect();
        last = actions[PER_INVOCATION / 2].id.clone();
        store.commit_invocation(&InvocationRecord::history(&invocation, DEMO_TENANT, plugin, "bench"), &actions)?;
    }
    Ok(Seeded { person: template.person, action: last })
}

/// The token of `name="csrf"` in a page.
fn csrf(page: &str) -> anyhow::Result<String> {
    let marker = r#"name="csrf" value=""#;
    let at = page.find(marker).ok_or_else(|| anyhow::anyhow!("the sign-in page has no CSRF field"))?;
    let rest = &page[at + marker.len()..];
    Ok(rest[..rest.find('"').unwrap_or(0)].to_owned())
}

/// The `name=value` of the cookie a response sets.
fn cookie(response: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {name} cookie was set"))
}

/// Times each console page `rounds` times over a store of [`ACTIONS`] actions in `dir`.
pub fn run(dir: &Path, rounds: usize) -> anyhow::Result<Vec<PageFigures>> {
    let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(&dir.join("provhost.db"))?);
    let Seeded { person, action } = seed(&*store)?;
    let system = store.action(DEMO_TENANT, &action)?.system;
    let head = store.audit_head(DEMO_TENANT)?.ok_or_else(|| anyhow::anyhow!("the seed wrote no audit record"))?;
    let at = crate::model::now_rfc3339();
    let checkpoint = Checkpoint::sign(b"the bench's own secret", DEMO_TENANT, ChainStart::genesis(), head, &at);
    store.record_checkpoint(&checkpoint, "provhost bench")?;
    let IssuedKey { record: key, secret } =
        store.create_key(DEMO_TENANT, &crate::policy::Grants::everything(), "bench", None)?;
    let config = Arc::new(Config::parse(Path::new("bench.toml"), "[tenants.demo]\n")?);
    let runtime = Arc::new(Runtime::new(dir.join("cache"))?);
    let state = Arc::new(AppState::new(store, runtime, config)?);
    let since = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let pages: Vec<(&'static str, String)> = vec![
        ("actions, newest first", "/console/actions".into()),
        ("actions of one person", format!("/console/actions?person={person}")),
        ("actions in error", "/console/actions?state=error".into()),
        ("actions of one system", format!("/console/actions?system={system}")),
        ("actions of one plugin and kind", "/console/actions?plugin=sync-groups&kind=grant".into()),
        ("actions of the last week", format!("/console/actions?since={since}")),
        ("actions, page 100 (offset 4,950)", "/console/actions?offset=4950".into()),
        ("one action with its history and audit records", format!("/console/actions/{action}")),
        ("a person with recent actions", format!("/console/persons/{person}")),
        ("overview (health)", "/console".into()),
        ("audit trail with the last checkpoint", "/console/audit".into()),
    ];
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let form = client.get(format!("{base}/console/signin")).send().await?;
        let form_cookie = cookie(&form, "provhost_console_signin")?;
        let token = csrf(&form.text().await?)?;
        let signed = client
            .post(format!("{base}/console/signin"))
            .header("cookie", form_cookie)
            .form(&[("csrf", token.as_str()), ("key_id", key.id.as_str()), ("secret", secret.as_str())])
            .send()
            .await?;
        let session = cookie(&signed, "provhost_console")?;
        let mut figures = Vec::new();
        for (page, path) in pages {
            let mut times = Vec::new();
            for _ in 0..rounds {
                let sent = Instant::now();
                let answer = client.get(format!("{base}{path}")).header("cookie", &session).send().await?;
                let status = answer.status();
                let _ = answer.bytes().await?;
                anyhow::ensure!(status.is_success(), "{path} answered {status}");
                times.push(sent.elapsed());
            }
            let max_ms = times.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3;
            figures.push(PageFigures { page, median_ms: super::median_us(&mut times) / 1e3, max_ms });
        }
        let _ = stop.send(());
        server.await??;
        anyhow::Ok(figures)
    })
}

/// Rounds per page.
pub const ROUNDS: usize = 20;
