//! LORE, the demo sibling app: an axum app protected by airlock through `edge-mw`.
//!
//! ```sh
//! cargo run -p edge-mw --example lore
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LORE_LISTEN` | `127.0.0.1:7071` | where LORE listens |
//! | `LORE_SLUG` | `lore` | the app's slug: its headers are `x-<slug>-user-*`, its name the slug in capitals (a second instance as `hubble`) |
//! | `LORE_AIRLOCK_URL` | `http://127.0.0.1:7070` | where LORE reaches airlock |
//! | `LORE_LOGIN_URL` | `<LORE_AIRLOCK_URL>/login` | airlock's login page as browsers see it |
//! | `LORE_PUBLIC_URL` | the request's Host | LORE's own public origin, e.g. `https://lore.example.com` |
//! | `LORE_CACHE` | off | cache verdicts this long (`1s`); off means every request is checked live |
//! | `LORE_TIMEOUT` | `2s` | how long to wait for airlock before showing the degraded banner |
//! | `LORE_BREAKER_OPEN` | `5s` | how long the circuit stays open after 3 failures before probing airlock |
//! | `LORE_JWT_ISSUER` | off | verify airlock JWTs locally: airlock's `public_url` |
//! | `LORE_JWT_AUDIENCE` | `airlock` | with `LORE_JWT_ISSUER`: the audience to require |
//! | `LORE_REVOCATION_REFRESH` | `5s` | with `LORE_JWT_ISSUER`: how often revoked service tokens are fetched |
//! | `LORE_OAUTH_ISSUER` | `LORE_JWT_ISSUER`, else the login page's origin | airlock's issuer, named in `/mcp`'s RFC 9728 metadata and required in its tokens |
//! | `LORE_MCP_SCOPE` | `read` | the scopes (space-separated) a token needs for `/mcp` |
//!
//! Pages (askama templates in `edge-mw/templates/lore/`, the shared stylesheet at
//! `/assets/airlock.css`): `/` (who is signed in, role, orgs, a sign-out button), `/ops`
//! (operators and admins only; others get edge-mw's 403 page), `/api/whoami` (the
//! `x-lore-*` headers LORE received, as JSON), `/health` (public), and `/api/hello` with its
//! public twin `/public/hello` (the benchmark measures the middleware by comparing the two).
//!
//! `POST /mcp` is an MCP endpoint (see `mcp.rs`) for OAuth access tokens issued for
//! `<LORE_PUBLIC_URL>/mcp` only; its metadata is at `/.well-known/oauth-protected-resource/mcp`.

mod mcp;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use edge_mw::{AirlockLayer, AppRole, AuthUser, require_role};
use std::sync::Arc;
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;

// The allocator airlock itself runs on: glibc's malloc serialises the many small allocations of
// an HTTP round trip behind its arena locks once two runtime workers share them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What every page of the app shows around its content: its name and the links to airlock.
struct AppInfo {
    name: String,
    /// Airlock as browsers reach it: where the account page is and where sign-out is posted.
    account_url: String,
    sign_out_url: String,
    /// LORE's own public origin, when configured; otherwise taken from each request's Host.
    public_url: Option<String>,
}

/// The app information of one page: `home_url` is where sign-out brings the browser back to.
struct AppView<'a> {
    name: &'a str,
    account_url: &'a str,
    sign_out_url: &'a str,
    home_url: String,
}

impl AppInfo {
    fn view(&self, headers: &HeaderMap) -> AppView<'_> {
        let home_url = match &self.public_url {
            Some(public) => format!("{}/", public.trim_end_matches('/')),
            // A plain-http demo on loopback: the Host the browser used.
            None => {
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:7071");
                format!("http://{host}/")
            }
        };
        AppView { name: &self.name, account_url: &self.account_url, sign_out_url: &self.sign_out_url, home_url }
    }
}

struct OrgLine {
    name: String,
    slug: String,
    role: String,
    access: &'static str,
}

#[derive(Template)]
#[template(path = "lore/home.html")]
struct HomePage<'a> {
    app: AppView<'a>,
    name: &'a str,
    email: &'a str,
    role: AppRole,
    orgs: Vec<OrgLine>,
}

#[derive(Template)]
#[template(path = "lore/ops.html")]
struct OpsPage<'a> {
    app: AppView<'a>,
    name: &'a str,
    role: AppRole,
    is_admin: bool,
    orgs: Vec<String>,
}

fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

async fn home(State(app): State<Arc<AppInfo>>, headers: HeaderMap, user: AuthUser) -> Response {
    let orgs = user
        .session_view()
        .orgs
        .iter()
        .map(|o| OrgLine {
            name: o.name.clone(),
            slug: o.slug.clone(),
            role: o.role.to_string(),
            access: if user.can_operate_org(&o.slug) { "operate" } else { "read" },
        })
        .collect();
    let view = HomePage { app: app.view(&headers), name: user.name(), email: user.email(), role: user.role(), orgs };
    page(&view)
}

async fn ops(State(app): State<Arc<AppInfo>>, headers: HeaderMap, user: AuthUser) -> Response {
    let orgs =
        user.session_view().orgs.iter().filter(|o| user.can_operate_org(&o.slug)).map(|o| o.name.clone()).collect();
    let view = OpsPage {
        app: app.view(&headers),
        name: user.name(),
        role: user.role(),
        is_admin: user.role() == AppRole::Admin,
        orgs,
    };
    page(&view)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
    ];
    (headers, body).into_response()
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

    let slug = var("LORE_SLUG").unwrap_or_else(|| "lore".to_owned());
    let airlock_url = var("LORE_AIRLOCK_URL").unwrap_or_else(|| "http://127.0.0.1:7070".to_owned());
    // Airlock as browsers see it: the login page's origin.
    let login_url = var("LORE_LOGIN_URL").unwrap_or_else(|| format!("{}/login", airlock_url.trim_end_matches('/')));
    let airlock_origin = url::Url::parse(&login_url)?.origin().ascii_serialization();
    let info = Arc::new(AppInfo {
        name: slug.to_uppercase(),
        account_url: format!("{airlock_origin}/account"),
        sign_out_url: format!("{airlock_origin}/api/auth/sign-out"),
        public_url: var("LORE_PUBLIC_URL"),
    });
    // No script, no framing; forms go to LORE and to airlock (sign-out) only.
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {airlock_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );

    let mut airlock = AirlockLayer::builder(&slug)
        .airlock_url(airlock_url)
        .login_url(login_url)
        .public_path("/health")
        .public_path("/assets/*")
        .public_path("/public/*");
    if let Some(public) = var("LORE_PUBLIC_URL") {
        airlock = airlock.app_url(public);
    }
    // `/mcp` is an OAuth protected resource: its URL is the audience its tokens must carry.
    let public_url = var("LORE_PUBLIC_URL").unwrap_or_else(|| format!("http://{listen}"));
    let public_url = url::Url::parse(&public_url)?;
    let mcp_scope = var("LORE_MCP_SCOPE").unwrap_or_else(|| "read".to_owned());
    let mcp_scopes: Vec<&str> = mcp_scope.split_whitespace().collect();
    airlock = airlock.oauth_resource(public_url.join("mcp")?.as_str(), &mcp_scopes);
    if let Some(issuer) = var("LORE_OAUTH_ISSUER") {
        airlock = airlock.oauth_issuer(issuer);
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

    // The MCP SDK answers only to the Host names it is told (against DNS rebinding).
    let mut mcp_hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned(), listen.clone()];
    if let Some(host) = public_url.host_str() {
        mcp_hosts.push(host.to_owned());
        if let Some(port) = public_url.port() {
            mcp_hosts.push(format!("{host}:{port}"));
        }
    }

    let app = Router::new()
        .route("/ops", get(ops))
        .route_layer(require_role(AppRole::Operator))
        .nest_service("/mcp", mcp::service(mcp_hosts))
        .route("/", get(home))
        .route("/api/whoami", get(whoami))
        .route("/api/repos/{id}", get(repo))
        // One static handler, protected and on a public path: the benchmark compares the two.
        .route("/api/hello", get(hello))
        .route("/public/hello", get(hello))
        .route("/health", get(|| async { "ok" }))
        .route(
            shared::assets::STYLESHEET_PATH,
            get(|| async { asset("text/css; charset=utf-8", shared::assets::STYLESHEET) }),
        )
        .route(shared::assets::ICON_PATH, get(|| async { asset("image/svg+xml", shared::assets::ICON) }))
        .with_state(info)
        .layer(airlock)
        // edge-mw's own pages (the banner, the 403) bring their own policy; it is kept.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy)?,
        ));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "LORE is listening");
    axum::serve(listener, app).await?;
    Ok(())
}
