//! The two layers every request passes through, written as plain tower layers.
//!
//! [`RequestGuardLayer`] wraps the whole router once (not each route): the request's debug
//! span, the CSRF origin rule for state-changing requests, and the bounded body read.
//! [`RouteMetricsLayer`] wraps each route, because only there is the matched route template
//! known; it times the request and counts it by template, method and status.
//!
//! They replace `axum::middleware::from_fn` closures: each of those clones the route's boxed
//! service and boxes a future on every request, and on the session check (the hot path, which
//! has no body and is a `GET`) that bookkeeping cost more than the check itself. Here a bodiless
//! safe request goes straight through without an allocation.
//!
//! ```
//! # use airlock::http::middleware::{RequestGuardLayer, RouteMetricsLayer};
//! # use airlock::origins::OriginPolicy;
//! # use std::sync::Arc;
//! # fn example(origins: Arc<OriginPolicy>) {
//! let app: axum::Router = axum::Router::new()
//!     .route("/hello", axum::routing::get(|| async { "hello" }))
//!     .layer(RouteMetricsLayer);
//! let service = tower::Layer::layer(&RequestGuardLayer::new(origins), app);
//! # let _ = service;
//! # }
//! ```

use crate::error::Error;
use crate::origins::OriginPolicy;
use axum::body::{Body, BodyDataStream};
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::future::{BoxFuture, Either};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};
use tracing::Instrument;

/// Largest request body airlock reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most of an oversized body airlock reads and throws away so that the client sees its 413.
const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Longest a client may take to send a (small) body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest airlock spends throwing an oversized body away.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Applies [`RequestGuard`] around a service (the whole router).
#[derive(Clone)]
pub struct RequestGuardLayer {
    origins: Arc<OriginPolicy>,
}

impl RequestGuardLayer {
    /// `origins` decides which `Origin`s may make state-changing requests.
    pub fn new(origins: Arc<OriginPolicy>) -> Self {
        Self { origins }
    }
}

impl<S> Layer<S> for RequestGuardLayer {
    type Service = RequestGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestGuard { inner, origins: self.origins.clone() }
    }
}

/// Before anything else runs:
///
/// - **CSRF.** A state-changing request must come from airlock itself, a trusted origin, or a
///   non-browser client (no `Origin`, `Referer` or `Sec-Fetch-Site`).
/// - **The body, read whole (at most [`MAX_BODY_BYTES`], within [`BODY_READ_TIMEOUT`]).** So no
///   handler answers with a body still unread. An oversized body answers 413, but only after
///   reading and discarding what the client is still sending (bounded): closing a connection
///   with unread data resets it, and the client would see a broken pipe instead of the 413
///   (the "lingering close" of nginx and Apache). A client that stalls mid-body gets 408.
/// - **A debug span with the method and path only.** Query strings may carry codes and tokens,
///   headers carry cookies: neither is ever recorded.
#[derive(Clone)]
pub struct RequestGuard<S> {
    inner: S,
    origins: Arc<OriginPolicy>,
}

type GuardFuture<F> = tracing::instrument::Instrumented<Either<F, BoxFuture<'static, Result<Response, Infallible>>>>;

impl<S> Service<Request> for RequestGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let span = tracing::debug_span!("request", method = %request.method(), path = %request.uri().path());
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let has_body = request.headers().contains_key(header::CONTENT_LENGTH)
            || request.headers().contains_key(header::TRANSFER_ENCODING);
        if safe && !has_body {
            // The hot path: session checks and pages.
            return Either::Left(self.inner.call(request)).instrument(span);
        }
        if !safe
            && !ignores_cookies(request.uri().path())
            && let Err(e) = check_origin(&self.origins, &request)
        {
            let refused: BoxFuture<'static, _> = Box::pin(std::future::ready(Ok(e.into_response())));
            return Either::Right(refused).instrument(span);
        }
        // The service that was polled ready is the one to call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Read whatever the headers say: an HTTP/2 body needs no `Content-Length`, and the
        // bound must hold for it too.
        let guarded: BoxFuture<'static, _> = Box::pin(async move {
            match read_body(request).await {
                Ok(request) => inner.call(request).await,
                Err(e) => Ok(e.into_response()),
            }
        });
        Either::Right(guarded).instrument(span)
    }
}

/// The OAuth endpoints a client authenticates to with its own credentials, never the session
/// cookie: a cross-site request there carries no ambient authority, so the CSRF rule has
/// nothing to protect (and browser-based OAuth clients call them from their own origin).
fn ignores_cookies(path: &str) -> bool {
    matches!(
        path,
        "/oauth/token"
            | "/oauth/device_authorization"
            | "/oauth/revoke"
            | "/oauth/introspect"
            | "/oauth/userinfo"
            | "/oauth/register"
    ) || path.starts_with("/oauth/register/")
}

fn check_origin(origins: &OriginPolicy, request: &Request) -> Result<(), Error> {
    let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    origins.check_request_origin(
        header(header::ORIGIN.as_str()),
        header(header::REFERER.as_str()),
        header("sec-fetch-site"),
    )
}

async fn read_body(request: Request) -> Result<Request, Error> {
    let (parts, body) = request.into_parts();
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if let Some(len) = declared.filter(|len| *len > MAX_BODY_BYTES as u64) {
        // A client waiting for `100 Continue` has sent nothing yet: reading would ask for it.
        let expects_continue =
            parts.headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && len <= DRAIN_MAX_BYTES {
            drain(stream).await;
        }
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let read = async move {
        let mut buffered = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::bad_request(format!("cannot read the request body: {e}")))?;
            if buffered.len() + chunk.len() > MAX_BODY_BYTES {
                drain(stream).await;
                return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
            }
            buffered.extend_from_slice(&chunk);
        }
        Ok(buffered)
    };
    let buffered = tokio::time::timeout(BODY_READ_TIMEOUT, read).await.map_err(|_| Error::RequestTimeout)??;
    Ok(Request::from_parts(parts, Body::from(buffered)))
}

/// Reads and discards the rest of a body, within [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`].
async fn drain(mut stream: BodyDataStream) {
    let discard = async {
        let mut total = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            total += chunk.len() as u64;
            if total > DRAIN_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, discard).await;
}

/// Applies [`RouteMetrics`] to each route (`Router::layer`).
#[derive(Clone, Copy, Default)]
pub struct RouteMetricsLayer;

impl<S> Layer<S> for RouteMetricsLayer {
    type Service = RouteMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RouteMetrics { inner }
    }
}

/// Counts each request by its route template (never the raw path, so no id or secret becomes
/// a label), method and status, records its latency, and logs it at debug level.
#[derive(Clone)]
pub struct RouteMetrics<S> {
    inner: S,
}

impl<S> Service<Request> for RouteMetrics<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A clone of the template's `Arc<str>`, not a copy of the string.
        let route = match request.extensions().get::<MatchedPath>() {
            Some(matched) => RouteLabel::Matched(matched.clone()),
            None => RouteLabel::Fixed("unmatched"),
        };
        let method = method_label(request.method());
        MetricsFuture { inner: self.inner.call(request), labels: Some((route, method)), started: Instant::now() }
    }
}

/// The route a request is counted under: its template.
enum RouteLabel {
    /// From the router's match.
    Matched(MatchedPath),
    /// Known without the router (see [`super::session_route`]), or `unmatched`.
    Fixed(&'static str),
}

impl RouteLabel {
    fn as_str(&self) -> &str {
        match self {
            RouteLabel::Matched(matched) => matched.as_str(),
            RouteLabel::Fixed(route) => route,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RouteMetrics`].
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        labels: Option<(RouteLabel, &'static str)>,
        started: Instant,
    }
}

impl<F> MetricsFuture<F> {
    /// Times `inner` and counts it under `route` (a template) and `method`.
    pub fn new(inner: F, route: &'static str, method: &'static str) -> Self {
        Self { inner, labels: Some((RouteLabel::Fixed(route), method)), started: Instant::now() }
    }
}

impl<F, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some((route, method))) = (&result, this.labels.take()) {
            let (route, elapsed) = (route.as_str(), this.started.elapsed());
            tracing::debug!(%route, status = response.status().as_u16(), latency_us = elapsed.as_micros(), "answered");
            crate::telemetry::http_request(route, method, response.status(), elapsed);
        }
        Poll::Ready(result)
    }
}

/// Methods outside the usual set are counted together, so that a client cannot mint labels.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
