//! `POST /oauth/register` (RFC 7591) and `GET|PUT|DELETE /oauth/register/{client_id}` (RFC
//! 7592, with the registration access token as a bearer). Off when
//! `oauth_dynamic_registration = false`.

use super::{no_store, policy};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::{JsonBody, PathParam, bearer_token};
use crate::oauth::clients::ClientRecord;
use crate::oauth::oauth_error;
use crate::oauth::registration::{ClientMetadata, metadata_of};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn enabled(state: &AppState) -> Result<(), Error> {
    if state.config.oauth_dynamic_registration {
        Ok(())
    } else {
        Err(oauth_error(403, "access_denied", "dynamic client registration is disabled here"))
    }
}

/// The client as RFC 7591 section 3.2.1 answers it.
fn described(
    state: &AppState,
    client: &ClientRecord,
    secret: Option<&str>,
    token: Option<&str>,
) -> Result<serde_json::Value, Error> {
    let mut body = serde_json::to_value(metadata_of(client)).map_err(Error::internal)?;
    body["client_id"] = json!(client.client_id);
    body["client_id_issued_at"] = json!(client.created_at.unix_timestamp());
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    if let Some(token) = token {
        body["registration_access_token"] = json!(token);
    }
    body["registration_client_uri"] = json!(format!("{}/oauth/register/{}", policy(state)?.issuer, client.client_id));
    Ok(body)
}

/// `POST /oauth/register`.
pub async fn register(
    State(state): State<AppState>,
    JsonBody(metadata): JsonBody<ClientMetadata>,
) -> Result<Response, Error> {
    enabled(&state)?;
    let registration = state.airlock.register_dynamically(&metadata, state.config.dev, crate::service::now()).await?;
    let client = &registration.client.client;
    state
        .airlock
        .audit(crate::audit::AuditEvent::new("oauth.client.register").actor("dynamic").subject(&client.client_id))
        .await;
    let body = described(
        &state,
        client,
        registration.client.secret.as_deref(),
        registration.registration_access_token.as_deref(),
    )?;
    let mut response = no_store(body);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn registration_token(headers: &HeaderMap) -> Result<&str, Error> {
    match bearer_token(headers) {
        Some(Ok(token)) => Ok(token),
        _ => Err(oauth_error(401, "invalid_token", "the registration access token is required")),
    }
}

/// `GET /oauth/register/{client_id}`.
pub async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Response, Error> {
    enabled(&state)?;
    let client = state.airlock.registered_client(&id, registration_token(&headers)?).await?;
    Ok(no_store(described(&state, &client, None, None)?))
}

/// `PUT /oauth/register/{client_id}`.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
    JsonBody(metadata): JsonBody<ClientMetadata>,
) -> Result<Response, Error> {
    enabled(&state)?;
    let client =
        state.airlock.update_registration(&id, registration_token(&headers)?, &metadata, state.config.dev).await?;
    Ok(no_store(described(&state, &client, None, None)?))
}

/// `DELETE /oauth/register/{client_id}`.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Response, Error> {
    enabled(&state)?;
    state.airlock.delete_registration(&id, registration_token(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
