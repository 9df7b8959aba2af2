//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET /oauth/logout`.
//!
//! A client sends the person here to sign out of airlock too. With an `id_token_hint` that
//! airlock issued to the person signed in, the session ends at once; without one, a page asks
//! first (a link alone must not sign anyone out). Afterwards the person goes to the
//! `post_logout_redirect_uri`, which must be one the client registered, with `state`; or to the
//! sign-in page.

use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::{Jar, QueryParams};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmView {
    fields: Vec<(&'static str, String)>,
    app: Option<String>,
}

#[derive(Template)]
#[template(path = "oauth_error.html")]
struct ErrorView {
    message: String,
}

/// The ID token hint's claims that matter here, its signature and issuer checked (not its
/// expiry: a hint is usually an old token).
#[derive(Deserialize)]
struct Hint {
    sub: String,
    aud: serde_json::Value,
}

fn hint_of(state: &AppState, token: &str) -> Option<Hint> {
    let keys = state.airlock.keys().ok()?;
    let header = jsonwebtoken::decode_header(token).ok()?;
    let ring = keys.ring();
    let key = ring.rs256_key(header.kid.as_deref()?)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&keys.issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<Hint>(token, key, &validation).ok().map(|data| data.claims)
}

fn error_page(message: impl Into<String>) -> Response {
    let view = ErrorView { message: message.into() };
    crate::http::pages::render_page(StatusCode::BAD_REQUEST, &view, &[]).unwrap_or_else(IntoResponse::into_response)
}

/// Where to go afterwards: the registered post-logout URI with `state`, or the sign-in page.
async fn destination(
    state: &AppState,
    params: &LogoutParams,
    hint: Option<&Hint>,
) -> Result<Result<Url, Response>, Error> {
    let Some(uri) = params.post_logout_redirect_uri.as_deref() else {
        return Ok(Ok(state.config.public_url.join("/login").map_err(Error::internal)?));
    };
    let client_id = params.client_id.clone().or_else(|| match hint.map(|h| &h.aud) {
        Some(serde_json::Value::String(aud)) => Some(aud.clone()),
        Some(serde_json::Value::Array(auds)) => auds.first().and_then(|a| a.as_str()).map(str::to_owned),
        _ => None,
    });
    let Some(client_id) = client_id else {
        return Ok(Err(error_page("post_logout_redirect_uri needs a client_id or an id_token_hint")));
    };
    let registered =
        state.airlock.client(&client_id).await?.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
    if !registered {
        return Ok(Err(error_page("the post_logout_redirect_uri is not one this client registered")));
    }
    let mut url = Url::parse(uri).map_err(Error::internal)?;
    if let Some(client_state) = &params.state {
        url.query_pairs_mut().append_pair("state", client_state);
    }
    Ok(Ok(url))
}

async fn sign_out_and_go(
    state: &AppState,
    parts_cookies: &tower_cookies::Cookies,
    token: Option<String>,
    to: Url,
) -> Result<Response, Error> {
    if let Some(token) = token {
        state.airlock.sign_out(&token, crate::service::now()).await?;
    }
    state.cookie.clear(parts_cookies);
    let mut response = Redirect::to(to.as_str()).into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /oauth/logout`.
pub async fn logout(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    QueryParams(params): QueryParams<LogoutParams>,
    parts: Parts,
) -> Result<Response, Error> {
    let hint = params.id_token_hint.as_deref().and_then(|t| hint_of(&state, t));
    let to = match destination(&state, &params, hint.as_ref()).await? {
        Ok(to) => to,
        Err(page) => return Ok(page),
    };
    let token = state.cookie.read(&parts.headers);
    let session = match &token {
        Some(token) => match state.airlock.check_session(token, crate::service::now()).await {
            Ok(checked) => Some(checked),
            Err(Error::StoreUnavailable(e)) => return Err(Error::StoreUnavailable(e)),
            Err(_) => None,
        },
        None => None,
    };
    let Some(session) = session else {
        // Nobody signed in: nothing to end.
        return sign_out_and_go(&state, &cookies, None, to).await;
    };
    if hint.as_ref().is_some_and(|h| h.sub == session.user().id) {
        return sign_out_and_go(&state, &cookies, token, to).await;
    }
    // No proof the request comes from an app the person used: ask.
    let mut fields = Vec::new();
    for (name, value) in [
        ("post_logout_redirect_uri", &params.post_logout_redirect_uri),
        ("state", &params.state),
        ("client_id", &params.client_id),
    ] {
        if let Some(value) = value {
            fields.push((name, value.clone()));
        }
    }
    let app = match params.client_id.as_deref() {
        Some(id) => state.airlock.client(id).await?.map(|c| c.name),
        None => None,
    };
    let targets: Vec<&Url> = vec![&to];
    crate::http::pages::render_page(StatusCode::OK, &ConfirmView { fields, app }, &targets)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(flatten)]
    params: LogoutParams,
}

/// `POST /oauth/logout`: the confirmation page's answer (under the CSRF origin rule).
pub async fn confirm(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    parts: Parts,
    form: Result<axum::Form<ConfirmForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Error> {
    let axum::Form(ConfirmForm { params }) = form?;
    let to = match destination(&state, &params, None).await? {
        Ok(to) => to,
        Err(page) => return Ok(page),
    };
    let token = state.cookie.read(&parts.headers);
    sign_out_and_go(&state, &cookies, token, to).await
}
