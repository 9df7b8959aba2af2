//! The HTTP surface. Every endpoint is listed in [`router`]; handlers are thin: extract, call
//! the domain ([`crate::service::Airlock`]), answer.
//!
//! Public surface: the session API and the sign-in pages. Admin surface: `/api/admin/*`, only
//! for admins. Operations: `/health`, `/ready`.

mod admin;
mod auth;
pub mod cookie;
pub mod error;
mod extract;
mod health;
mod keys;
mod oauth;
mod pages;
mod service_tokens;
mod tokens;
mod verify;

use crate::config::Config;
use crate::error::Error;
use crate::service::Airlock;
use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use cookie::SessionCookie;
use error::error_response;
use extract::MAX_BODY_BYTES;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tower_cookies::CookieManagerLayer;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub airlock: Arc<Airlock>,
    pub config: Arc<Config>,
    pub cookie: Arc<SessionCookie>,
    /// Renders `GET /metrics`; `None` when no recorder is installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    pub fn new(
        airlock: Arc<Airlock>,
        config: Arc<Config>,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Self {
        let cookie = Arc::new(SessionCookie::from_config(&config));
        Self { airlock, config, cookie, metrics }
    }
}

/// The whole application, as `main` serves it and the tests drive it.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/users", post(admin::create_user).get(admin::list_users))
        .route("/users/{user}", patch(admin::update_user).get(admin::get_user))
        .route("/users/{user}/sessions", get(admin::user_sessions).delete(admin::revoke_user_sessions))
        .route("/orgs", post(admin::create_org).get(admin::list_orgs))
        .route("/orgs/{slug}/members", post(admin::add_member))
        .route("/orgs/{slug}/members/{email}", delete(admin::remove_member))
        .route("/sessions/{id}", delete(admin::revoke_session))
        .route("/grants", post(admin::create_grant).get(admin::list_grants))
        .route("/audit", get(admin::audit))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate));

    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login))
        .route("/api/auth/session", get(auth::session))
        .route("/api/auth/sign-in", post(auth::sign_in))
        .route("/api/auth/sign-out", post(auth::sign_out))
        .route("/api/auth/sessions", get(auth::list_sessions))
        .route("/api/auth/sessions/{id}", delete(auth::revoke_session))
        .route("/api/auth/sessions/revoke-others", post(auth::revoke_others))
        .route("/api/auth/verify", get(verify::verify))
        .route("/api/tokens", post(tokens::create).get(tokens::list))
        .route("/api/tokens/{token}", delete(tokens::revoke))
        .route("/api/service-tokens", post(service_tokens::issue))
        .route("/api/service-tokens/revoked", get(service_tokens::revoked))
        .route("/api/service-tokens/{id}", delete(service_tokens::revoke))
        .nest("/api/admin", admin)
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route("/oauth/token", post(oauth::token))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn(record_request))
        .layer(CookieManagerLayer::new())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(read_body))
        .layer(
            // Method and path only: query strings may carry codes and tokens, headers cookies.
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}

/// Counts the request by its route template (never the raw path) and records its latency.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::telemetry::http_request(route, method, response.status().as_u16(), started.elapsed());
    response
}

/// CSRF: every state-changing request must come from airlock itself, a trusted origin, or a
/// non-browser client (no `Origin`, `Referer` or `Sec-Fetch-Site`).
async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Error> {
    if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
        state.config.origins.check_request_origin(
            header(header::ORIGIN.as_str()),
            header(header::REFERER.as_str()),
            header("sec-fetch-site"),
        )?;
    }
    Ok(next.run(request).await)
}

/// Most of an oversized body airlock reads and throws away so that the client sees its 413.
const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Longest a client may take to send a (small) body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest airlock spends throwing an oversized body away.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Reads the whole body (at most [`MAX_BODY_BYTES`]) before any handler runs, so that no
/// handler answers early with a body still unread. An oversized body answers 413, but only
/// after reading and discarding what the client is still sending (bounded): closing a
/// connection with unread data resets it, and the client would see a broken pipe instead of
/// the 413 (the "lingering close" of nginx and Apache).
async fn read_body(request: Request, next: Next) -> Result<Response, Error> {
    // The hot path (session checks, pages) has no body: nothing to read or buffer.
    if request.headers().get(header::CONTENT_LENGTH).is_none()
        && request.headers().get(header::TRANSFER_ENCODING).is_none()
    {
        return Ok(next.run(request).await);
    }
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
    // A client that stops sending mid-body gets 408 instead of holding the request forever.
    let buffered = tokio::time::timeout(BODY_READ_TIMEOUT, read).await.map_err(|_| Error::RequestTimeout)??;
    Ok(next.run(Request::from_parts(parts, Body::from(buffered))).await)
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
