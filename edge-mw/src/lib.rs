//! `edge-mw`: the tower middleware a sibling app adds to be protected by airlock.
//!
//! Per request ([`AirlockService`], contract section 4): spoofed `x-<slug>-user-*` and
//! `x-<slug>-auth-*` headers are stripped; public paths pass; otherwise the airlock session
//! cookie (only that cookie) or a bearer token is checked live against airlock's
//! `GET /api/auth/session`; the app receives `x-<slug>-user-{id,email,role,orgs}` headers and an
//! [`AuthUser`] extension. Browsers without a session are sent to the login page, API callers
//! get 401, and when airlock cannot be asked everyone gets a 502 "sign-in temporarily
//! unavailable" banner, never a sign-out.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use edge_mw::{AirlockLayer, AppRole, AuthUser, require_role};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let airlock = AirlockLayer::builder("lore")
//!     .airlock_url("http://127.0.0.1:7070")
//!     .public_path("/health")
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/ops", get(|| async { "operators only" }))
//!     .route_layer(require_role(AppRole::Operator))
//!     .route("/", get(|user: AuthUser| async move { format!("hello {}", user.email()) }))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(airlock);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7071").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod breaker;
mod cache;
mod client;
mod guard;
mod headers;
mod jwt;
mod layer;
mod resource;
mod responses;
mod service;
mod user;

pub use client::{Credential, Verdict};
pub use guard::{Guard, GuardLayer, require_resource, require_role};
pub use layer::{AirlockLayer, AirlockLayerBuilder, BuildError};
pub use service::AirlockService;
pub use shared::{AppRole, GlobalRole, OrgRole, RoleMapping, SessionView};
pub use user::AuthUser;
