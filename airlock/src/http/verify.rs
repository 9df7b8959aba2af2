//! `GET /api/auth/verify?app=<slug>[&role=operator]`: forward auth for nginx `auth_request`,
//! Caddy `forward_auth` and Traefik ForwardAuth (contract section 5).

use super::AppState;
use super::extract::{Jar, Peer, QueryParams};
use crate::error::Error;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use shared::names::IdentityHeaders;
use shared::{AppRole, ErrorBody, RoleMapping};

#[derive(Deserialize)]
pub struct VerifyQuery {
    app: String,
    #[serde(default)]
    role: Option<String>,
}

fn check_app_slug(slug: &str) -> Result<String, Error> {
    let slug = slug.trim().to_ascii_lowercase();
    let ok = !slug.is_empty()
        && slug.len() <= 32
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(slug) } else { Err(Error::bad_request("app must be 1-32 lowercase letters, digits or `-`")) }
}

/// The URL the user was trying to reach, from a trusted proxy's headers: `X-Original-URL`
/// (nginx), or `X-Forwarded-Proto` + `X-Forwarded-Host` + `X-Forwarded-Uri` (Caddy, Traefik).
fn original_url(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    if let Some(url) = get("x-original-url") {
        return Some(url.to_owned());
    }
    let host = get("x-forwarded-host")?;
    let proto = get("x-forwarded-proto").unwrap_or("https");
    let uri = get("x-forwarded-uri").unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

/// 200 with `x-<app>-user-*` headers, 401 with `x-airlock-login-url`, 403 below `role`,
/// 503 when the store is down.
pub async fn verify(
    State(state): State<AppState>,
    Jar(cookies): Jar,
    peer: Peer,
    QueryParams(query): QueryParams<VerifyQuery>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let slug = check_app_slug(&query.app)?;
    let needed = match query.role.as_deref().filter(|r| !r.is_empty()) {
        Some(role) => Some(role.parse::<AppRole>().map_err(|e| Error::bad_request(e.to_string()))?),
        None => None,
    };
    let now = crate::service::now();
    let checked = match state.cookie.read(&headers) {
        Some(token) => state.airlock.check_session(&token, now).await,
        None => Err(Error::Unauthenticated("no session cookie")),
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(Error::Unauthenticated(reason)) => {
            let original = if peer.trusted_proxy { original_url(&headers) } else { None };
            let mut login = state.config.public_url.join("/login").map_err(Error::internal)?;
            if let Some(target) = original.and_then(|o| state.config.origins.safe_redirect(&o)) {
                login.query_pairs_mut().append_pair("redirect", target.as_str());
            }
            let mut response =
                (StatusCode::UNAUTHORIZED, Json(ErrorBody::new("unauthenticated", reason))).into_response();
            if let Ok(value) = HeaderValue::from_str(login.as_str()) {
                response.headers_mut().insert(HeaderName::from_static("x-airlock-login-url"), value);
            }
            return Ok(no_store(response));
        }
        Err(e) => return Err(e),
    };
    if checked.refreshed {
        state.cookie.set(&cookies, state.cookie.read(&headers).unwrap_or_default(), checked.session.expires_at - now);
    }
    let view = checked.view();
    let role = RoleMapping::default().role_of(&view);
    if let Some(needed) = needed
        && role < needed
    {
        return Err(Error::forbidden(format!("this needs the {needed} role")));
    }
    let mut response = Json(json!({"ok": true})).into_response();
    for (name, value) in IdentityHeaders::for_slug(&slug).values(&view, role) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(no_store(response))
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_url_from_proxy_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(original_url(&h), None);
        h.insert("x-forwarded-host", HeaderValue::from_static("lore.example.com"));
        h.insert("x-forwarded-uri", HeaderValue::from_static("/notes?id=1"));
        assert_eq!(original_url(&h).as_deref(), Some("https://lore.example.com/notes?id=1"));
        h.insert("x-original-url", HeaderValue::from_static("https://lore.example.com/x"));
        assert_eq!(original_url(&h).as_deref(), Some("https://lore.example.com/x"));
    }

    #[test]
    fn app_slugs() {
        assert_eq!(check_app_slug("Lore").unwrap(), "lore");
        assert!(check_app_slug("lo re").is_err() && check_app_slug("").is_err());
    }
}
