//! What the stores keep. Serialized as JSON in both backends.

use serde::{Deserialize, Serialize};
use shared::{GlobalRole, OrgRole};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    /// Lowercased.
    pub email: String,
    pub name: String,
    /// Argon2id PHC string; `None` for a user who cannot sign in with a password.
    pub password_hash: Option<String>,
    pub roles: Vec<GlobalRole>,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub id: String,
    pub slug: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub org: OrgRecord,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    /// SHA-256 of the cookie's token (see `secrets::hash_secret`).
    pub token_hash: String,
    pub user_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl SessionRecord {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

/// A user and their memberships (sorted by org slug): whom a credential speaks for.
///
/// Stores hand principals out shared, and never change one in place: a change to the user or
/// their memberships makes a new one. So what is derived from a principal can be kept with it,
/// such as its part of the session view, rendered once instead of on every check.
#[derive(Debug)]
pub struct Principal {
    pub user: UserRecord,
    pub memberships: Vec<Membership>,
    /// Filled by `sessions` on first use.
    pub(crate) rendered: OnceLock<RenderedPrincipal>,
}

/// A principal's part of the session view (`user` and `orgs`), serialized once.
#[derive(Debug)]
pub struct RenderedPrincipal {
    pub user: Box<serde_json::value::RawValue>,
    pub orgs: Box<serde_json::value::RawValue>,
}

impl Principal {
    pub fn new(user: UserRecord, mut memberships: Vec<Membership>) -> Self {
        memberships.sort_by(|a, b| a.org.slug.cmp(&b.org.slug));
        Self { user, memberships, rendered: OnceLock::new() }
    }
}

/// A session with what the session check needs to answer: whom it speaks for.
#[derive(Debug, Clone)]
pub struct SessionBundle {
    /// Shared: the embedded store hands out the record it holds.
    pub session: Arc<SessionRecord>,
    pub principal: Arc<Principal>,
}

/// A credential's record (its JSON, as stored) with its user and memberships, read together
/// for bearer authentication (see `Store::load_credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBundle {
    pub record: String,
    pub user: UserRecord,
    pub memberships: Vec<Membership>,
}

/// Most audit records kept in the store.
pub const AUDIT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// `auth.login.success`, `token.create`, `admin.user.create`, …
    pub event: String,
    /// Who acted (an email, `svc:<tenant>`, `cli`), if known.
    pub actor: Option<String>,
    /// What it was done to (a user, token id, session id, org…).
    pub subject: Option<String>,
    pub ip: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
}

/// What to filter a read by.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An event name, or a prefix ending in `*` (`admin.*`).
    pub event: Option<String>,
    pub actor: Option<String>,
    pub limit: usize,
}

impl AuditFilter {
    pub fn matches(&self, record: &AuditRecord) -> bool {
        let event = match &self.event {
            Some(e) => match e.strip_suffix('*') {
                Some(prefix) => record.event.starts_with(prefix),
                None => record.event == *e,
            },
            None => true,
        };
        event && self.actor.as_ref().is_none_or(|a| record.actor.as_deref() == Some(a.as_str()))
    }
}
