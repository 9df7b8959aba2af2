//! The account page and its forms: who I am, my sessions (revoke one, sign out everywhere
//! else) and my API tokens (create, shown once; revoke). Plain HTML forms: every POST passes the
//! request guard's CSRF origin rule first, then answers 303 back to the page, except a token
//! creation, which answers the page itself so that the secret never sits in a URL.

use super::views::{AccountView, CreatedToken};
use super::{AppState, render};
use crate::error::Error;
use crate::http::extract::{CurrentSession, Jar, PathParam, QueryParams};
use crate::sessions::CheckedSession;
use crate::tokens::NewToken;
use crate::tokens::scopes::{Scope, user_power};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub const ACCOUNT_PATH: &str = "/account";

/// What the page says after one of its forms revoked something (`?done=`).
#[derive(Deserialize, Clone, Copy)]
pub enum Revoked {
    #[serde(rename = "session-revoked")]
    Session,
    #[serde(rename = "others-revoked")]
    OtherSessions,
    #[serde(rename = "token-revoked")]
    Token,
    #[serde(rename = "app-revoked")]
    App,
}

impl Revoked {
    fn message(self) -> &'static str {
        match self {
            Revoked::Session => "The session was revoked: that browser is signed out.",
            Revoked::OtherSessions => "Signed out everywhere else. Only this browser is still signed in.",
            Revoked::Token => "The token was revoked. It no longer works anywhere.",
            Revoked::App => "The app's access was withdrawn: it must ask you again.",
        }
    }

    fn back(self) -> Redirect {
        let done = match self {
            Revoked::Session => "session-revoked",
            Revoked::OtherSessions => "others-revoked",
            Revoked::Token => "token-revoked",
            Revoked::App => "app-revoked",
        };
        Redirect::to(&format!("{ACCOUNT_PATH}?done={done}"))
    }
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    #[serde(default)]
    done: Option<Revoked>,
}

/// The browser's session, for a page: without one, the browser is sent to sign in and come
/// back to the account page.
pub struct PageSession(pub CheckedSession);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentSession::from_request_parts(parts, state).await {
            Ok(CurrentSession(checked)) => Ok(PageSession(checked)),
            Err(Error::Unauthenticated(_)) => {
                Err(Redirect::to(&format!("/login?redirect={ACCOUNT_PATH}")).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

async fn account_view(state: &AppState, checked: &CheckedSession) -> Result<AccountView, Error> {
    let now = crate::service::now();
    let user = checked.user();
    let sessions = state.airlock.sessions_of(&user.id, now).await?;
    let tokens = state.airlock.list_tokens(&user.id, false, now).await?;
    let mut view = AccountView::new(&checked.view(), &checked.session.id, &user_power(&user.roles), sessions, tokens);
    for consent in state.airlock.consents_of(&user.id).await? {
        let name = match state.airlock.client(&consent.client_id).await? {
            Some(client) => client.name,
            // A removed client: its consent has nothing left to grant, and is not shown.
            None => continue,
        };
        view.apps.push(super::views::AppLine::of(consent, name));
    }
    Ok(view)
}

/// `GET /account`.
pub async fn page(
    State(state): State<AppState>,
    PageSession(checked): PageSession,
    QueryParams(query): QueryParams<AccountQuery>,
) -> Result<Response, Error> {
    let mut view = account_view(&state, &checked).await?;
    view.notice = query.done.map(Revoked::message);
    render(StatusCode::OK, &view, &[])
}

/// `POST /account/sessions/{id}/revoke`. Revoking this browser's own session signs it out.
pub async fn revoke_session(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    PageSession(checked): PageSession,
    PathParam(id): PathParam<String>,
) -> Result<Response, Error> {
    let user = checked.user();
    let revoked = state.airlock.revoke_session(&id, Some(&user.id), &user.email, crate::service::now()).await?;
    if revoked.id == checked.session.id {
        state.cookie.clear(&cookies);
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(Revoked::Session.back().into_response())
}

/// `POST /account/sessions/revoke-others`.
pub async fn revoke_others(
    State(state): State<AppState>,
    PageSession(checked): PageSession,
) -> Result<Response, Error> {
    let user = checked.user();
    state.airlock.revoke_sessions_of(user, Some(&checked.session.id), &user.email).await?;
    Ok(Revoked::OtherSessions.back().into_response())
}

/// The token form, as browsers send it: `name`, `scopes` once per ticked box, `expires_days`
/// (empty for never).
fn parse_token_form(body: &[u8]) -> Result<NewToken, Error> {
    let mut name = None;
    let mut scopes = Vec::new();
    let mut expires_days = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        match &*key {
            "name" => name = Some(value.trim().to_owned()),
            "scopes" => scopes.push(value.parse::<Scope>().map_err(|_| Error::bad_request("unknown scope"))?),
            "expires_days" if value.trim().is_empty() => {}
            "expires_days" => {
                let days = value.trim().parse::<u32>();
                expires_days = Some(days.map_err(|_| Error::bad_request("the expiry must be a number of days"))?);
            }
            _ => {}
        }
    }
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| Error::bad_request("give the token a name"))?;
    if scopes.is_empty() {
        return Err(Error::bad_request("tick at least one scope"));
    }
    Ok(NewToken { name, scopes: Some(scopes), role: None, expires_days })
}

/// `POST /account/tokens`: creates a token and shows its secret once, on the page this answers.
pub async fn create_token(
    State(state): State<AppState>,
    PageSession(checked): PageSession,
    request: Request,
) -> Result<Response, Error> {
    // Read within the request guard's body limit (413 past it).
    let body = Bytes::from_request(request, &state).await?;
    let user = checked.user();
    let now = crate::service::now();
    let created = match parse_token_form(&body) {
        Ok(new) => state.airlock.create_token(user, &user_power(&user.roles), new, &user.email, now).await,
        Err(e) => Err(e),
    };
    let issued = match created {
        Ok(issued) => issued,
        Err(e @ (Error::BadRequest(_) | Error::Conflict(_) | Error::Forbidden(_))) => {
            let mut view = account_view(&state, &checked).await?;
            let status = e.status();
            view.error = Some(format!("The token was not created: {e}."));
            return render(status, &view, &[]);
        }
        Err(e) => return Err(e),
    };
    let mut view = account_view(&state, &checked).await?;
    view.created = Some(CreatedToken { name: issued.record.name, secret: issued.secret });
    render(StatusCode::OK, &view, &[])
}

/// `POST /account/apps/{client_id}/revoke`: withdraws a consent and the app's refresh tokens.
pub async fn revoke_app(
    State(state): State<AppState>,
    PageSession(checked): PageSession,
    PathParam(client_id): PathParam<String>,
) -> Result<Response, Error> {
    let user = checked.user();
    if !state.airlock.revoke_consent(&user.id, &client_id).await? {
        return Err(Error::not_found(format!("no consent for {client_id}")));
    }
    Ok(Revoked::App.back().into_response())
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    PageSession(checked): PageSession,
    PathParam(id): PathParam<String>,
) -> Result<Response, Error> {
    let user = checked.user();
    state.airlock.revoke_token(&user.id, &id, &user.email, crate::service::now()).await?;
    Ok(Revoked::Token.back().into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_form_reads_repeated_scopes_and_an_optional_expiry() {
        let new = parse_token_form(b"name=ci+deploy&scopes=read&scopes=write&expires_days=30").unwrap();
        assert_eq!(new.name, "ci deploy");
        assert_eq!(new.scopes, Some(vec![Scope::Read, Scope::Write]));
        assert_eq!(new.expires_days, Some(30));
        let never = parse_token_form(b"name=x&scopes=read&expires_days=").unwrap();
        assert_eq!(never.expires_days, None);
        for bad in [&b"scopes=read"[..], b"name=x", b"name=x&scopes=root", b"name=x&scopes=read&expires_days=soon"] {
            assert!(matches!(parse_token_form(bad), Err(Error::BadRequest(_))), "{}", String::from_utf8_lossy(bad));
        }
    }
}
