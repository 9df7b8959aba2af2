//! `/api/tokens`: the caller's API tokens. A signed-in user manages their own; a token needs
//! `read` to list and `write` to create or revoke. A token is never given more than the
//! creating credential holds.

use super::AppState;
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use crate::error::Error;
use crate::tokens::NewToken;
use crate::tokens::TokenRecord;
use crate::tokens::scopes::{Scope, TokenRole};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A token as listed: never its secret or its hash.
#[derive(Serialize)]
pub struct TokenOut {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    role: Option<TokenRole>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    active: bool,
}

impl TokenOut {
    fn of(t: TokenRecord, now: OffsetDateTime) -> Self {
        Self {
            active: t.is_active(now),
            id: t.id,
            name: t.name,
            scopes: t.scopes,
            role: t.role,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
    #[serde(default)]
    role: Option<TokenRole>,
    #[serde(default)]
    expires_days: Option<u32>,
}

/// Managing one's own tokens is open to a browser session; a token needs `needed`.
fn require_for_tokens(caller: &Caller, needed: Scope) -> Result<(), Error> {
    if caller.is_session() { Ok(()) } else { caller.require(needed) }
}

/// `POST /api/tokens` → 201 with the token, shown this once.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<Value>), Error> {
    require_for_tokens(&caller, Scope::Write)?;
    let now = crate::service::now();
    let new = NewToken { name: body.name, scopes: body.scopes, role: body.role, expires_days: body.expires_days };
    let issued = state.airlock.create_token(&caller.user, &caller.scopes, new, &caller.user.email, now).await?;
    let mut out = serde_json::to_value(TokenOut::of(issued.record, now)).map_err(Error::internal)?;
    out["token"] = Value::String(issued.secret);
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/tokens[?all=true]`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<TokenOut>>, Error> {
    require_for_tokens(&caller, Scope::Read)?;
    let now = crate::service::now();
    let tokens = state.airlock.list_tokens(&caller.user.id, query.all, now).await?;
    Ok(Json(tokens.into_iter().map(|t| TokenOut::of(t, now)).collect()))
}

/// `DELETE /api/tokens/{id-or-name}`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(id_or_name): PathParam<String>,
) -> Result<Json<Value>, Error> {
    require_for_tokens(&caller, Scope::Write)?;
    let token =
        state.airlock.revoke_token(&caller.user.id, &id_or_name, &caller.user.email, crate::service::now()).await?;
    Ok(Json(json!({"revoked": token.id, "name": token.name})))
}
