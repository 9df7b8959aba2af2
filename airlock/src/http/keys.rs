//! `/.well-known/jwks.json` and the admin key endpoints.

use super::AppState;
use super::extract::Admin;
use crate::error::Error;
use crate::tokens::keys::KeyRecord;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The public keys: active ones and retired ones still published. Clients may cache it for a
/// minute; a verifier that meets an unknown `kid` refetches.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, Error> {
    let ring = state.airlock.keys()?.ring();
    let mut response = Json(ring.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    Ok(response)
}

fn key_view(k: &KeyRecord) -> Value {
    json!({
        "kid": k.kid,
        "alg": k.alg.as_str(),
        "created_at": k.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
        "retired_at": k.retired_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "publish_until": k.publish_until.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "active": k.is_active(),
    })
}

/// `GET /api/admin/keys`: every key, never a private part.
pub async fn list(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<Value>>, Error> {
    Ok(Json(state.airlock.key_records().await?.iter().map(key_view).collect()))
}

/// `POST /api/admin/keys/rotate`: new keys; the old ones stay published until their tokens expire.
pub async fn rotate(State(state): State<AppState>, Admin { actor }: Admin) -> Result<Json<Vec<Value>>, Error> {
    let window = time::Duration::try_from(state.config.key_publish_window()).map_err(Error::internal)?;
    let fresh = state.airlock.rotate_keys(window).await?;
    state.airlock.audit(crate::audit::AuditEvent::new("admin.keys.rotate").actor(&actor)).await;
    Ok(Json(fresh.iter().map(key_view).collect()))
}
