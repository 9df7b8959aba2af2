//! The session API: sign-in, sign-out, the live check, and the caller's own sessions.

use super::AppState;
use super::extract::{Client, CurrentSession, Jar, JsonOrForm, PathParam, QueryParams, Whoami, is_form};
use super::pages;
use crate::error::Error;
use crate::store::SessionRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/auth/session`: who is calling, live (session cookie, API token, access token or
/// service token).
pub async fn session(whoami: Whoami) -> Result<Response, Error> {
    let body = match whoami {
        Whoami::Session(checked) => checked.view_json()?,
        Whoami::Bearer(view) => serde_json::to_vec(&view).map_err(Error::internal)?,
    };
    let content_type = HeaderValue::from_static("application/json");
    Ok(no_store(([(header::CONTENT_TYPE, content_type)], body).into_response()))
}

#[derive(Deserialize)]
pub struct SignInBody {
    email: String,
    password: String,
    #[serde(default)]
    redirect: Option<String>,
}

/// `POST /api/auth/sign-in`, JSON (answers the session view) or form (answers 303).
pub async fn sign_in(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    Client(client): Client,
    body: JsonOrForm<SignInBody>,
) -> Result<Response, Error> {
    let (body, from_form) = body.into_parts();
    let now = crate::service::now();
    let signed_in = match state.airlock.sign_in(&body.email, &body.password, client, now).await {
        Ok(signed_in) => signed_in,
        Err(e @ (Error::InvalidCredentials | Error::RateLimited { .. })) if from_form => {
            return Ok(pages::login_page(&state, body.redirect.as_deref(), &body.email, Some(&e)));
        }
        Err(e) => return Err(e),
    };
    state.cookie.set(&cookies, signed_in.token, signed_in.session.expires_at - now);
    if from_form {
        let target = state.config.origins.redirect_or(body.redirect.as_deref(), &state.config.public_url);
        return Ok(no_store(Redirect::to(target.as_str()).into_response()));
    }
    Ok(no_store(Json(signed_in.view).into_response()))
}

#[derive(Deserialize, Default)]
pub struct RedirectParam {
    #[serde(default)]
    redirect: Option<String>,
}

/// `POST /api/auth/sign-out`: forgets the session server-side and expires the cookie. Answers
/// 200, or 303 to `redirect` (validated) for a form post or a `?redirect=`.
pub async fn sign_out(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    QueryParams(query): QueryParams<RedirectParam>,
    request: Request,
) -> Result<Response, Error> {
    let form = is_form(request.headers());
    let token = state.cookie.read(request.headers());
    let redirect = if form {
        let axum::Form(body) = axum::Form::<RedirectParam>::from_request(request, &state).await?;
        body.redirect.or(query.redirect)
    } else {
        Bytes::from_request(request, &state).await?;
        query.redirect
    };
    let signed_out = match token {
        Some(token) => state.airlock.sign_out(&token, crate::service::now()).await?,
        None => false,
    };
    state.cookie.clear(&cookies);
    if form || redirect.is_some() {
        let login = state.config.public_url.join("/login").map_err(Error::internal)?;
        let target = state.config.origins.redirect_or(redirect.as_deref(), &login);
        return Ok(no_store(Redirect::to(target.as_str()).into_response()));
    }
    Ok(no_store(Json(json!({"signed_out": signed_out})).into_response()))
}

/// One of the caller's sessions, as listed to them. Never carries the token.
#[derive(Serialize)]
pub struct SessionSummary {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

impl SessionSummary {
    pub fn of(session: SessionRecord, current: Option<&str>) -> Self {
        Self {
            current: current == Some(session.id.as_str()),
            id: session.id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// `GET /api/auth/sessions`: the caller's live sessions, the current one flagged.
pub async fn list_sessions(
    State(state): State<AppState>,
    CurrentSession(checked): CurrentSession,
) -> Result<Response, Error> {
    let sessions = state.airlock.sessions_of(&checked.user().id, crate::service::now()).await?;
    let list: Vec<_> = sessions.into_iter().map(|s| SessionSummary::of(s, Some(&checked.session.id))).collect();
    Ok(no_store(Json(list).into_response()))
}

/// `DELETE /api/auth/sessions/{id}`: revokes one of the caller's own sessions.
pub async fn revoke_session(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    CurrentSession(checked): CurrentSession,
    PathParam(id): PathParam<String>,
) -> Result<Response, Error> {
    let revoked = state
        .airlock
        .revoke_session(&id, Some(&checked.user().id), &checked.user().email, crate::service::now())
        .await?;
    if revoked.id == checked.session.id {
        state.cookie.clear(&cookies);
    }
    Ok(Json(json!({"revoked": revoked.id})).into_response())
}

/// `POST /api/auth/sessions/revoke-others`: signs the caller out everywhere else.
pub async fn revoke_others(
    State(state): State<AppState>,
    CurrentSession(checked): CurrentSession,
) -> Result<Response, Error> {
    let count =
        state.airlock.revoke_sessions_of(checked.user(), Some(&checked.session.id), &checked.user().email).await?;
    Ok((StatusCode::OK, Json(json!({"revoked": count}))).into_response())
}
