use super::AppState;
use crate::error::Error;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// 200 while the process runs.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the store answers, else 503 `store_unavailable`.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    state.airlock.store.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = state.metrics.as_ref().map(|m| m.render()).unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
