//! The token endpoint's RFC 8693 token exchange: a user's token for a short-lived JWT scoped to
//! one repository (contract section 6).

use super::TokenForm;
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::caller_from_token;
use crate::oauth::{invalid_grant, invalid_request};
use axum::response::Response;
use serde_json::json;

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub async fn token_exchange(state: &AppState, form: TokenForm) -> Result<Response, Error> {
    let subject =
        form.subject_token.filter(|t| !t.is_empty()).ok_or_else(|| invalid_request("subject_token is required"))?;
    if let Some(kind) = form.subject_token_type.as_deref()
        && !matches!(kind, ACCESS_TOKEN_TYPE | "urn:ietf:params:oauth:token-type:jwt")
    {
        return Err(invalid_request(format!("subject_token_type `{}` is not supported", kind.escape_debug())));
    }
    let audience = form.audience.or(form.resource).ok_or_else(|| invalid_request("audience (urc-<id>) is required"))?;
    let caller = caller_from_token(state, &subject).await.map_err(|e| match e {
        Error::StoreUnavailable(_) => e,
        _ => invalid_grant("subject_token is invalid, expired or revoked"),
    })?;
    let memberships = state.airlock.memberships_of(&caller.user).await?;
    let ttl = time::Duration::try_from(state.config.access_token_ttl).map_err(Error::internal)?;
    let exchanged = state
        .airlock
        .exchange_for_resource(&caller.user, &memberships, &caller.scopes, &audience, crate::service::now(), ttl)
        .await?;
    Ok(super::no_store(json!({
        "access_token": exchanged.access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": exchanged.expires_in,
        "scope": exchanged.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
    })))
}
