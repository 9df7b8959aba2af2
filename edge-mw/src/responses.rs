//! The answers the middleware gives instead of calling the app: 401 JSON, 302 to the login
//! page, 403, and the 502 degraded banner. Built as `http::Response<String>` and converted to
//! the app's body type by the service.
//!
//! The two HTML pages (the banner and the 403) are askama templates (`edge-mw/templates/`) in
//! the look of airlock's pages. They must render while airlock is down and in any app, so they
//! carry the shared stylesheet inline and their own Content-Security-Policy, which allows that
//! one style element by its hash and nothing else.

use askama::Template;
use base64::Engine;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use std::time::Duration;

/// `templates/degraded.html`.
#[derive(Template)]
#[template(path = "degraded.html")]
struct DegradedPage {
    style: &'static str,
}

/// `templates/forbidden.html`.
#[derive(Template)]
#[template(path = "forbidden.html")]
struct ForbiddenPage<'a> {
    style: &'static str,
    needed: &'a str,
}

/// The policy of edge-mw's own pages: the inline stylesheet, by its SHA-256, and nothing else.
static PAGE_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(shared::assets::STYLESHEET));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; form-action 'none'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// The banner has nothing variable in it: rendered once.
static DEGRADED_HTML: LazyLock<String> = LazyLock::new(|| {
    DegradedPage { style: shared::assets::STYLESHEET }
        .render()
        .unwrap_or_else(|_| "Sign-in is temporarily unavailable. Please retry in a moment.".to_owned())
});

fn html_page(status: StatusCode, body: String) -> Response<String> {
    let mut response = with_body(status, "text/html; charset=utf-8", body);
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, PAGE_POLICY.clone());
    response
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, error: &str, message: &str) -> Response<String> {
    let body = serde_json::json!({"error": error, "message": message}).to_string();
    with_body(status, "application/json", body)
}

/// Whether this request is a browser navigation: a GET or HEAD whose `Accept` ranks
/// `text/html` above JSON (and above `*/*`, which API clients send).
pub fn wants_html(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let (mut html, mut other) = (0.0f32, 0.0f32);
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let Ok(mime) = range.trim().parse::<mime::Mime>() else { continue };
            let q = mime.get_param("q").and_then(|q| q.as_str().parse::<f32>().ok()).unwrap_or(1.0);
            let is_html = mime.type_() == mime::TEXT && mime.subtype() == mime::HTML
                || mime.type_() == mime::APPLICATION && mime.subtype().as_str() == "xhtml";
            if is_html {
                html = html.max(q);
            } else {
                other = other.max(q);
            }
        }
    }
    html > 0.0 && html >= other
}

/// 401 for API callers.
pub fn unauthenticated_json() -> http::Response<axum_body::Body> {
    axum_body::convert(json(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first"))
}

pub fn unauthenticated() -> Response<String> {
    json(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
}

/// 302 to airlock's login page, which brings the browser back to `original` afterwards.
pub fn login_redirect(login_url: &url::Url, original: &str) -> Response<String> {
    let mut target = login_url.clone();
    target.query_pairs_mut().append_pair("redirect", original);
    let mut response = with_body(StatusCode::FOUND, "text/plain; charset=utf-8", String::new());
    if let Ok(location) = HeaderValue::from_str(target.as_str()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// 403: signed in, but the role is too low.
pub fn forbidden(html: bool, needed: &str) -> Response<String> {
    if html {
        let page = ForbiddenPage { style: shared::assets::STYLESHEET, needed };
        let body = page.render().unwrap_or_else(|_| format!("This page needs the {needed} role."));
        html_page(StatusCode::FORBIDDEN, body)
    } else {
        json(StatusCode::FORBIDDEN, "forbidden", &format!("this needs the {needed} role"))
    }
}

/// 403 for an API caller, with the reason.
pub fn forbidden_because(message: &str) -> Response<String> {
    json(StatusCode::FORBIDDEN, "forbidden", message)
}

/// 502 while airlock cannot be asked: sign-in is temporarily unavailable. Never a redirect to
/// the login page and never a cleared cookie: an outage is not a sign-out.
pub fn degraded(html: bool, degraded_header: &http::HeaderName, retry_after: Duration) -> Response<String> {
    let mut response = if html {
        html_page(StatusCode::BAD_GATEWAY, DEGRADED_HTML.clone())
    } else {
        json(StatusCode::BAD_GATEWAY, "auth_unavailable", "sign-in is temporarily unavailable; retry shortly")
    };
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    headers.insert(degraded_header.clone(), HeaderValue::from_static("1"));
    response
}

#[cfg(feature = "axum")]
mod axum_body {
    pub use axum::body::Body;

    pub fn convert(response: http::Response<String>) -> http::Response<Body> {
        response.map(Body::from)
    }
}

#[cfg(not(feature = "axum"))]
mod axum_body {
    pub type Body = String;

    pub fn convert(response: http::Response<String>) -> http::Response<Body> {
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn browser_navigations_prefer_html() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_html(&Method::GET, &accept(browser)));
        assert!(!wants_html(&Method::POST, &accept(browser)));
        assert!(!wants_html(&Method::GET, &accept("application/json")));
        assert!(!wants_html(&Method::GET, &accept("*/*")));
        assert!(!wants_html(&Method::GET, &accept("application/json, text/html;q=0.5")));
        assert!(!wants_html(&Method::GET, &HeaderMap::new()));
        assert!(!wants_html(&Method::GET, &accept("garbage;;;")));
    }

    #[test]
    fn the_login_redirect_carries_the_original_url() {
        let login = url::Url::parse("https://airlock.example.com/login").unwrap();
        let r = login_redirect(&login, "https://lore.example.com/notes?id=1&x=2");
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[LOCATION],
            "https://airlock.example.com/login?redirect=https%3A%2F%2Flore.example.com%2Fnotes%3Fid%3D1%26x%3D2"
        );
    }

    #[test]
    fn the_banner_says_degraded_and_when_to_retry() {
        let name = http::HeaderName::from_static("x-lore-auth-degraded");
        let r = degraded(true, &name, Duration::from_secs(5));
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(r.headers()[RETRY_AFTER], "5");
        assert_eq!(r.headers()["x-lore-auth-degraded"], "1");
        assert!(r.body().contains("temporarily unavailable"));
        let j = degraded(false, &name, Duration::from_millis(10));
        assert_eq!(j.headers()[RETRY_AFTER], "1");
        assert!(j.body().contains("\"auth_unavailable\""));
    }

    #[test]
    fn the_pages_allow_their_own_stylesheet_and_nothing_else() {
        let name = http::HeaderName::from_static("x-lore-auth-degraded");
        for page in [degraded(true, &name, Duration::from_secs(5)), forbidden(true, "operator")] {
            let body = page.body();
            let (_, rest) = body.split_once("<style>").expect("an inline stylesheet");
            let (style, _) = rest.split_once("</style>").expect("a closed style element");
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
            let csp = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
            assert!(csp.starts_with("default-src 'none'"), "{csp}");
        }
        assert!(forbidden(true, "operator").body().contains("needs the operator role"));
    }
}
