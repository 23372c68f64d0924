//! The HTTP service: events in (provhost's own and SailPoint's trigger payloads), the five
//! targeted provisioning endpoints, reads, approvals, the audit trail, webhook deliveries,
//! health, metrics and the OpenAPI document. Governance, plan-then-commit and audit are the same
//! code as on the command line.

mod admission;
mod answers;
mod auth;
mod blocking;
mod body;
mod console;
mod decisions;
mod directory;
mod document;
mod events;
mod idempotency;
mod ids;
mod keyed;
mod listener;
mod metrics;
mod ops;
mod problem;
mod provisioning;
mod reads;
mod replay;
mod routes;
mod upkeep;
mod write_deadline;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use tokio::net::TcpListener;

use crate::api::ActionSummary;
use crate::config::Config;
use crate::executor::{Executor, Tenants};
use crate::gate::TenantContext;
use crate::model::{Action, ActionState};
use crate::runtime::Runtime;
use crate::store::{DEMO_TENANT, KeyRecord, Listening, Queued, Store, Wake};
use crate::tenant::Tenant;

pub use metrics::Metrics;
pub use routes::json as openapi;

/// How the service treats connections, request bodies and anonymous callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a client may take to send a request's headers (and how long a connection may
    /// sit idle before its next request) before the connection is closed.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body, whole, before it is answered 408.
    pub body_timeout: Duration,
    /// How long a write of an answer may make no progress (the client reads none of it) before
    /// the connection is cut and what the answer held is let go.
    pub write_timeout: Duration,
    /// Serve `/metrics` without a key, with no tenant or plugin label (an operator's choice for
    /// a scraper that cannot send one). Otherwise it takes a key granted `metrics:read`.
    pub anonymous_metrics: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            anonymous_metrics: false,
        }
    }
}

/// What every request handler shares.
pub struct AppState {
    /// The embedded store.
    pub store: Arc<dyn Store>,
    /// The wasm runtime.
    pub runtime: Arc<Runtime>,
    /// The tenant configuration.
    pub config: Arc<Config>,
    /// Each configured tenant, wired once, with its installed plugins.
    tenants: BTreeMap<String, Arc<Tenant>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Background work (asynchronous events) still running.
    in_flight: AtomicUsize,
    /// Each tenant's share of the host, and the host's capacity.
    admission: admission::Admission,
    /// Carries out committed actions: the worker after each answer, approvals at once.
    pub executor: Arc<Executor>,
    /// Wakes the executor's worker after a commit.
    wake: Arc<tokio::sync::Notify>,
    /// Bumped each time the worker ends actions; callers that wait for theirs watch it.
    progress: tokio::sync::watch::Sender<u64>,
    /// Connections, bodies and anonymous callers.
    pub http: HttpSettings,
}

impl AppState {
    /// Wires every configured tenant and loads its plugins, refusing to start on one that fails
    /// to load.
    pub fn new(store: Arc<dyn Store>, runtime: Arc<Runtime>, config: Arc<Config>) -> anyhow::Result<Self> {
        let mut tenants = BTreeMap::new();
        for (id, tc) in &config.tenants {
            let mut tenant = Tenant::configured(id, tc, &store)?;
            tenant.install_all(&runtime, tc, &config.limits)?;
            tenants.insert(id.clone(), Arc::new(tenant));
        }
        let admission = admission::Admission::new(&config);
        Ok(Self {
            tenants,
            store,
            runtime,
            config,
            metrics: Metrics::default(),
            in_flight: AtomicUsize::new(0),
            admission,
            executor: Arc::new(Executor::new(crate::executor::DEFAULT_LEASE)),
            wake: Arc::default(),
            progress: tokio::sync::watch::Sender::new(0),
            http: HttpSettings::default(),
        })
    }

    /// Has the executor's worker look for work now (a plan was just committed).
    pub fn wake_executor(&self) {
        self.wake.notify_one();
    }

    /// Waits until none of the actions `summaries` show (of `tenant`) is `pending` or `running`
    /// any more, or `wait` passes, and shows them as they stand then. Actions that were never
    /// committed (a dry run) are left as they are.
    pub async fn settle(self: &Arc<Self>, tenant: &str, summaries: Vec<&mut ActionSummary>, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut progress = self.progress.subscribe();
        let ids: Vec<String> = summaries.iter().map(|s| s.id.clone()).collect();
        loop {
            let (app, tenant, ids) = (self.clone(), tenant.to_owned(), ids.clone());
            let now: Vec<Action> = blocking::off_worker(move || {
                Ok(ids.iter().filter_map(|id| app.store.action(&tenant, id).ok()).collect())
            })
            .await
            .unwrap_or_default();
            let open = now.iter().any(|a| matches!(a.state, ActionState::Pending | ActionState::Running));
            if !open || tokio::time::timeout_at(deadline, progress.changed()).await.is_err() {
                for summary in summaries {
                    if let Some(action) = now.iter().find(|a| a.id == summary.id) {
                        *summary = ActionSummary::from(action);
                    }
                }
                return;
            }
        }
    }

    /// A tenant as wired at start; one the configuration does not name (only the demo tenant,
    /// without a configuration file) has the embedded store, no policy, no webhooks and no
    /// plugins.
    pub fn tenant(&self, id: &str) -> Arc<Tenant> {
        self.tenants.get(id).cloned().unwrap_or_else(|| Arc::new(Tenant::unconfigured(id, &self.store)))
    }

    /// The tenants the executor's worker carries out actions for: those of the configuration
    /// file, and only those; without a file, only the embedded demo tenant. Any other tenant's
    /// actions wait, with the reason.
    fn served(self: &Arc<Self>) -> Tenants {
        let (listed, wired) = (self.clone(), self.clone());
        Tenants {
            roster: Arc::new(move || match &listed.config.source {
                Some(_) => Ok(listed.config.tenants.keys().cloned().collect()),
                None => Ok(listed.store.tenant_ids()?.into_iter().filter(|id| id == DEMO_TENANT).collect()),
            }),
            wire: Arc::new(move |id: &str| {
                wired.config.admit_served(id).map_err(|e| e.to_string())?;
                Ok(wired.tenant(id))
            }),
        }
    }

    /// The context of a targeted request or read for `key`: its tenant and grants, with no plugin.
    pub fn context(&self, key: &KeyRecord) -> Arc<TenantContext> {
        self.tenant(&key.tenant).request_context(key.into(), "api")
    }

    /// Marks background work as started; dropping the guard marks it done.
    fn track(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// Background work in progress.
struct InFlight(Arc<AppState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The router with every route of the route table (`routes`), timed, with problems for unknown
/// routes and methods, bodies bounded and panics answered.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.http.max_body;
    let (routes, _) = routes::table().split_for_parts();
    routes
        .merge(console::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::timed))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(ops::panicked))
        .layer(Extension(state.clone()))
        .with_state(state)
}

/// Has the store wake this host's executor and webhook sender (`deliveries`) whenever a commit on
/// any host queues work. Without it (a store that cannot tell, or one whose listening failed,
/// said in the log) both keep to their poll.
async fn listen_for_work(state: &AppState, deliveries: Arc<tokio::sync::Notify>) -> Option<Listening> {
    let (store, actions) = (state.store.clone(), state.wake.clone());
    let wake: Wake = Box::new(move |queued| match queued {
        Queued::Actions => actions.notify_one(),
        Queued::Deliveries => deliveries.notify_one(),
    });
    match tokio::task::spawn_blocking(move || store.listen_for_work(wake)).await {
        Ok(Ok(listening)) => listening,
        Ok(Err(e)) => {
            tracing::warn!("other hosts' commits are found by the poll alone: cannot listen for them: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("other hosts' commits are found by the poll alone: listening for them panicked: {e}");
            None
        }
    }
}

/// Serves until `shutdown` resolves; then stops accepting, lets requests in flight and
/// background events finish (each either commits or leaves nothing), and stops the webhook
/// worker, the executor and the upkeep.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = state.store.clone();
    let store_upkeep = tokio::task::spawn_blocking(move || store.upkeep_in_background(Duration::from_secs(1)))
        .await
        .map_err(|e| anyhow::anyhow!("starting the store's upkeep failed: {e}"))??;
    let deliveries_due = Arc::new(tokio::sync::Notify::new());
    let listening = listen_for_work(&state, deliveries_due.clone()).await;
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(crate::webhook::run_worker(
        state.store.clone(),
        state.config.clone(),
        deliveries_due,
        worker_stop.clone(),
    ));
    let upkeep = tokio::spawn(upkeep::forget_requests(
        state.store.clone(),
        upkeep::FORGET_EVERY,
        upkeep::KEEP_REQUESTS,
        worker_stop.clone(),
    ));
    let log = tokio::spawn(upkeep::truncate_log(state.store.clone(), upkeep::TRUNCATE_LOG_EVERY, worker_stop.clone()));
    // Every tenant, keeping or not: one that stopped keeping events forgets those it kept.
    let kept_for = state.config.tenants.iter().map(|(id, t)| (id.clone(), t.retention.keep_for)).collect();
    let kept = tokio::spawn(upkeep::purge_kept_events(
        state.store.clone(),
        kept_for,
        upkeep::FORGET_EVERY,
        worker_stop.clone(),
    ));
    let idle_for = Duration::from_millis(state.config.capacity.warm_idle_ms);
    let warm = tokio::spawn(upkeep::evict_idle(state.runtime.clone(), idle_for, worker_stop.clone()));
    let executor = tokio::spawn(state.executor.clone().work(
        state.store.clone(),
        state.served(),
        state.wake.clone(),
        state.progress.clone(),
        worker_stop,
    ));
    let (header_timeout, write_timeout) = (state.http.header_timeout, state.http.write_timeout);
    listener::serve_connections(listener, router(state.clone()), header_timeout, write_timeout, shutdown).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while state.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_worker.send(true);
    let _ = worker.await;
    let _ = upkeep.await;
    let _ = log.await;
    let _ = kept.await;
    let _ = warm.await;
    let _ = executor.await;
    // The last checkpoint writes the log into the database; off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop((store_upkeep, listening))).await;
    Ok(())
}
