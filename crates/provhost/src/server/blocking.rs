//! Work that blocks — every store call, a platform's read, a plugin's run — runs on tokio's
//! blocking pool, never on an async worker: a commit that waits for the disk (or for another
//! writer) then holds only its own thread, and health checks, reads and other tenants' requests
//! go on being answered meanwhile.

use super::AppState;
use super::problem::Problem;
use crate::store::Store;

/// Runs `work` on the blocking pool, in the current span, and answers its result; a panic in it
/// is logged and answered 500.
pub async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .unwrap_or_else(|e| Err(Problem::internal(format!("a blocking task failed: {e}"))))
}

/// Runs `work` on the store, on the blocking pool, once it has its turn among the work no
/// tenant's share is taken for: key checks and readiness probes.
pub async fn in_turn<T: Send + 'static>(
    app: &AppState,
    work: impl FnOnce(&dyn Store) -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let (turn, store) = (app.admission.unattributed().await, app.store.clone());
    off_worker(move || {
        let _turn = turn;
        work(&*store)
    })
    .await
}
