//! Repository grants and RFC 8693 token exchange (contract section 6): a user, or an org they
//! belong to, is granted `urc-<id>` (or `urc-*`) with scopes; a user's token is exchanged for a
//! short-lived JWT whose `resources` names the repository. No grant: `invalid_target`,
//! authenticated but not authorized.

use crate::error::{Error, Result};
use crate::secrets::new_id;
use crate::service::Airlock;
use crate::store::{Membership, Record, Records, Spec, UserRecord};
use crate::tokens::keys::{Claims, KeyAlg};
use crate::tokens::scopes::{Scope, has_scope, names};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Grantee {
    User(String),
    Org(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub grantee: Grantee,
    /// `urc-<id>` or `urc-*`.
    pub resource: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Grants: `grant:<id>` listed in `grants` on Redis, the `grants` table embedded (the layout
/// from before the record collections).
impl Record for GrantRecord {
    const SPEC: Spec = Spec { name: "grant", table: "grants", all: Some("grants"), owned: None };

    fn id(&self) -> &str {
        &self.id
    }
}

/// `urc-<id>` (id: letters, digits, `-`, `_`, `.`) or `urc-*`.
pub fn check_resource(resource: &str) -> Result<String> {
    let resource = resource.trim();
    let ok = match resource.strip_prefix("urc-") {
        Some("*") => true,
        Some(id) => {
            !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        None => false,
    };
    if ok { Ok(resource.to_owned()) } else { Err(Error::bad_request("a resource is urc-<id> or urc-*")) }
}

impl GrantRecord {
    /// Whether this grant covers `resource` (a concrete `urc-<id>`).
    pub fn covers(&self, resource: &str) -> bool {
        self.resource == "urc-*" || self.resource == resource
    }

    fn applies_to(&self, user: &UserRecord, memberships: &[Membership]) -> bool {
        match &self.grantee {
            Grantee::User(id) => *id == user.id,
            Grantee::Org(id) => memberships.iter().any(|m| m.org.id == *id),
        }
    }
}

/// The answer of a token exchange.
#[derive(Debug)]
pub struct Exchanged {
    pub access_token: String,
    pub expires_in: i64,
    pub scopes: Vec<Scope>,
}

impl Airlock {
    /// Grants `resource` to a user (by email) or an org (by slug).
    pub async fn add_grant(
        &self,
        user: Option<&str>,
        org: Option<&str>,
        resource: &str,
        scopes: Vec<Scope>,
    ) -> Result<GrantRecord> {
        let grantee = match (user, org) {
            (Some(email), None) => Grantee::User(self.find_user(email).await?.id),
            (None, Some(slug)) => Grantee::Org(self.find_org(slug).await?.id),
            _ => return Err(Error::bad_request("name exactly one of user or org")),
        };
        let scopes = if scopes.is_empty() { vec![Scope::Read] } else { scopes };
        let grant = GrantRecord {
            id: new_id("grt"),
            grantee,
            resource: check_resource(resource)?,
            scopes,
            created_at: crate::service::now(),
        };
        self.store.insert(&grant).await?;
        Ok(grant)
    }

    /// Every grant (a deployment has few), oldest first.
    pub async fn list_grants(&self) -> Result<Vec<GrantRecord>> {
        let mut grants: Vec<GrantRecord> = self.store.all().await?;
        grants.sort_by_key(|g| g.created_at);
        Ok(grants)
    }

    /// Exchanges a user's credential (already authenticated: `user`, `memberships`, and the
    /// scopes the credential holds) for a JWT scoped to `audience` (`urc-<id>`).
    pub async fn exchange_for_resource(
        &self,
        user: &UserRecord,
        memberships: &[Membership],
        held: &[Scope],
        audience: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Exchanged> {
        let resource = check_resource(audience).map_err(|_| Error::OAuth {
            status: 400,
            code: "invalid_target",
            description: "audience must be urc-<repository id> or urc-*".to_owned(),
        })?;
        let granted: Vec<Scope> = self
            .list_grants()
            .await?
            .into_iter()
            .filter(|g| g.applies_to(user, memberships) && g.covers(&resource))
            .flat_map(|g| g.scopes)
            .collect();
        // What the grant gives, cut down to what the presented credential holds.
        let mut scopes: Vec<Scope> = granted.into_iter().filter(|s| has_scope(held, *s)).collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Error::OAuth {
                status: 400,
                code: "invalid_target",
                description: format!("authenticated, but not authorized for {resource}"),
            });
        }
        let keys = self.keys()?;
        let claims = Claims {
            iss: keys.issuer.clone(),
            sub: user.id.clone(),
            aud: keys.audiences.clone(),
            exp: (now + ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: new_id("jti"),
            scope: names(&scopes).join(" "),
            resources: Some(vec![resource]),
            tenant_id: None,
            is_service_account: None,
            client_id: None,
        };
        let access_token = keys.ring().sign(KeyAlg::Rs256, &claims)?;
        Ok(Exchanged { access_token, expires_in: ttl.whole_seconds(), scopes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        assert_eq!(check_resource("urc-42").unwrap(), "urc-42");
        assert!(check_resource("urc-*").is_ok() && check_resource("urc-a.b_c-1").is_ok());
        for bad in ["42", "urc-", "urc-a b", "URC-1", "urc-**", "urc-1/2"] {
            assert!(check_resource(bad).is_err(), "{bad}");
        }
        let grant = |resource: &str| GrantRecord {
            id: "g".into(),
            grantee: Grantee::User("u".into()),
            resource: resource.into(),
            scopes: vec![Scope::Read],
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(grant("urc-*").covers("urc-42") && grant("urc-42").covers("urc-42"));
        assert!(!grant("urc-4").covers("urc-42"));
    }
}
