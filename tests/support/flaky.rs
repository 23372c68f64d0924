//! A loopback proxy in front of a real server that loses answers: it forwards every request,
//! and for the first `lose` POSTs throws the server's answer away and answers 502 instead — the
//! request was applied, the client never heard. What idempotency keys exist for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

struct Inner {
    target: String,
    lose: usize,
    stall: Option<&'static str>,
    posts: AtomicUsize,
    client: reqwest::Client,
}

/// The running proxy; stops when dropped.
pub struct Flaky {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    inner: Arc<Inner>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Flaky {
    /// Starts a proxy to `target` (a base URL) that loses the answers to the first `lose` POSTs.
    pub fn start(target: &str, lose: usize) -> Flaky {
        Self::with(target, lose, None)
    }

    /// Starts a proxy to `target` that holds every request whose path ends with `suffix` for a
    /// minute before forwarding it: a platform that stalls.
    pub fn stalling(target: &str, suffix: &'static str) -> Flaky {
        Self::with(target, 0, Some(suffix))
    }

    fn with(target: &str, lose: usize, stall: Option<&'static str>) -> Flaky {
        let inner = Arc::new(Inner {
            target: target.trim_end_matches('/').to_owned(),
            lose,
            stall,
            posts: AtomicUsize::new(0),
            client: reqwest::Client::new(),
        });
        let (base, stop) = super::serve_loopback(Router::new().fallback(forward).with_state(inner.clone()));
        Flaky { base, inner, _stop: stop }
    }

    /// POSTs received so far.
    pub fn posts(&self) -> usize {
        self.inner.posts.load(Ordering::SeqCst)
    }
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if inner.stall.is_some_and(|suffix| uri.path().ends_with(suffix)) {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
    let url = format!("{}{}", inner.target, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut request = inner.client.request(method.clone(), url).body(body);
    for name in ["authorization", "content-type", "idempotency-key", "accept"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let body = answer.bytes().await.unwrap_or_default();
    if method == Method::POST && inner.posts.fetch_add(1, Ordering::SeqCst) < inner.lose {
        return (StatusCode::BAD_GATEWAY, "the answer was lost on the way").into_response();
    }
    let mut response = (StatusCode::from_u16(status.as_u16()).unwrap(), body).into_response();
    if let Some(value) = content_type {
        response.headers_mut().insert("content-type", value);
    }
    response
}
