//! Identity headers: stripped from every incoming request first, then set from airlock's answer.
//! Pure functions over `http::HeaderMap`.

use crate::user::AuthUser;
use http::{HeaderMap, HeaderName, HeaderValue};
use shared::names::IdentityHeaders;

/// Removes every header a client could use to claim an identity: any name starting with
/// `x-<slug>-user-` or `x-<slug>-auth-`, whatever its case, and with `_` in place of `-`
/// (some servers and CGI gateways fold the two together).
pub fn strip_identity_headers(headers: &mut HeaderMap, slug: &str) {
    // Runs on every request: no allocation unless something is to be removed.
    let spoofed: Vec<HeaderName> =
        headers.keys().filter(|name| is_identity_header(name.as_str(), slug)).cloned().collect();
    for name in spoofed {
        headers.remove(&name);
    }
}

/// Whether `name` (lowercase, as `http` stores it) is `x-<slug>-user-…` or `x-<slug>-auth-…`,
/// reading `_` as `-`.
fn is_identity_header(name: &str, slug: &str) -> bool {
    let mut folded = name.bytes().map(|b| if b == b'_' { b'-' } else { b });
    let mut take = |expected: &[u8]| expected.iter().all(|e| folded.next() == Some(*e));
    if !(take(b"x-") && take(slug.as_bytes()) && take(b"-")) {
        return false;
    }
    let kind: Vec<u8> = folded.take(5).collect();
    kind == b"user-" || kind == b"auth-"
}

/// Sets `x-<slug>-user-{id,email,role,orgs}` for a verified user.
pub fn insert_identity_headers(headers: &mut HeaderMap, names: &IdentityHeaderNames, user: &AuthUser) {
    for (name, (_, value)) in names.parsed.iter().zip(names.text.values(user.session_view(), user.role())) {
        // Values come from airlock's JSON; one that is not a valid header value (a control
        // character in a name) is left out rather than mangled.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name.clone(), value);
        }
    }
}

/// The identity header names of one app, parsed once when the layer is built.
#[derive(Debug, Clone)]
pub struct IdentityHeaderNames {
    pub text: IdentityHeaders,
    /// id, email, role, orgs: in the order of [`IdentityHeaders::values`].
    parsed: [HeaderName; 4],
    pub degraded: HeaderName,
}

impl IdentityHeaderNames {
    /// `None` for a slug that does not make valid header names (the builder checks slugs).
    pub fn for_slug(slug: &str) -> Option<Self> {
        let text = IdentityHeaders::for_slug(slug);
        let name = |n: &str| HeaderName::try_from(n).ok();
        Some(Self {
            parsed: [name(&text.user_id)?, name(&text.user_email)?, name(&text.user_role)?, name(&text.user_orgs)?],
            degraded: name(&text.auth_degraded)?,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_spelling_of_the_identity_headers() {
        let mut headers = HeaderMap::new();
        for name in [
            "x-lore-user-id",
            "X-Lore-User-Role",
            "X-LORE-USER-EMAIL",
            "x_lore_user_orgs",
            "x-lore_user-id",
            "x-lore-auth-degraded",
            "X_LORE_AUTH_ANYTHING",
            "x-lore-user-",
        ] {
            headers.append(HeaderName::try_from(name).unwrap(), HeaderValue::from_static("spoofed"));
        }
        headers.insert("x-lore-other", HeaderValue::from_static("kept"));
        headers.insert("x-hubble-user-id", HeaderValue::from_static("kept"));
        headers.insert("cookie", HeaderValue::from_static("a=b"));
        strip_identity_headers(&mut headers, "lore");
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        left.sort();
        assert_eq!(left, ["cookie", "x-hubble-user-id", "x-lore-other"]);
    }
}
