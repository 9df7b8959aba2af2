//! OAuth scopes: OpenID Connect's (`openid`, `profile`, `email`, `offline_access`), `orgs` (the
//! caller's orgs in the ID token and userinfo), and airlock's own API scopes (`read`, `write`,
//! …, see `tokens::scopes`). Kept as a sorted, deduplicated list.

use crate::error::{Error, Result};
use crate::tokens::scopes::Scope;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Scopes of OpenID Connect and airlock's identity claims.
pub const IDENTITY_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "orgs"];

/// What a client registered without scopes may ask for.
pub const DEFAULT_CLIENT_SCOPES: &str = "openid profile email offline_access";

/// Longest scope parameter read.
const MAX_SCOPE_LEN: usize = 1024;

/// A set of scopes, sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OAuthScopes(Vec<String>);

/// Parses a space-separated scope parameter; an unknown scope is `invalid_scope`.
pub fn parse(text: &str) -> Result<OAuthScopes> {
    if text.len() > MAX_SCOPE_LEN {
        return Err(invalid_scope("the scope parameter is too long"));
    }
    let mut scopes = Vec::new();
    for scope in text.split(' ').filter(|s| !s.is_empty()) {
        if !IDENTITY_SCOPES.contains(&scope) && Scope::from_str(scope).is_err() {
            return Err(invalid_scope(format!("unknown scope `{}`", scope.escape_debug())));
        }
        scopes.push(scope.to_owned());
    }
    scopes.sort();
    scopes.dedup();
    Ok(OAuthScopes(scopes))
}

fn invalid_scope(description: impl Into<String>) -> Error {
    Error::OAuth { status: 400, code: "invalid_scope", description: description.into() }
}

impl OAuthScopes {
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &OAuthScopes) -> bool {
        self.iter().all(|s| other.contains(s))
    }

    /// airlock's own API scopes among them (what an access token lets its holder do here).
    pub fn api_scopes(&self) -> Vec<Scope> {
        self.iter().filter_map(|s| Scope::from_str(s).ok()).collect()
    }

    /// Space-separated, as OAuth writes them.
    pub fn to_text(&self) -> String {
        self.0.join(" ")
    }
}

impl std::fmt::Display for OAuthScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What a scope lets the client do, in words, for the consent page.
pub fn in_words(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are",
        "profile" => "See your name",
        "email" => "See your email address",
        "offline_access" => "Stay signed in when you are away",
        "orgs" => "See your organisations and your role in each",
        "read" => "Read data in your name",
        "write" => "Read and change data in your name",
        "control" => "Operate services in your name",
        "audit" => "Read the audit log",
        "*" => "Do everything you can do",
        _ => "Something airlock does not know",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_sorted_and_unique_and_unknown_ones_are_refused() {
        let scopes = parse("profile openid  openid read").unwrap();
        assert_eq!(scopes.to_text(), "openid profile read");
        assert_eq!(scopes.api_scopes(), vec![Scope::Read]);
        assert!(parse("openid").unwrap().is_subset_of(&scopes));
        assert!(!parse("write").unwrap().is_subset_of(&scopes));
        assert!(parse("openid admin:everything").is_err());
        assert!(parse(&"openid ".repeat(300)).is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
