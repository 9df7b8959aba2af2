//! The session cookie is set and removed here, and only here, so that removal always matches
//! the Domain and Path it was set with.

use crate::config::Config;
use axum::http::{HeaderMap, header};
use tower_cookies::cookie::SameSite;
use tower_cookies::{Cookie, Cookies};

#[derive(Debug, Clone)]
pub struct SessionCookie {
    pub name: &'static str,
    domain: Option<String>,
    secure: bool,
}

impl SessionCookie {
    pub fn from_config(config: &Config) -> Self {
        Self { name: config.cookie_name(), domain: config.cookie_domain.clone(), secure: config.cookie_secure }
    }

    fn base(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(self.name, value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.secure);
        cookie.set_same_site(SameSite::Lax);
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The session token from the request's `Cookie` headers, if they carry our cookie (the
    /// last one, if several do, as a cookie jar would keep it).
    ///
    /// Read straight from the headers rather than through the jar: the jar parses and
    /// percent-decodes every cookie of the request (other apps on the domain set theirs too),
    /// and this runs on every session check. Session tokens are base64url: nothing to decode.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        let headers = headers.get_all(header::COOKIE).into_iter().filter_map(|value| value.to_str().ok());
        shared::cookies::values(headers, self.name).last().map(str::to_owned)
    }

    /// Sets the cookie to live for `max_age` (the session's remaining lifetime).
    pub fn set(&self, cookies: &Cookies, token: String, max_age: time::Duration) {
        let mut cookie = self.base(token);
        cookie.set_max_age(max_age.max(time::Duration::ZERO));
        cookies.add(cookie);
    }

    /// Expires the cookie with the same Domain and Path it was set with.
    pub fn clear(&self, cookies: &Cookies) {
        let mut cookie = self.base(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie.set_expires(time::OffsetDateTime::UNIX_EPOCH);
        cookies.add(cookie);
    }
}
