//! The pages people see: the sign-in form and the account page, rendered by askama templates
//! (`airlock/templates/`, escaping on by default) in one layout with one stylesheet
//! ([`shared::assets`]). They work without JavaScript; every page forbids scripts and framing.
//!
//! Handlers here are thin like the JSON ones: they build a view (`views.rs`) from domain data
//! and render it. The account page's forms are in `account.rs`.

pub mod account;
mod views;

use super::AppState;
use super::extract::QueryParams;
use crate::error::Error;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::Url;
pub use views::LoginView;
pub(crate) use views::in_words as wait_in_words;

/// The Content-Security-Policy of a page. No script may run, nothing may frame it, and a form
/// may only be sent to airlock itself and to the origins the page names.
///
/// Chromium applies `form-action` to every redirect a form submission follows, so the sign-in
/// form, whose 303 leads back to the sibling app, must name that app's origin: only the one
/// validated redirect target of this page, never every trusted origin.
fn content_security_policy(form_targets: &[&Url]) -> HeaderValue {
    let mut form_action = String::from("'self'");
    for target in form_targets {
        let origin = target.origin();
        if origin.is_tuple() {
            form_action.push(' ');
            form_action.push_str(&origin.ascii_serialization());
        }
    }
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    // The origins come from parsed URLs (ASCII, no control characters).
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// Renders `template` as an HTML answer with the page headers (for pages outside this module).
pub(crate) fn render_page(
    status: StatusCode,
    template: &impl Template,
    form_targets: &[&Url],
) -> Result<Response, Error> {
    render(status, template, form_targets)
}

/// Renders `template` as an HTML answer with the page headers.
fn render(status: StatusCode, template: &impl Template, form_targets: &[&Url]) -> Result<Response, Error> {
    let html = template.render().map_err(Error::internal)?;
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, content_security_policy(form_targets));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// The sign-in form. After a failed attempt, `error` is shown above it (and sets the status)
/// and the typed `email` is kept. Only a validated `redirect` is carried along.
pub fn login_page(state: &AppState, redirect: Option<&str>, email: &str, error: Option<&Error>) -> Response {
    let redirect = redirect.and_then(|r| state.config.origins.safe_redirect(r));
    let view = LoginView::new(state.config.origins.own_origin(), redirect.as_ref(), email, error);
    let status = error.map_or(StatusCode::OK, Error::status);
    let targets: Vec<&Url> = redirect.iter().collect();
    let mut response = render(status, &view, &targets).unwrap_or_else(IntoResponse::into_response);
    if let Some(Error::RateLimited { retry_after }) = error {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    }
    response
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    redirect: Option<String>,
}

/// `GET /login?redirect=URL`.
pub async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    QueryParams(query): QueryParams<LoginQuery>,
) -> Response {
    login_page(&state, query.redirect.as_deref(), "", None)
}

/// `GET /`: the account page (which sends a visitor without a session to sign in).
pub async fn home() -> Redirect {
    Redirect::to(account::ACCOUNT_PATH)
}

/// `GET /assets/airlock.css`: the stylesheet of every page.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", shared::assets::STYLESHEET)
}

/// `GET /assets/icon.svg`.
pub async fn icon() -> Response {
    asset("image/svg+xml", shared::assets::ICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_may_go_to_airlock_and_to_the_pages_own_redirect_target_only() {
        let lore = Url::parse("https://lore.example.com/notes?id=1").unwrap();
        let csp = content_security_policy(&[&lore]);
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("form-action 'self' https://lore.example.com;"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        let alone = content_security_policy(&[]);
        assert!(alone.to_str().unwrap().contains("form-action 'self';"));
        // An opaque origin (no host) adds nothing.
        let opaque = Url::parse("data:text/plain,x").unwrap();
        assert!(content_security_policy(&[&opaque]).to_str().unwrap().contains("form-action 'self';"));
    }
}
