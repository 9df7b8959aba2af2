//! The answer of `GET /api/auth/session` (contract section 3).

use crate::roles::{GlobalRole, OrgRole};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who is calling, their orgs, the session and how they authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub user: UserView,
    pub orgs: Vec<OrgView>,
    /// Absent for bearer credentials that are not a browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionInfo>,
    pub auth: AuthInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<GlobalRole>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Session,
    ApiToken,
    AccessToken,
    ServiceToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    pub method: AuthMethod,
    pub scopes: Vec<String>,
    /// For repository-scoped and service tokens: the `urc-<id>` / `urc-*` they may access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// For an OAuth access token: the client it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl AuthInfo {
    pub fn new(method: AuthMethod, scopes: Vec<String>) -> Self {
        Self { method, scopes, resources: None, client_id: None }
    }
}

impl SessionView {
    pub fn has_role(&self, role: GlobalRole) -> bool {
        self.user.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_example() {
        let body = r#"{
          "user": {"id": "usr_1", "email": "ada@example.com", "name": "Ada", "roles": ["operator"]},
          "orgs": [{"id": "org_1", "slug": "acme", "name": "Acme", "role": "operator"}],
          "session": {"id": "ses_1", "created_at": "2026-11-23T10:00:00Z", "expires_at": "2026-11-30T10:00:00Z"},
          "auth": {"method": "session", "scopes": ["*"]}
        }"#;
        let view: SessionView = serde_json::from_str(body).unwrap();
        assert!(view.has_role(GlobalRole::Operator));
        assert_eq!(view.orgs[0].role, OrgRole::Operator);
        assert_eq!(view.auth.method, AuthMethod::Session);
        let again: SessionView = serde_json::from_str(&serde_json::to_string(&view).unwrap()).unwrap();
        assert_eq!(again, view);
    }
}
