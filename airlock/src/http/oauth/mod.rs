//! The OAuth 2.1 / OpenID Connect endpoints (contract section 7). Errors use RFC 6749's
//! `{"error","error_description"}`; token answers are `Cache-Control: no-store`.
//!
//! - `GET|POST /oauth/authorize` ([`authorize`]): the code flow, with the sign-in and consent
//!   pages.
//! - `POST /oauth/token`: `authorization_code`, `refresh_token`, `client_credentials`, the
//!   device code (RFC 8628), and the RFC 8693 token exchange ([`exchange`]).
//! - `POST /oauth/device_authorization` and the page `GET|POST /device` ([`device`]).
//! - `POST /oauth/revoke` (RFC 7009), `POST /oauth/introspect` (RFC 7662), `GET|POST
//!   /oauth/userinfo`.
//! - The discovery documents ([`discovery`]).

pub mod authorize;
pub mod device;
pub mod discovery;
mod exchange;
pub mod logout;
pub mod registration;

use super::AppState;
use super::extract::bearer_token;
use crate::error::Error;
use crate::oauth::clients::ClientRecord;
use crate::oauth::token::{TokenSet, identity_claims};
use crate::oauth::{DEVICE_CODE_GRANT, OAuthPolicy, invalid_client, invalid_request, oauth_error};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;

/// The provider's settings, as this airlock is configured.
pub fn policy(state: &AppState) -> Result<OAuthPolicy, Error> {
    let keys = state.airlock.keys()?;
    Ok(OAuthPolicy {
        issuer: keys.issuer.clone(),
        audience: state.config.jwt_audience.first().cloned().unwrap_or_else(|| "airlock".to_owned()),
        resources: state.config.oauth_resources.clone(),
        origins: state.config.origins.clone(),
        access_token_ttl: state.config.access_token_ttl,
        refresh_token_ttl: state.config.oauth_refresh_ttl,
        refresh_grace: state.config.oauth_refresh_grace,
        device_code_ttl: state.config.oauth_device_code_ttl,
    })
}

#[derive(Deserialize, Default)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    device_code: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    // Token exchange (RFC 8693).
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    audience: Option<String>,
}

/// How a client authenticated: `client_secret_basic` (the `Authorization` header, RFC 6749
/// section 2.3.1), `client_secret_post`, or `none` (a public client naming itself).
fn client_credentials_of(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Option<(String, Option<String>)>, Error> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    if let Some(encoded) = basic {
        if form_secret.is_some() {
            return Err(invalid_request("use one client authentication method, not two"));
        }
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid_client("malformed Basic credentials"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid_client("malformed Basic credentials"))?;
        let (id, secret) = text.split_once(':').ok_or_else(|| invalid_client("malformed Basic credentials"))?;
        // Each part is form-urlencoded first (RFC 6749 section 2.3.1).
        let decode = |part: &str| -> String {
            url::form_urlencoded::parse(format!("x={part}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let id = decode(id);
        if form_id.is_some_and(|f| f != id) {
            return Err(invalid_request("client_id differs from the authenticated client"));
        }
        return Ok(Some((id, Some(decode(secret)))));
    }
    Ok(form_id.filter(|id| !id.is_empty()).map(|id| (id.to_owned(), form_secret.map(str::to_owned))))
}

/// The client a request to the token, revocation or introspection endpoint comes from,
/// authenticated (a public client by its id alone).
pub(crate) async fn client_of(
    state: &AppState,
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<ClientRecord, Error> {
    let (id, secret) = client_credentials_of(headers, form_id, form_secret)?
        .ok_or_else(|| invalid_client("the client did not identify itself"))?;
    state.airlock.authenticate_client(&id, secret.as_deref()).await
}

async fn authenticated_client(state: &AppState, headers: &HeaderMap, form: &TokenForm) -> Result<ClientRecord, Error> {
    client_of(state, headers, form.client_id.as_deref(), form.client_secret.as_deref()).await
}

/// The `token` parameter of revocation and introspection, and who asks.
async fn token_and_client(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<TokenParam>, FormRejection>,
) -> Result<(String, ClientRecord), Error> {
    let Form(form) = form.map_err(|e| invalid_request(format!("expected a form body: {}", e.body_text())))?;
    let client = client_of(state, headers, form.client_id.as_deref(), form.client_secret.as_deref()).await?;
    let token = form.token.filter(|t| !t.is_empty()).ok_or_else(|| invalid_request("token is required"))?;
    Ok((token, client))
}

pub(crate) fn no_store(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn token_response(tokens: TokenSet) -> Response {
    let mut body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope.to_text(),
    });
    if let Some(refresh) = tokens.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(id_token) = tokens.id_token {
        body["id_token"] = json!(id_token);
    }
    no_store(body)
}

fn form_of(form: Result<Form<TokenForm>, FormRejection>) -> Result<TokenForm, Error> {
    form.map(|Form(form)| form).map_err(|e| invalid_request(format!("expected a form body: {}", e.body_text())))
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Error> {
    let form = form_of(form)?;
    let now = crate::service::now();
    match form.grant_type.as_deref() {
        Some(exchange::TOKEN_EXCHANGE) => exchange::token_exchange(&state, form).await,
        Some("authorization_code") => {
            let client = authenticated_client(&state, &headers, &form).await?;
            let code =
                form.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| invalid_request("code is required"))?;
            let tokens = state
                .airlock
                .redeem_code(
                    &client,
                    code,
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                    &policy(&state)?,
                    now,
                )
                .await?;
            Ok(token_response(tokens))
        }
        Some("refresh_token") => {
            let client = authenticated_client(&state, &headers, &form).await?;
            let refresh = form
                .refresh_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid_request("refresh_token is required"))?;
            let tokens = state
                .airlock
                .refresh(&client, refresh, form.scope.as_deref(), form.resource.as_deref(), &policy(&state)?, now)
                .await?;
            Ok(token_response(tokens))
        }
        Some("client_credentials") => {
            let client = authenticated_client(&state, &headers, &form).await?;
            let tokens = state
                .airlock
                .client_credentials(&client, form.scope.as_deref(), form.resource.as_deref(), &policy(&state)?, now)
                .await?;
            Ok(token_response(tokens))
        }
        Some(DEVICE_CODE_GRANT) => {
            let client = authenticated_client(&state, &headers, &form).await?;
            let device_code = form
                .device_code
                .as_deref()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid_request("device_code is required"))?;
            let tokens = state.airlock.redeem_device_code(&client, device_code, &policy(&state)?, now).await?;
            Ok(token_response(tokens))
        }
        Some(other) => Err(oauth_error(
            400,
            "unsupported_grant_type",
            format!("`{}` is not a grant airlock supports", other.escape_debug()),
        )),
        None => Err(invalid_request("grant_type is required")),
    }
}

#[derive(Deserialize, Default)]
pub struct TokenParam {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009): 200 whatever the token, once the client is authenticated.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenParam>, FormRejection>,
) -> Result<Response, Error> {
    let (token, client) = token_and_client(&state, &headers, form).await?;
    state.airlock.revoke_oauth_token(&client, &token).await?;
    Ok(no_store(json!({})))
}

/// `POST /oauth/introspect` (RFC 7662): for authenticated confidential clients only.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenParam>, FormRejection>,
) -> Result<Response, Error> {
    let (token, client) = token_and_client(&state, &headers, form).await?;
    if client.is_public() {
        return Err(invalid_client("introspection needs a confidential client"));
    }
    match state.airlock.introspect(&token, &client, crate::service::now()).await? {
        Some(active) => {
            let mut body = serde_json::to_value(&active).map_err(Error::internal)?;
            body["active"] = json!(true);
            body["iss"] = json!(policy(&state)?.issuer);
            Ok(no_store(body))
        }
        None => Ok(no_store(json!({"active": false}))),
    }
}

/// `GET|POST /oauth/userinfo`: the claims the access token's scopes allow, for a token issued
/// for airlock itself.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let refused = || {
        let mut response = oauth_error(401, "invalid_token", "a valid access token is required").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        response
    };
    let Some(Ok(token)) = bearer_token(&headers) else { return Ok(refused()) };
    let claims = match state.airlock.verify_oauth_access_token(token).await {
        Ok(claims) => claims,
        Err(e @ Error::StoreUnavailable(_)) => return Err(e),
        Err(_) => return Ok(refused()),
    };
    if !claims.aud.iter().any(|a| state.config.jwt_audience.contains(a)) {
        return Ok(refused());
    }
    let scopes = crate::oauth::scopes::parse(&claims.scope).unwrap_or_default();
    if !scopes.contains("openid") {
        return Err(oauth_error(403, "insufficient_scope", "userinfo needs the openid scope"));
    }
    let Some(user) = state.airlock.store.user_by_id(&claims.sub).await?.filter(|u| !u.disabled) else {
        return Ok(refused());
    };
    let memberships = state.airlock.store.memberships_of(&user.id).await?;
    let mut body = serde_json::to_value(identity_claims(&user, &memberships, &scopes)).map_err(Error::internal)?;
    body["sub"] = json!(user.id);
    Ok(no_store(body))
}
