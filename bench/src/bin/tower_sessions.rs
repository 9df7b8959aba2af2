//! Peer: the same session check in the usual Rust alternative, an axum app with
//! `tower-sessions` and its Redis store (`tower-sessions-redis-store`, on fred).
//! `bench-tower-sessions 127.0.0.1:7082 redis://127.0.0.1:6390/`
//!
//! `POST /sign-in` puts the same view airlock answers (user, roles, orgs) into a new session;
//! `GET /session` loads it from Redis and answers it, or 401. Both use tower-sessions' defaults.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::{AuthInfo, AuthMethod, GlobalRole, OrgRole, OrgView, SessionInfo, SessionView, UserView};
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

const VIEW: &str = "view";

async fn sign_in(session: Session) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let view = SessionView {
        user: UserView {
            id: "usr_0123456789abcdef01234567".into(),
            email: "bench@example.com".into(),
            name: "Bench".into(),
            roles: vec![GlobalRole::Admin],
        },
        orgs: vec![OrgView {
            id: "org_0123456789abcdef01234567".into(),
            slug: "acme".into(),
            name: "Acme".into(),
            role: OrgRole::Operator,
        }],
        session: Some(SessionInfo {
            id: "ses_0123456789abcdef01234567".into(),
            created_at: now,
            expires_at: now + time::Duration::days(7),
        }),
        auth: AuthInfo::new(AuthMethod::Session, vec!["*".into()]),
    };
    match session.insert(VIEW, &view).await {
        Ok(()) => Json(view).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn check(session: Session) -> Response {
    match session.get::<SessionView>(VIEW).await {
        Ok(Some(view)) => ([("cache-control", "no-store")], Json(view)).into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7082".to_owned());
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    let pool = Pool::new(Config::from_url(&url)?, None, None, None, 4)?;
    pool.init().await?;
    let sessions = SessionManagerLayer::new(RedisStore::new(pool)).with_secure(false);
    let app = Router::new().route("/sign-in", post(sign_in)).route("/session", get(check)).layer(sessions);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
