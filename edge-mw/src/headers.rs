//! Identity headers: stripped from every incoming request first, then set from airlock's answer.
//! Pure functions over `http::HeaderMap`.

use http::{HeaderMap, HeaderName, HeaderValue};
use shared::names::IdentityHeaders;
use shared::{AppRole, RoleMapping, SessionView};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

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

/// A verified caller's view, with what the middleware derives from it for the app.
///
/// One verdict answers many requests (from the cache, or joined to a call in flight), so the
/// role and the identity header values are derived once per verdict, not once per request.
#[derive(Debug)]
pub struct Identity {
    pub view: Arc<SessionView>,
    derived: OnceLock<Derived>,
}

#[derive(Debug)]
pub struct Derived {
    pub role: AppRole,
    /// `x-<slug>-user-{id,email,role,orgs}`, set on the request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Identity {
    pub fn new(view: Arc<SessionView>) -> Self {
        Self { view, derived: OnceLock::new() }
    }

    /// The role and identity headers under `mapping` and `names`. A verdict only ever comes
    /// from the client (or verifier) of one layer, so these are always the same for it.
    pub fn derived(&self, mapping: &RoleMapping, names: &IdentityHeaderNames) -> &Derived {
        self.derived.get_or_init(|| {
            let role = mapping.role_of(&self.view);
            let headers = names
                .parsed
                .iter()
                .zip(names.text.values(&self.view, role))
                // Values come from airlock's JSON; one that is not a valid header value (a
                // control character in a name) is left out rather than mangled.
                .filter_map(|(name, (_, value))| Some((name.clone(), HeaderValue::from_str(&value).ok()?)))
                .collect();
            Derived { role, headers }
        })
    }
}

/// Sets the identity headers of a verified caller.
pub fn insert_identity_headers(headers: &mut HeaderMap, derived: &Derived) {
    headers.reserve(derived.headers.len());
    for (name, value) in &derived.headers {
        headers.insert(name.clone(), value.clone());
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
        let name = |n: &str| static_name(n);
        Some(Self {
            parsed: [name(&text.user_id)?, name(&text.user_email)?, name(&text.user_role)?, name(&text.user_orgs)?],
            degraded: name(&text.auth_degraded)?,
            text,
        })
    }
}

/// `name` as a header name backed by a `'static` string, made once per distinct name.
///
/// Each request gets a clone of these names. A name parsed at run time is reference-counted,
/// and with every request bumping the same count, two runtime workers bounce its cache line
/// between them (`bytes::shared_clone` showed in perf); a static name clones as a plain copy.
/// The names are interned, so building many layers for the same slug leaks nothing more.
fn static_name(name: &str) -> Option<HeaderName> {
    static INTERNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    // Validated (and lowercased) first: `from_static` panics on an invalid name.
    let parsed = HeaderName::try_from(name).ok()?;
    let mut interned = INTERNED.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    let name = match interned.get(parsed.as_str()) {
        Some(name) => *name,
        None => {
            let leaked: &'static str = Box::leak(parsed.as_str().to_owned().into_boxed_str());
            interned.insert(leaked);
            leaked
        }
    };
    Some(HeaderName::from_static(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_derived_once_per_verdict() {
        let view: SessionView = serde_json::from_value(serde_json::json!({
            "user": {"id": "usr_1", "email": "ada@example.com", "name": "Ada", "roles": []},
            "orgs": [{"id": "org_1", "slug": "acme", "name": "Acme", "role": "operator"},
                     {"id": "org_2", "slug": "globex", "name": "Globex", "role": "viewer"}],
            "auth": {"method": "session", "scopes": ["*"]}
        }))
        .unwrap();
        let identity = Identity::new(Arc::new(view));
        let names = IdentityHeaderNames::for_slug("lore").unwrap();
        let derived = identity.derived(&RoleMapping::default(), &names);
        assert_eq!(derived.role, AppRole::Operator);
        let mut headers = HeaderMap::new();
        headers.insert("x-other", HeaderValue::from_static("kept"));
        insert_identity_headers(&mut headers, derived);
        assert_eq!(headers["x-lore-user-id"], "usr_1");
        assert_eq!(headers["x-lore-user-email"], "ada@example.com");
        assert_eq!(headers["x-lore-user-role"], "operator");
        assert_eq!(headers["x-lore-user-orgs"], "acme,globex");
        assert_eq!(headers["x-other"], "kept");
        // Later requests answered by the same verdict get the very same values.
        assert!(std::ptr::eq(derived, identity.derived(&RoleMapping::default(), &names)));
    }

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

    #[test]
    fn header_names_are_interned_and_checked() {
        let a = IdentityHeaderNames::for_slug("Lore").unwrap();
        let b = IdentityHeaderNames::for_slug("lore").unwrap();
        assert_eq!(a.parsed[0], "x-lore-user-id");
        assert!(std::ptr::eq(a.parsed[0].as_str(), b.parsed[0].as_str()), "one leaked string per name");
        assert!(IdentityHeaderNames::for_slug("lo re").is_none());
    }
}
