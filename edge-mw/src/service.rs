//! [`AirlockService`]: what happens to each request (contract section 4).

use crate::client::{Credential, Verdict};
use crate::headers::{Identity, insert_identity_headers, strip_identity_headers};
use crate::jwt::looks_like_jwt;
use crate::layer::Settings;
use crate::resource::Refusal;
use crate::responses;
use crate::user::AuthUser;
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, COOKIE, HOST, SET_COOKIE};
use http::{HeaderMap, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// The middleware built by [`crate::AirlockLayer`].
#[derive(Clone, Debug)]
pub struct AirlockService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> AirlockService<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        Self { inner, settings }
    }
}

/// The airlock session cookie of the request, if any. Only this cookie is ever forwarded.
fn session_cookie(headers: &HeaderMap) -> Option<Credential> {
    let values = headers.get_all(COOKIE).into_iter().filter_map(|value| value.to_str().ok());
    shared::cookies::pairs(values).find_map(|(name, value)| {
        let name = shared::names::SESSION_COOKIE_NAMES.into_iter().find(|known| *known == name)?;
        (!value.is_empty()).then(|| Credential::SessionCookie { name, value: value.to_owned() })
    })
}

/// `Authorization: Bearer <token>`, if present and well-formed.
fn bearer(headers: &HeaderMap) -> Option<Credential> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096)
        .then(|| Credential::Bearer(token.to_owned()))
}

/// The absolute URL the browser asked for, for the login page to send it back to.
fn original_url<B>(settings: &Settings, request: &Request<B>) -> String {
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match &settings.app_url {
        Some(app) => app.join(path).map(String::from).unwrap_or_else(|_| app.to_string()),
        None => {
            let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let scheme = request.uri().scheme_str().unwrap_or("http");
            format!("{scheme}://{host}{path}")
        }
    }
}

/// Hands the verified identity to the app: the `x-<slug>-user-*` headers and [`AuthUser`].
fn admit<B>(request: &mut Request<B>, identity: &Identity, settings: &Settings) {
    let derived = identity.derived(&settings.mapping, &settings.headers);
    insert_identity_headers(request.headers_mut(), derived);
    let user = AuthUser::with_role(identity.view.clone(), derived.role, settings.mapping.clone());
    request.extensions_mut().insert(user);
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AirlockService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The ready inner service goes with this call; its clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let settings = self.settings.clone();

        // 1. Nobody but this middleware sets identity headers.
        strip_identity_headers(request.headers_mut(), &settings.slug);

        Box::pin(async move {
            let reject = |response: Response<String>| Ok(response.map(ResBody::from));
            // OAuth protected resources (RFC 9728): their metadata, and bearer access tokens
            // issued for them, only.
            let path = request.uri().path();
            if let Some(resource) = settings.resources.iter().find(|r| r.is_metadata(path)) {
                return reject(resource.metadata_response(request.method()));
            }
            if let Some(resource) = settings.resources.iter().find(|r| r.covers(path)) {
                return match resource.check(request.headers()).await {
                    Ok(identity) => {
                        admit(&mut request, &identity, &settings);
                        inner.call(request).await
                    }
                    Err(Refusal::Unavailable(retry_after)) => {
                        reject(responses::degraded(false, &settings.headers.degraded, retry_after))
                    }
                    Err(refusal) => reject(resource.refusal_response(refusal)),
                };
            }

            // 2. Public paths pass with no identity.
            if settings.public_paths.iter().any(|p| p.matches(request.uri().path())) {
                return inner.call(request).await;
            }
            let html = responses::wants_html(request.method(), request.headers());

            // 3. Ask airlock about the session cookie or bearer token.
            let credential = session_cookie(request.headers()).or_else(|| bearer(request.headers()));
            let verdict = match (credential, &settings.jwt) {
                (Some(Credential::Bearer(token)), Some(jwt)) if looks_like_jwt(&token) => jwt.verify(&token).await,
                (Some(credential), _) => settings.client.check(credential).await,
                (None, _) => Verdict::Unauthenticated,
            };
            match verdict {
                // 4. Identity headers and the typed extension for the app.
                Verdict::Authenticated { identity, set_cookie } => {
                    admit(&mut request, &identity, &settings);
                    let mut response = inner.call(request).await?;
                    if let Some(cookie) = set_cookie {
                        response.headers_mut().append(SET_COOKIE, cookie);
                    }
                    Ok(response)
                }
                // 5. Browsers go to the login page; API callers get 401.
                Verdict::Unauthenticated if html => {
                    reject(responses::login_redirect(&settings.login_url, &original_url(&settings, &request)))
                }
                Verdict::Unauthenticated => reject(responses::unauthenticated()),
                // 6. An outage is not a sign-out: the banner, no redirect, no cookie touched.
                Verdict::Unavailable { retry_after } => {
                    reject(responses::degraded(html, &settings.headers.degraded, retry_after))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_the_session_cookie_is_taken() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("app=secret; airlock_session=tok123; other=x"));
        assert_eq!(
            session_cookie(&headers),
            Some(Credential::SessionCookie { name: "airlock_session", value: "tok123".into() })
        );
        headers.insert(COOKIE, HeaderValue::from_static("app=secret"));
        assert_eq!(session_cookie(&headers), None);
        headers.insert(COOKIE, HeaderValue::from_static("airlock_session="));
        assert_eq!(session_cookie(&headers), None);
        headers.insert(COOKIE, HeaderValue::from_bytes(b"airlock_session=\xff\xfe").unwrap());
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn bearer_tokens_are_taken_when_well_formed() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer alk_abc"));
        assert_eq!(bearer(&headers), Some(Credential::Bearer("alk_abc".into())));
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(bearer(&headers), None, "{bad}");
        }
    }
}
