//! Headless service tokens for CI and machine-to-machine use (contract section 6): short-lived,
//! tenant-scoped, read-only JWTs with `sub = svc:<tenant>` and `is_service_account: true`,
//! revocable (a revoked token is refused by airlock at once and published in the revocation
//! list edge-mw polls).

use crate::error::{Error, Result};
use crate::secrets::new_id;
use crate::service::Airlock;
use crate::store::{Durability, Record, Records, Spec};
use crate::tokens::keys::{Claims, KeyAlg};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// A service token as kept: enough to refuse it once revoked. The JWT itself is not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTokenRecord {
    /// Also the JWT's `jti`.
    pub id: String,
    pub tenant_id: String,
    pub scopes: Vec<String>,
    pub resource_id: Option<String>,
    /// Who issued it (an email), for the audit trail.
    pub issued_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The owner the store lists revoked service tokens under.
const REVOKED: &str = "revoked";

/// Service tokens: `service_token:<id>` on Redis, with the token's expiry, and revoked ones in
/// the sorted set `revoked_service_tokens` scored by expiry; the `service_tokens` table
/// embedded. The layout of the store before the record collections, so it reads in place.
impl Record for ServiceTokenRecord {
    const SPEC: Spec =
        Spec { name: "service_token", table: "service_tokens", all: None, owned: Some("{owner}_service_tokens") };

    fn id(&self) -> &str {
        &self.id
    }

    fn owner(&self) -> Option<String> {
        self.revoked_at.map(|_| REVOKED.to_owned())
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        Some(self.expires_at)
    }
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct ServiceTokenRequest {
    pub tenant_id: String,
    pub scopes: Vec<String>,
    pub resource_id: Option<String>,
    pub ttl: Duration,
    pub alg: KeyAlg,
}

fn check_label(what: &str, value: &str) -> Result<String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::bad_request(format!("{what} must be 1-128 letters, digits, `-`, `_` or `.`")))
    }
}

/// Only read scopes: `read`, or `read:<thing>`.
pub fn check_read_scopes(scopes: &[String]) -> Result<Vec<String>> {
    if scopes.is_empty() {
        return Err(Error::bad_request("scopes must not be empty"));
    }
    scopes
        .iter()
        .map(|scope| {
            let scope = scope.trim();
            let thing = scope.strip_prefix("read:");
            let ok = scope == "read" || thing.is_some_and(|t| check_label("a scope", t).is_ok());
            if ok {
                Ok(scope.to_owned())
            } else {
                Err(Error::bad_request(format!("`{scope}` is not a read scope: service tokens are read-only")))
            }
        })
        .collect()
}

impl Airlock {
    /// Issues a service token: the record, and the JWT (shown once).
    pub async fn issue_service_token(
        &self,
        request: ServiceTokenRequest,
        issued_by: &str,
        max_ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<(ServiceTokenRecord, String)> {
        let tenant_id = check_label("tenant_id", &request.tenant_id)?;
        let scopes = check_read_scopes(&request.scopes)?;
        let resource_id = request.resource_id.as_deref().map(|r| check_label("resource_id", r)).transpose()?;
        if request.ttl.is_zero() || request.ttl > max_ttl {
            return Err(Error::bad_request(format!(
                "ttl_seconds must be between 1 and {} (service_token_max_ttl)",
                max_ttl.as_secs()
            )));
        }
        let keys = self.keys()?;
        let expires_at = now + request.ttl;
        let record = ServiceTokenRecord {
            id: new_id("svc"),
            tenant_id,
            scopes,
            resource_id,
            issued_by: issued_by.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let claims = Claims {
            iss: keys.issuer.clone(),
            sub: format!("svc:{}", record.tenant_id),
            aud: keys.audiences.clone(),
            exp: expires_at.unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: record.id.clone(),
            scope: record.scopes.join(" "),
            resources: record.resource_id.as_ref().map(|r| vec![format!("urc-{r}")]),
            tenant_id: Some(record.tenant_id.clone()),
            is_service_account: Some(true),
            client_id: None,
        };
        let jwt = keys.ring().sign(request.alg, &claims)?;
        self.store.insert(&record).await?;
        Ok((record, jwt))
    }

    /// Revokes a service token by id.
    pub async fn revoke_service_token(&self, id: &str, now: OffsetDateTime) -> Result<ServiceTokenRecord> {
        let mut record: ServiceTokenRecord =
            self.store.get(id).await?.ok_or_else(|| Error::not_found(format!("service token {id}")))?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(now);
            // A revocation: it must survive a failover before it is answered.
            self.store.put(&record, Durability::Replicated).await?;
        } else {
            // Revoked already, perhaps by an earlier attempt that answered 503.
            self.store.fence().await?;
        }
        Ok(record)
    }

    /// Checks a verified service-token JWT against its record: known and not revoked.
    pub async fn check_service_token(&self, claims: &Claims) -> Result<ServiceTokenRecord> {
        const REFUSED: Error = Error::Unauthenticated("invalid or revoked service token");
        let record: ServiceTokenRecord = self.store.get(&claims.jti).await?.ok_or(REFUSED)?;
        if record.revoked_at.is_some() || Some(&record.tenant_id) != claims.tenant_id.as_ref() {
            return Err(REFUSED);
        }
        Ok(record)
    }

    /// Ids of revoked service tokens that have not expired yet: the list edge-mw polls.
    pub async fn revoked_service_tokens(&self) -> Result<Vec<ServiceTokenRecord>> {
        let mut revoked: Vec<ServiceTokenRecord> = self.store.owned_by(REVOKED).await?;
        revoked.sort_by_key(|t| t.created_at);
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_scopes() {
        assert_eq!(check_read_scopes(&["read:repo".into(), "read:blob".into()]).unwrap(), ["read:repo", "read:blob"]);
        assert!(check_read_scopes(&["read".into()]).is_ok());
        for bad in ["write:repo", "write", "*", "read:", "readx", "control", "read:a b"] {
            assert!(check_read_scopes(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(check_read_scopes(&[]).is_err());
    }
}
