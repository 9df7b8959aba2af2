//! The two HTML pages: the sign-in form (works without JavaScript) and a small account page.

use super::AppState;
use super::extract::{CurrentSession, QueryParams};
use crate::error::Error;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Escapes text for HTML element content and double-quoted attributes. Every value placed in a
/// page passes through here.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}\
main{background:#fff;margin-top:10vh;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:20rem}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}\
button{margin-top:1.2rem;padding:.6rem 1.2rem}.error{color:#a00}li{margin:.2rem 0}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The pages need no script and must never be framed (clickjacking).
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The sign-in form; `error` is shown above it (and sets the status) after a failed attempt.
pub fn login_page(state: &AppState, redirect: Option<&str>, error: Option<&Error>) -> Response {
    // Only a validated target is carried along; a refused one is dropped here already.
    let redirect = redirect.and_then(|r| state.config.origins.safe_redirect(r));
    let hidden = redirect
        .map(|url| format!("<input type=\"hidden\" name=\"redirect\" value=\"{}\">", escape(url.as_str())))
        .unwrap_or_default();
    let (status, notice) = match error {
        Some(e) => (e.status(), format!("<p class=\"error\" role=\"alert\">{}</p>", escape(&e.to_string()))),
        None => (StatusCode::OK, String::new()),
    };
    let body = format!(
        "<h1>Sign in</h1>{notice}<form method=\"post\" action=\"/api/auth/sign-in\">{hidden}\
         <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>"
    );
    page(status, "Sign in · Airlock", &body)
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    redirect: Option<String>,
}

/// `GET /login?redirect=URL`.
pub async fn login(State(state): State<AppState>, QueryParams(query): QueryParams<LoginQuery>) -> Response {
    login_page(&state, query.redirect.as_deref(), None)
}

/// `GET /`: who is signed in, with a sign-out button; the sign-in page otherwise.
pub async fn home(State(state): State<AppState>, request: Request) -> Result<Response, Error> {
    let (mut parts, _) = request.into_parts();
    let checked = match CurrentSession::from_request_parts(&mut parts, &state).await {
        Ok(CurrentSession(checked)) => checked,
        Err(Error::Unauthenticated(_)) => return Ok(Redirect::to("/login").into_response()),
        Err(e) => return Err(e),
    };
    let view = &checked.view();
    let roles: Vec<&str> = view.user.roles.iter().map(|r| r.as_str()).collect();
    let orgs: String =
        view.orgs.iter().map(|o| format!("<li>{} <small>({})</small></li>", escape(&o.name), o.role)).collect();
    let body = format!(
        "<h1>Signed in</h1><p><strong>{name}</strong> &lt;{email}&gt;</p><p>Roles: {roles}</p>\
         <p>Organisations:</p><ul>{orgs}</ul>\
         <form method=\"post\" action=\"/api/auth/sign-out\"><button type=\"submit\">Sign out</button></form>",
        name = escape(&view.user.name),
        email = escape(&view.user.email),
        roles = if roles.is_empty() { "none".to_owned() } else { roles.join(", ") },
        orgs = if orgs.is_empty() { "<li>none</li>".to_owned() } else { orgs },
    );
    Ok(page(StatusCode::OK, "Airlock", &body))
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
