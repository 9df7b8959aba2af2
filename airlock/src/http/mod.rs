//! The HTTP surface. Every endpoint is listed in [`router`]; handlers are thin: extract, call
//! the domain ([`crate::service::Airlock`]), answer.
//!
//! Public surface: the session API and the sign-in pages. Admin surface: `/api/admin/*`, only
//! for admins. Operations: `/health`, `/ready`.

pub mod admin;
mod auth;
pub mod cookie;
pub mod error;
mod extract;
mod health;
mod keys;
pub mod middleware;
mod oauth;
mod pages;
mod service_tokens;
pub mod session_route;
mod tokens;
mod verify;

use crate::config::Config;
use crate::service::Airlock;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use cookie::SessionCookie;
use error::error_response;
use middleware::{RequestGuard, RequestGuardLayer, RouteMetricsLayer};
use session_route::SessionRoute;
use std::ops::Deref;
use std::sync::Arc;
use tower::Layer;
use tower_cookies::{CookieManager, CookieManagerLayer};

/// Shared by every handler: one `Arc`, so that handing it to an extractor costs one atomic
/// increment.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
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
        Self(Arc::new(AppStateInner { airlock, config, cookie, metrics }))
    }
}

impl Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The whole application as served: the router inside the layers that see every request.
pub type App = RequestGuard<CookieManager<SessionRoute<Router>>>;

/// The application `main` serves and the tests drive: [`router`] wrapped, once and not per
/// route, in the request guard (CSRF, bounded body, debug span) and the cookie jar, with the
/// session check answered ahead of the router ([`SessionRoute`]).
pub fn app(state: AppState) -> App {
    let guard = RequestGuardLayer::new(Arc::new(state.config.origins.clone()));
    let routes = SessionRoute::new(router(state.clone()), state);
    guard.layer(CookieManagerLayer::new().layer(routes))
}

/// Every endpoint. Each route is timed and counted by its template ([`RouteMetricsLayer`]).
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
        .route("/clients", post(admin::create_client).get(admin::list_clients))
        .route("/clients/{id}", get(admin::get_client).delete(admin::remove_client))
        .route("/clients/{id}/rotate-secret", post(admin::rotate_client_secret))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate));

    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login))
        .route(pages::account::ACCOUNT_PATH, get(pages::account::page))
        .route("/account/sessions/{id}/revoke", post(pages::account::revoke_session))
        .route("/account/sessions/revoke-others", post(pages::account::revoke_others))
        .route("/account/tokens", post(pages::account::create_token))
        .route("/account/tokens/{id}/revoke", post(pages::account::revoke_token))
        .route("/account/apps/{client_id}/revoke", post(pages::account::revoke_app))
        .route(shared::assets::STYLESHEET_PATH, get(pages::stylesheet))
        .route(shared::assets::ICON_PATH, get(pages::icon))
        .route(session_route::SESSION_PATH, get(auth::session))
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
        .route("/oauth/authorize", get(oauth::authorize::authorize).post(oauth::authorize::consent))
        .route("/device", get(oauth::device::page).post(oauth::device::submit))
        .route("/oauth/logout", get(oauth::logout::logout).post(oauth::logout::confirm))
        .merge(machine_endpoints())
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RouteMetricsLayer)
        .with_state(state)
}

/// The endpoints machines call, from any origin (browser-based OAuth and MCP clients among
/// them): open CORS, never with credentials; none of them reads the session cookie.
fn machine_endpoints() -> Router<AppState> {
    use axum::http::{Method, header};
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(600));
    Router::new()
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route("/.well-known/openid-configuration", get(oauth::discovery::authorization_server))
        .route("/.well-known/oauth-authorization-server", get(oauth::discovery::authorization_server))
        .route("/.well-known/oauth-protected-resource", get(oauth::discovery::protected_resource))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/device_authorization", post(oauth::device::device_authorization))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/oauth/userinfo", get(oauth::userinfo).post(oauth::userinfo))
        .route("/oauth/register", post(oauth::registration::register))
        .route(
            "/oauth/register/{id}",
            get(oauth::registration::read).put(oauth::registration::update).delete(oauth::registration::delete),
        )
        // Inside the CORS layer, so that a preflight (`OPTIONS`) is answered by it rather than
        // by the application-wide 405 that a merge would otherwise put in front of it.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors)
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}
