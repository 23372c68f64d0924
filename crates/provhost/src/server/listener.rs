//! Accepting connections: HTTP/1.1 through hyper, with a deadline for each request's headers, so
//! that a client holding its headers open (or a connection left idle) is cut off; a request body
//! has its own deadline where it is read (`body`), and an answer the client does not read has one
//! for its writes (`write_deadline`). On shutdown, accepting stops, each connection
//! finishes the request it is serving, and idle ones close.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::write_deadline::WriteDeadline;

/// Serves `router` on every connection `listener` accepts until `shutdown` resolves, then waits
/// for the connections to finish.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    (header_timeout, write_timeout): (Duration, Duration),
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: those in use are let go first.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(
                TokioIo::new(WriteDeadline::new(stream, write_timeout)),
                TowerToHyperService::new(router.clone()),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "a connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
