//! Cookie and header names of the contract.

/// The session cookie in production: the `__Secure-` prefix makes browsers refuse it unless it
/// is `Secure` and set over HTTPS.
pub const SESSION_COOKIE: &str = "__Secure-airlock_session";

/// The session cookie under `--dev` (plain HTTP on localhost cannot carry a `__Secure-` cookie).
pub const DEV_SESSION_COOKIE: &str = "airlock_session";

/// Both names, in the order a reader should try them.
pub const SESSION_COOKIE_NAMES: [&str; 2] = [SESSION_COOKIE, DEV_SESSION_COOKIE];

/// Prefix of the identity headers an app receives: `x-<slug>-user-id`, `x-<slug>-user-email`, ...
pub fn user_header_prefix(slug: &str) -> String {
    format!("x-{}-user-", slug.to_ascii_lowercase())
}

/// Prefix of the auth status headers an app receives: `x-<slug>-auth-degraded`, ...
pub fn auth_header_prefix(slug: &str) -> String {
    format!("x-{}-auth-", slug.to_ascii_lowercase())
}

/// The identity header names for one app slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user_id: String,
    pub user_email: String,
    pub user_role: String,
    pub user_orgs: String,
    pub auth_degraded: String,
}

impl IdentityHeaders {
    pub fn for_slug(slug: &str) -> Self {
        let user = user_header_prefix(slug);
        let auth = auth_header_prefix(slug);
        Self {
            user_id: format!("{user}id"),
            user_email: format!("{user}email"),
            user_role: format!("{user}role"),
            user_orgs: format!("{user}orgs"),
            auth_degraded: format!("{auth}degraded"),
        }
    }
}

impl IdentityHeaders {
    /// The identity headers for a verified caller, as (name, value) pairs: id, email, the app
    /// role, and the member orgs' slugs comma-separated.
    pub fn values(&self, view: &crate::SessionView, role: crate::AppRole) -> [(&str, String); 4] {
        let orgs: Vec<&str> = view.orgs.iter().map(|o| o.slug.as_str()).collect();
        [
            (self.user_id.as_str(), view.user.id.clone()),
            (self.user_email.as_str(), view.user.email.clone()),
            (self.user_role.as_str(), role.as_str().to_owned()),
            (self.user_orgs.as_str(), orgs.join(",")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_follow_the_slug() {
        let h = IdentityHeaders::for_slug("Lore");
        assert_eq!(h.user_id, "x-lore-user-id");
        assert_eq!(h.user_orgs, "x-lore-user-orgs");
        assert_eq!(h.auth_degraded, "x-lore-auth-degraded");
    }
}
