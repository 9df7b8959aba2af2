//! `/api/service-tokens`: headless, read-only, tenant-scoped JWTs for CI (contract section 6).
//! Issuing and revoking need the `control` scope (an admin, an operator, or such a token).

use super::AppState;
use super::extract::{Caller, JsonBody, PathParam};
use crate::audit::AuditEvent;
use crate::error::Error;
use crate::tokens::keys::KeyAlg;
use crate::tokens::scopes::Scope;
use crate::tokens::service_tokens::ServiceTokenRequest;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    tenant_id: String,
    scopes: Vec<String>,
    #[serde(default)]
    resource_id: Option<String>,
    ttl_seconds: u64,
    /// `RS256` (default) or `EdDSA`.
    #[serde(default)]
    alg: Option<KeyAlg>,
}

/// `POST /api/service-tokens` → 201 `{"id","service_token","expires_at"}`.
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<IssueBody>,
) -> Result<(StatusCode, Json<Value>), Error> {
    caller.require(Scope::Control)?;
    let request = ServiceTokenRequest {
        tenant_id: body.tenant_id,
        scopes: body.scopes,
        resource_id: body.resource_id,
        ttl: Duration::from_secs(body.ttl_seconds),
        alg: body.alg.unwrap_or(KeyAlg::Rs256),
    };
    let now = crate::service::now();
    let (record, jwt) =
        state.airlock.issue_service_token(request, &caller.user.email, state.config.service_token_max_ttl, now).await?;
    state.airlock.audit(AuditEvent::new("service_token.issue").actor(&caller.user.email).subject(&record.id)).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "service_token": jwt, "expires_at": rfc3339(record.expires_at)})),
    ))
}

/// `DELETE /api/service-tokens/{id}`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, Error> {
    caller.require(Scope::Control)?;
    let record = state.airlock.revoke_service_token(&id, crate::service::now()).await?;
    state.airlock.audit(AuditEvent::new("service_token.revoke").actor(&caller.user.email).subject(&record.id)).await;
    Ok(Json(json!({"revoked": record.id})))
}

/// `GET /api/service-tokens/revoked`: the ids (`jti`) of revoked service tokens that have not
/// expired, for verifiers that check JWTs offline (edge-mw polls it). Ids are not secrets.
pub async fn revoked(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let list = state.airlock.revoked_service_tokens().await?;
    let ids: Vec<Value> = list.iter().map(|t| json!({"jti": t.id, "expires_at": rfc3339(t.expires_at)})).collect();
    Ok(Json(json!({"revoked": ids})))
}
