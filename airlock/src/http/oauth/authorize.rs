//! `GET /oauth/authorize` and the consent form it shows (`POST /oauth/authorize`).
//!
//! The consent form carries the request itself in hidden fields, and its answer is validated
//! again from the start: nothing about a pending request is kept between the two. A forged
//! answer from another site is refused by the CSRF rule (the form posts to airlock's own origin,
//! and the cookie is SameSite=Lax).

use super::policy;
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::{CurrentSession, QueryParams};
use crate::oauth::authorize::{AuthorizationRequest, AuthorizeParams, Prompt, Rejection};
use crate::oauth::scopes;
use crate::sessions::CheckedSession;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::Url;

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentView {
    client_name: String,
    redirect_host: String,
    user_email: String,
    scopes: Vec<(String, &'static str)>,
    /// The request, as hidden fields.
    fields: Vec<(&'static str, String)>,
}

/// An authorization request refused before its redirect URI could be trusted.
#[derive(Template)]
#[template(path = "oauth_error.html")]
struct ErrorView {
    message: String,
}

/// `GET /oauth/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<AuthorizeParams>,
    session: MaybeSession,
) -> Response {
    decide(&state, &params, session.0, Decision::Ask).await
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: String,
}

/// `POST /oauth/authorize`: the answer to the consent page.
pub async fn consent(
    State(state): State<AppState>,
    session: MaybeSession,
    form: Result<axum::Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = match form {
        Ok(axum::Form(form)) => form,
        Err(rejection) => return Error::from(rejection).into_response(),
    };
    let decision = if form.decision == "allow" { Decision::Allowed } else { Decision::Declined };
    decide(&state, &form.params, session.0, decision).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// A request: ask if needed.
    Ask,
    /// The person allowed it on the consent page.
    Allowed,
    /// The person declined.
    Declined,
}

/// The session if there is a valid one; its absence is no error here.
pub struct MaybeSession(pub Option<CheckedSession>);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentSession::from_request_parts(parts, state).await {
            Ok(CurrentSession(checked)) => Ok(Self(Some(checked))),
            Err(Error::Unauthenticated(_)) => Ok(Self(None)),
            Err(e) => Err(e.into_response()),
        }
    }
}

async fn decide(
    state: &AppState,
    params: &AuthorizeParams,
    session: Option<CheckedSession>,
    decision: Decision,
) -> Response {
    let policy = match policy(state) {
        Ok(policy) => policy,
        Err(e) => return e.into_response(),
    };
    let request = match state.airlock.authorization_request(params, &policy).await {
        Ok(request) => request,
        Err(rejection) => return reject(rejection, &policy.issuer),
    };
    match grant(state, &request, params, session, decision).await {
        Ok(response) => response,
        Err(rejection) => reject(rejection, &policy.issuer),
    }
}

async fn grant(
    state: &AppState,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    session: Option<CheckedSession>,
    decision: Decision,
) -> Result<Response, Rejection> {
    let now = crate::service::now();
    let fresh = session.filter(|s| request.session_fresh_enough(s.session.created_at, now));
    let Some(session) = fresh else {
        if request.prompt == Prompt::None {
            return Err(request.page_needed("login_required"));
        }
        return Ok(to_login(params, now));
    };
    if request.prompt == Prompt::Login && decision == Decision::Ask && !signed_in_for(params, &session) {
        return Ok(to_login(params, now));
    }
    let user = session.user().clone();
    match decision {
        Decision::Declined => return Err(request.denied()),
        Decision::Allowed => state.airlock.remember_consent(request, &user.id, now).await?,
        Decision::Ask => {
            if state.airlock.consent_needed(request, &user.id).await? {
                if request.prompt == Prompt::None {
                    return Err(request.page_needed("consent_required"));
                }
                return consent_page(request, params, &user.email);
            }
        }
    }
    let code = state.airlock.issue_code(request, &user.id, session.session.created_at, now).await?;
    let policy = policy(state)?;
    Ok(back_to_client(&request.redirect_uri, &[("code", &code)], request.state.as_deref(), &policy.issuer))
}

/// `prompt=login` asks for a sign-in made for this very request: the login page sends the person
/// back with `login_after`, and a session at least that recent passes.
fn signed_in_for(params: &AuthorizeParams, session: &CheckedSession) -> bool {
    params
        .login_after
        .as_deref()
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|after| session.session.created_at.unix_timestamp() >= after)
}

/// To the sign-in page, coming back to this request (with `prompt=login` and `max_age`
/// satisfied by the sign-in about to happen).
fn to_login(params: &AuthorizeParams, now: time::OffsetDateTime) -> Response {
    let mut again = params.clone();
    again.max_age = None;
    again.login_after = (params.prompt.as_deref() == Some("login")).then(|| now.unix_timestamp().to_string());
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(again.pairs()).finish();
    let back = format!("/oauth/authorize?{query}");
    let login = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect", &back).finish()
    );
    Redirect::to(&login).into_response()
}

fn consent_page(request: &AuthorizationRequest, params: &AuthorizeParams, email: &str) -> Result<Response, Rejection> {
    let redirect_host = Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| request.redirect_uri.clone());
    // The request as it will be granted: the scopes resolved, no sign-in markers.
    let mut fields: Vec<(&'static str, String)> = params
        .pairs()
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "scope" | "prompt" | "max_age" | "login_after"))
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    fields.push(("scope", request.scopes.to_text()));
    let view = ConsentView {
        client_name: request.client.name.clone(),
        redirect_host,
        user_email: email.to_owned(),
        scopes: request.scopes.iter().map(|s| (s.to_owned(), scopes::in_words(s))).collect(),
        fields,
    };
    // The answer posts to airlock itself; its redirect goes to the client, which `form-action`
    // must name (Chromium applies it to the redirect a submission follows).
    let target = Url::parse(&request.redirect_uri).ok();
    let targets: Vec<&Url> = target.iter().collect();
    Ok(crate::http::pages::render_page(StatusCode::OK, &view, &targets)?)
}

/// The redirect back to the client: `params`, `state` and `iss` (RFC 9207) in its query.
fn back_to_client(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>, issuer: &str) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return Error::internal("a registered redirect URI did not parse").into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

fn reject(rejection: Rejection, issuer: &str) -> Response {
    match rejection {
        Rejection::Redirect { redirect_uri, state: client_state, error, description } => back_to_client(
            &redirect_uri,
            &[("error", error), ("error_description", &description)],
            client_state.as_deref(),
            issuer,
        ),
        // A store that does not answer is a 503 like anywhere else.
        Rejection::Page(e @ Error::StoreUnavailable(_)) => e.into_response(),
        Rejection::Page(e) => {
            let status = e.status();
            let view = ErrorView { message: e.to_string() };
            crate::http::pages::render_page(status, &view, &[]).unwrap_or_else(IntoResponse::into_response)
        }
    }
}
