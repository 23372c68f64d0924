//! `provhost serve`: the HTTP API on tokio, until SIGTERM or Ctrl-C; and
//! `provhost deliver-webhooks` for a single delivery pass without a server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::DataDir;
use crate::executor::Executor;
use crate::runtime::Runtime;
use crate::server::{AppState, HttpSettings, serve};

/// Arguments of `provhost serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (`127.0.0.1:0` picks a free port, printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = HttpSettings::default().max_body)]
    max_body: usize,
    /// How long a client may take to send a request's headers, in milliseconds; a connection
    /// that sends none for this long is closed too.
    #[arg(long, default_value_t = HttpSettings::default().header_timeout.as_millis() as u64, value_name = "MS")]
    header_timeout_ms: u64,
    /// How long a client may take to send a request's body, whole, in milliseconds; past it the
    /// request is answered 408 and its connection closed.
    #[arg(long, default_value_t = HttpSettings::default().body_timeout.as_millis() as u64, value_name = "MS")]
    body_timeout_ms: u64,
    /// How long a write of an answer may make no progress, in milliseconds (the client reads
    /// none of it); past it the connection is cut and the request's place let go.
    #[arg(long, default_value_t = HttpSettings::default().write_timeout.as_millis() as u64, value_name = "MS")]
    write_timeout_ms: u64,
    /// Serve `/metrics` to anyone, without a key and without any tenant's or plugin's name
    /// (otherwise it takes a key granted `metrics:read`, and shows that key's tenant's series).
    #[arg(long)]
    anonymous_metrics: bool,
    /// How long an executor's claim on an action holds, in milliseconds, on the store's own clock.
    /// Claims are renewed every third of it while their actions are carried out; a process that
    /// dies leaves its claims to be taken up again this long after their last renewal.
    #[arg(long, default_value_t = crate::executor::DEFAULT_LEASE.as_millis() as u64, value_name = "MS")]
    lease_ms: u64,
    /// How often the executor looks for due work nothing woke it for, in milliseconds: actions
    /// whose lease passed, follow-ups that are due, and, on a store that cannot tell of them (the
    /// embedded one), other processes' commits. On PostgreSQL every host is woken by the others'
    /// commits at once.
    #[arg(long, default_value_t = crate::executor::DEFAULT_POLL.as_millis() as u64, value_name = "MS")]
    poll_ms: u64,
}

/// Listens for SIGTERM and Ctrl-C from now on, and resolves on the first of them. On Unix the
/// handlers are installed here, before the server says it listens, so a stop sent once it listens
/// is a graceful stop rather than the signal's default kill (one sent while the store opens and
/// the tenants are wired, earlier, still ends the process at once, with nothing begun).
fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Hands the memory freed while the tenants were wired back to the system at once: reading each
/// compiled component from the compile cache takes a buffer the size of its code, which the
/// allocator would otherwise keep for a while after it is freed.
fn return_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers; mimalloc is the global allocator (`main.rs`), and
    // collecting is safe from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
}

impl ServeArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let store = data.create_store()?;
        let interrupted = store.settle_requests()?;
        if interrupted > 0 {
            tracing::warn!("{interrupted} requests were cut off by the last stop; their status says so");
        }
        let share = data.config.capacity.tenant_pool_share;
        let runtime = Arc::new(Runtime::new(data.cache_dir())?.with_tenant_pool_share(share));
        let mut state = AppState::new(store, runtime, Arc::new(data.config.clone()))?;
        let executor = Executor::new(Duration::from_millis(self.lease_ms.max(1)));
        state.executor = Arc::new(executor.with_poll(Duration::from_millis(self.poll_ms.max(1))));
        state.http = HttpSettings {
            max_body: self.max_body,
            header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
            write_timeout: Duration::from_millis(self.write_timeout_ms.max(1)),
            anonymous_metrics: self.anonymous_metrics,
        };
        let state = Arc::new(state);
        return_freed_memory();
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        tokio.block_on(async move {
            let stop = stop_signal()?;
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on {}", self.listen))?;
            let address = listener.local_addr()?;
            eprintln!("provhost: listening on http://{address}");
            serve(listener, state, stop).await?;
            eprintln!("provhost: stopped");
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

/// One delivery pass over the queued notifications that are due.
pub(super) fn deliver_once(data: &DataDir) -> anyhow::Result<ExitCode> {
    let store = data.open_store()?;
    let client = crate::webhook::client()?;
    let tried = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(crate::webhook::deliver_due(&store, &data.config, &client))?;
    println!("provhost: tried {tried} deliveries");
    Ok(ExitCode::SUCCESS)
}
