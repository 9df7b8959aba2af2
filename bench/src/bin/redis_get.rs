//! Baseline (the ceiling for a Redis-backed session check): an axum handler that does one
//! Redis GET through a multiplexed connection and answers its value.
//! `bench-redis-get 127.0.0.1:7081 redis://127.0.0.1:6390/`

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Router, routing::get};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

async fn handler(State(mut conn): State<ConnectionManager>) -> Result<String, StatusCode> {
    let value: Option<String> = conn.get("bench:key").await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    value.ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7081".to_owned());
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    let mut conn = ConnectionManager::new(redis::Client::open(url)?).await?;
    let _: () = conn.set("bench:key", r#"{"user":"usr_bench","expires_at":"2026-11-30T10:00:00Z"}"#).await?;
    let app = Router::new().route("/", get(handler)).with_state(conn);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
