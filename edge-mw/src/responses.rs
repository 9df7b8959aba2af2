//! The answers the middleware gives instead of calling the app: 401 JSON, 302 to the login
//! page, 403, and the 502 degraded banner. Built as `http::Response<String>` and converted to
//! the app's body type by the service.

use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use std::time::Duration;

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
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden</title></head>\
             <body><h1>Forbidden</h1><p>This page needs the {needed} role.</p></body></html>"
        );
        with_body(StatusCode::FORBIDDEN, "text/html; charset=utf-8", body)
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
        with_body(StatusCode::BAD_GATEWAY, "text/html; charset=utf-8", DEGRADED_PAGE.to_owned())
    } else {
        json(StatusCode::BAD_GATEWAY, "auth_unavailable", "sign-in is temporarily unavailable; retry shortly")
    };
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    headers.insert(degraded_header.clone(), HeaderValue::from_static("1"));
    response
}

const DEGRADED_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Sign-in temporarily unavailable</title>\
<style>body{font-family:system-ui,sans-serif;margin:0}.banner{background:#fff3cd;color:#664d03;\
border-bottom:1px solid #ffe69c;padding:1rem 1.5rem}</style></head><body>\
<div class=\"banner\" role=\"alert\"><strong>Sign-in is temporarily unavailable.</strong> \
We cannot check your session right now. You are still signed in; this page will work again \
shortly. Please retry in a moment.</div></body></html>";

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
}
