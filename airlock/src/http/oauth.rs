//! `/oauth/token`: RFC 8693 token exchange for repository-scoped tokens. Errors use RFC 6749's
//! `{"error","error_description"}`.

use super::AppState;
use super::extract::caller_from_token;
use crate::error::Error;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn oauth(code: &'static str, description: impl Into<String>) -> Error {
    Error::OAuth { status: 400, code, description: description.into() }
}

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Error> {
    let Form(form) = form.map_err(|e| oauth("invalid_request", format!("expected a form body: {}", e.body_text())))?;
    match form.grant_type.as_deref() {
        Some(TOKEN_EXCHANGE) => {}
        Some(other) => return Err(oauth("unsupported_grant_type", format!("`{other}` is not supported here"))),
        None => return Err(oauth("invalid_request", "grant_type is required")),
    }
    let subject = form
        .subject_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| oauth("invalid_request", "subject_token is required"))?;
    if let Some(kind) = form.subject_token_type.as_deref()
        && !matches!(kind, ACCESS_TOKEN_TYPE | "urn:ietf:params:oauth:token-type:jwt")
    {
        return Err(oauth("invalid_request", format!("subject_token_type `{kind}` is not supported")));
    }
    let audience =
        form.audience.or(form.resource).ok_or_else(|| oauth("invalid_request", "audience (urc-<id>) is required"))?;
    let caller = caller_from_token(&state, &subject).await.map_err(|e| match e {
        Error::StoreUnavailable(_) => e,
        _ => oauth("invalid_grant", "subject_token is invalid, expired or revoked"),
    })?;
    let memberships = state.airlock.memberships_of(&caller.user).await?;
    let ttl = time::Duration::try_from(state.config.access_token_ttl).map_err(Error::internal)?;
    let exchanged = state
        .airlock
        .exchange_for_resource(&caller.user, &memberships, &caller.scopes, &audience, crate::service::now(), ttl)
        .await?;
    let body = json!({
        "access_token": exchanged.access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": exchanged.expires_in,
        "scope": exchanged.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
