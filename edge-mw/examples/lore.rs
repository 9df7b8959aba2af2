//! LORE, the demo sibling app: an axum app protected by airlock through `edge-mw`.
//!
//! ```sh
//! cargo run -p edge-mw --example lore
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LORE_LISTEN` | `127.0.0.1:7071` | where LORE listens |
//! | `LORE_AIRLOCK_URL` | `http://127.0.0.1:7070` | where LORE reaches airlock |
//! | `LORE_LOGIN_URL` | `<LORE_AIRLOCK_URL>/login` | airlock's login page as browsers see it |
//! | `LORE_PUBLIC_URL` | the request's Host | LORE's own public origin, e.g. `https://lore.example.com` |
//! | `LORE_CACHE` | off | cache verdicts this long (`1s`); off means every request is checked live |
//! | `LORE_TIMEOUT` | `2s` | how long to wait for airlock before showing the degraded banner |
//! | `LORE_BREAKER_OPEN` | `5s` | how long the circuit stays open after 3 failures before probing airlock |
//! | `LORE_JWT_ISSUER` | off | verify airlock JWTs locally: airlock's `public_url` |
//! | `LORE_JWT_AUDIENCE` | `airlock` | with `LORE_JWT_ISSUER`: the audience to require |
//! | `LORE_REVOCATION_REFRESH` | `5s` | with `LORE_JWT_ISSUER`: how often revoked service tokens are fetched |
//!
//! Pages: `/` (who is signed in), `/ops` (operators and admins only), `/api/whoami` (the
//! `x-lore-*` headers LORE received, as JSON), `/health` (public), and `/api/hello` with its
//! public twin `/public/hello` (the benchmark measures the middleware by comparing the two).

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use edge_mw::{AirlockLayer, AppRole, AuthUser, require_role};
use std::time::Duration;

// The allocator airlock itself runs on: glibc's malloc serialises the many small allocations of
// an HTTP round trip behind its arena locks once two runtime workers share them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn home(user: AuthUser) -> Html<String> {
    let orgs: String = user
        .session_view()
        .orgs
        .iter()
        .map(|o| {
            let access = if user.can_operate_org(&o.slug) { "operate" } else { "read" };
            format!("<li>{} ({}) — you may {access}</li>", escape(&o.name), o.role)
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>LORE</title></head><body>\
         <h1>LORE</h1><p>Signed in as <strong>{name}</strong> ({email})</p>\
         <p>Your LORE role: <strong id=\"role\">{role}</strong></p><h2>Organisations</h2><ul>{orgs}</ul>\
         <p><a href=\"/ops\">Operator page</a> · <a href=\"/api/whoami\">/api/whoami</a></p></body></html>",
        name = escape(user.name()),
        email = escape(user.email()),
        role = user.role(),
        orgs = if orgs.is_empty() { "<li>none</li>".to_owned() } else { orgs },
    ))
}

async fn ops(user: AuthUser) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>LORE ops</title></head><body>\
         <h1>Operations</h1><p>Welcome, {} ({}).</p></body></html>",
        escape(user.name()),
        user.role()
    ))
}

/// The identity headers exactly as LORE received them.
async fn whoami(headers: HeaderMap) -> impl IntoResponse {
    let seen: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-lore-"))
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into()))
        .collect();
    Json(seen)
}

/// A repository: only for tokens whose `resources` name it (`urc-<id>` or `urc-*`).
async fn repo(user: AuthUser, Path(id): Path<String>) -> Response {
    if user.can_access_resource(&id) {
        Json(serde_json::json!({"repository": id, "reader": user.id()})).into_response()
    } else {
        let body =
            serde_json::json!({"error": "forbidden", "message": format!("this token is not valid for urc-{id}")});
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

async fn hello() -> &'static str {
    "hello from LORE"
}

fn parse_seconds(text: &str) -> Option<Duration> {
    let digits = text.trim().trim_end_matches('s');
    digits.parse::<f64>().ok().filter(|s| *s > 0.0).map(Duration::from_secs_f64)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("LORE_LOG").unwrap_or_else(|_| "info".into())).init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let listen = var("LORE_LISTEN").unwrap_or_else(|| "127.0.0.1:7071".to_owned());

    let mut airlock = AirlockLayer::builder("lore")
        .airlock_url(var("LORE_AIRLOCK_URL").unwrap_or_else(|| "http://127.0.0.1:7070".to_owned()))
        .public_path("/health")
        .public_path("/public/*");
    if let Some(login) = var("LORE_LOGIN_URL") {
        airlock = airlock.login_url(login);
    }
    if let Some(public) = var("LORE_PUBLIC_URL") {
        airlock = airlock.app_url(public);
    }
    if let Some(ttl) = var("LORE_CACHE").as_deref().and_then(parse_seconds) {
        airlock = airlock.cache(ttl, 10_000);
    }
    if let Some(timeout) = var("LORE_TIMEOUT").as_deref().and_then(parse_seconds) {
        airlock = airlock.timeout(timeout);
    }
    if let Some(open_for) = var("LORE_BREAKER_OPEN").as_deref().and_then(parse_seconds) {
        airlock = airlock.circuit_breaker(3, open_for);
    }
    if let Some(issuer) = var("LORE_JWT_ISSUER") {
        let audience = var("LORE_JWT_AUDIENCE").unwrap_or_else(|| "airlock".to_owned());
        airlock = airlock.verify_jwts_locally(issuer, &[audience.as_str()]);
        if let Some(every) = var("LORE_REVOCATION_REFRESH").as_deref().and_then(parse_seconds) {
            airlock = airlock.revocation_refresh(every);
        }
    }
    let airlock = airlock.build()?;

    let app = Router::new()
        .route("/ops", get(ops))
        .route_layer(require_role(AppRole::Operator))
        .route("/", get(home))
        .route("/api/whoami", get(whoami))
        .route("/api/repos/{id}", get(repo))
        // One static handler, protected and on a public path: the benchmark compares the two.
        .route("/api/hello", get(hello))
        .route("/public/hello", get(hello))
        .route("/health", get(|| async { "ok" }))
        .layer(airlock);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "LORE is listening");
    axum::serve(listener, app).await?;
    Ok(())
}
