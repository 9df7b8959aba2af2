//! Extractors: the request, turned into domain values. Every rejection is an [`Error`], so a
//! malformed body or cookie answers the same JSON as any other failure.

use super::AppState;
use super::middleware::MAX_BODY_BYTES;
use crate::error::Error;
use crate::secrets::looks_like_api_token;
use crate::sessions::{CheckedSession, ClientInfo, session_view};
use crate::store::UserRecord;
use crate::tokens::effective_scopes;
use crate::tokens::keys::Claims;
use crate::tokens::scopes::{Scope, has_scope, names, user_power};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use shared::GlobalRole;
use shared::{AuthInfo, AuthMethod, SessionView, UserView};
use std::net::{IpAddr, SocketAddr};
use tower_cookies::Cookies;

fn body_error(status: axum::http::StatusCode, detail: String) -> Error {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(MAX_BODY_BYTES)
    } else {
        Error::bad_request(detail)
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Error::bad_request("expected Content-Type: application/json"),
            JsonRejection::JsonSyntaxError(e) => Error::bad_request(format!("malformed JSON: {}", e.body_text())),
            JsonRejection::JsonDataError(e) => Error::bad_request(format!("unexpected JSON: {}", e.body_text())),
            other => body_error(other.status(), other.body_text()),
        }
    }
}

impl From<FormRejection> for Error {
    fn from(rejection: FormRejection) -> Self {
        body_error(rejection.status(), format!("malformed form: {}", rejection.body_text()))
    }
}

impl From<BytesRejection> for Error {
    fn from(rejection: BytesRejection) -> Self {
        body_error(rejection.status(), rejection.body_text())
    }
}

/// `axum::Json`, rejecting with our JSON errors.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// A body that may come as JSON (API clients) or as an HTML form post (the login page).
pub enum JsonOrForm<T> {
    Json(T),
    Form(T),
}

impl<T> JsonOrForm<T> {
    pub fn into_parts(self) -> (T, bool) {
        match self {
            JsonOrForm::Json(v) => (v, false),
            JsonOrForm::Form(v) => (v, true),
        }
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonOrForm<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match content_type(req.headers()).as_deref() {
            Some("application/x-www-form-urlencoded") => {
                let axum::Form(value) = axum::Form::<T>::from_request(req, state).await?;
                Ok(JsonOrForm::Form(value))
            }
            Some("application/json") => Ok(JsonOrForm::Json(JsonBody::<T>::from_request(req, state).await?.0)),
            _ => {
                // Drain (bounded) so that an oversized body is reported as such.
                Bytes::from_request(req, state).await?;
                Err(Error::bad_request("expected Content-Type: application/json or application/x-www-form-urlencoded"))
            }
        }
    }
}

/// Whether the TCP peer is a trusted proxy, whose `X-Forwarded-*` headers count.
pub struct Peer {
    pub trusted_proxy: bool,
}

impl FromRequestParts<AppState> for Peer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        Ok(Peer { trusted_proxy: ip.is_some_and(|ip| state.config.is_trusted_proxy(ip)) })
    }
}

/// The client's address: the socket's peer, or, when that peer is a trusted proxy, the
/// rightmost `X-Forwarded-For` hop that is not itself a trusted proxy (everything left of it
/// could have been written by the client).
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], is_trusted: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let peer = peer?;
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops = forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim).collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return Some(ip),
            // Garbage in the chain: stop at the last hop we could read.
            Err(_) => return Some(client),
        }
    }
    Some(client)
}

/// The caller's user agent and IP, kept with a new session.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        let ip = client_ip(peer, &forwarded, |ip| state.config.is_trusted_proxy(ip)).map(|ip| ip.to_string());
        Ok(Client(ClientInfo { user_agent, ip }))
    }
}

fn cookies(parts: &Parts) -> Result<Cookies, Error> {
    parts.extensions.get::<Cookies>().cloned().ok_or_else(|| Error::internal("cookie layer missing"))
}

/// A live browser session, checked against the store. When the sliding refresh moved its
/// expiry, the cookie is set again on the way out.
pub struct CurrentSession(pub CheckedSession);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = state.cookie.read(&parts.headers).ok_or(Error::Unauthenticated("no session cookie"))?;
        let now = crate::service::now();
        let checked = state.airlock.check_session(&token, now).await?;
        if checked.refreshed {
            state.cookie.set(&cookies(parts)?, token, checked.session.expires_at - now);
        }
        Ok(CurrentSession(checked))
    }
}

/// Who is calling: a browser session (cookie) or an API token (`Authorization: Bearer alk_…`).
pub struct Caller {
    pub user: UserRecord,
    /// The view `GET /api/auth/session` answers.
    pub view: SessionView,
    /// What this credential may do (for a session: what the user's roles allow).
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether the caller signed in interactively (a browser session), rather than holding a token.
    pub fn is_session(&self) -> bool {
        self.view.auth.method == AuthMethod::Session
    }

    /// 403 unless this credential holds `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), Error> {
        if has_scope(&self.scopes, needed) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("this needs the `{needed}` scope")))
        }
    }
}

/// The token of an `Authorization: Bearer` header; `Some(Err)` for a malformed header.
pub fn bearer_token(headers: &HeaderMap) -> Option<Result<&str, Error>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
        .ok_or(Error::Unauthenticated("malformed Authorization header; expected Bearer <token>"));
    Some(parsed)
}

/// The caller behind a bearer token: an API token (`alk_…`) or an airlock access token.
pub async fn caller_from_token(state: &AppState, token: &str) -> Result<Caller, Error> {
    if !looks_like_api_token(token) {
        return jwt_caller(state, token).await;
    }
    let bundle = state.airlock.authenticate_token(token, crate::service::now()).await?;
    let scopes = effective_scopes(&bundle.token.scopes, &bundle.user);
    let auth = AuthInfo::new(AuthMethod::ApiToken, names(&scopes));
    let view = session_view(&bundle.user, &bundle.memberships, None, auth);
    Ok(Caller { user: bundle.user, view, scopes })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if let Some(token) = bearer_token(&parts.headers) {
            return caller_from_token(state, token?).await;
        }
        let CurrentSession(checked) = CurrentSession::from_request_parts(parts, state).await?;
        Ok(Caller { scopes: user_power(&checked.user().roles), user: checked.user().clone(), view: checked.view() })
    }
}

/// A caller presenting an airlock JWT (an access token for a user).
async fn jwt_caller(state: &AppState, token: &str) -> Result<Caller, Error> {
    let claims = state.airlock.verify_jwt(token).await?;
    if claims.resources.is_some() {
        // A repository-scoped token is for its repository, not for airlock's own APIs.
        return Err(Error::forbidden("a repository-scoped token can only be used with its repository"));
    }
    caller_from_claims(state, claims).await
}

async fn caller_from_claims(state: &AppState, claims: Claims) -> Result<Caller, Error> {
    const REFUSED: Error = Error::Unauthenticated("invalid access token");
    if claims.is_service_account == Some(true) {
        // Service tokens are not users: they only identify themselves (`GET /api/auth/session`).
        return Err(Error::forbidden("a service token cannot do this"));
    }
    let user = state.airlock.store.user_by_id(&claims.sub).await?.filter(|u| !u.disabled).ok_or(REFUSED)?;
    let memberships = state.airlock.store.memberships_of(&user.id).await?;
    let granted: Vec<Scope> = claims.scope.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    let scopes = effective_scopes(&granted, &user);
    let auth = AuthInfo {
        method: AuthMethod::AccessToken,
        scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
        resources: claims.resources,
        client_id: claims.client_id,
    };
    let view = session_view(&user, &memberships, None, auth);
    Ok(Caller { user, view, scopes })
}

/// Whom `GET /api/auth/session` describes: any caller, including a service token (which is no
/// user: `sub = svc:<tenant>`, no orgs).
pub enum Whoami {
    /// A browser session, the common case: its view can be answered without being assembled.
    Session(CheckedSession),
    /// A bearer credential.
    Bearer(Box<SessionView>),
}

impl FromRequestParts<AppState> for Whoami {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        match bearer_token(&parts.headers) {
            Some(token) => Ok(Whoami::Bearer(Box::new(bearer_view(state, token?).await?))),
            None => Ok(Whoami::Session(CurrentSession::from_request_parts(parts, state).await?.0)),
        }
    }
}

/// The view of a bearer credential. Unlike [`Caller`], any airlock JWT may ask who it is: a
/// service token and a repository-scoped token too.
async fn bearer_view(state: &AppState, token: &str) -> Result<SessionView, Error> {
    if looks_like_api_token(token) {
        return Ok(caller_from_token(state, token).await?.view);
    }
    let claims = state.airlock.verify_jwt(token).await?;
    if claims.is_service_account != Some(true) {
        return Ok(caller_from_claims(state, claims).await?.view);
    }
    let record = state.airlock.check_service_token(&claims).await?;
    Ok(SessionView {
        user: UserView { id: claims.sub, email: String::new(), name: record.tenant_id, roles: Vec::new() },
        orgs: Vec::new(),
        session: None,
        auth: AuthInfo {
            method: AuthMethod::ServiceToken,
            scopes: record.scopes,
            resources: claims.resources,
            client_id: None,
        },
    })
}

/// A caller allowed to use the admin API: an admin, with a credential holding `read` (to read)
/// or `control` (to change anything).
pub struct Admin {
    /// Who acts, for the log line of every change.
    pub actor: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.user.roles.contains(&GlobalRole::Admin) {
            return Err(Error::forbidden("this needs the admin role"));
        }
        let reading = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        caller.require(if reading { Scope::Read } else { Scope::Control })?;
        Ok(Admin { actor: caller.user.email })
    }
}

/// The session cookie jar, for handlers that set or clear the cookie.
pub struct Jar(pub Cookies);

impl<S: Send + Sync> FromRequestParts<S> for Jar {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(Jar(cookies(parts)?))
    }
}

impl From<axum::extract::rejection::QueryRejection> for Error {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Error::bad_request(format!("malformed query: {}", rejection.body_text()))
    }
}

/// `axum::extract::Query`, rejecting with our JSON errors.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl From<axum::extract::rejection::PathRejection> for Error {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        if rejection.status().is_server_error() {
            Error::internal(rejection.body_text())
        } else {
            Error::bad_request(format!("malformed path: {}", rejection.body_text()))
        }
    }
}

/// `axum::extract::Path`, rejecting with our JSON errors (e.g. a segment that percent-decodes to
/// invalid UTF-8).
pub struct PathParam<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Whether the request is an HTML form post (the login page) rather than an API call.
pub fn is_form(headers: &HeaderMap) -> bool {
    content_type(headers).as_deref() == Some("application/x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let trusted = |ip: IpAddr| ip.is_loopback() || ip == "10.0.0.2".parse::<IpAddr>().unwrap();
        // A direct client: its headers are ignored.
        assert_eq!(client_ip(Some(ip("203.0.113.9")), &["1.2.3.4"], trusted), Some(ip("203.0.113.9")));
        // Behind a trusted proxy: the rightmost untrusted hop, whatever the client prepended.
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &["6.6.6.6, 198.51.100.7"], trusted), Some(ip("198.51.100.7")));
        assert_eq!(
            client_ip(Some(ip("127.0.0.1")), &["6.6.6.6", "198.51.100.7, 10.0.0.2"], trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &[], trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &["garbage"], trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_ip(None, &["1.2.3.4"], trusted), None);
    }
}
