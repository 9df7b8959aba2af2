//! Tokens (contract section 6): signing keys and JWTs ([`keys`]), the scope hierarchy
//! ([`scopes`]), headless service tokens ([`service_tokens`]), repository grants and the token
//! exchange ([`grants`]), and, here, API tokens: `alk_` secrets shown once, SHA-256 at rest, scopes from the
//! hierarchy in [`scopes`], optional expiry, a cap on active tokens per user, and never
//! more power than whoever creates them.

pub mod grants;
pub mod keys;
pub mod scopes;
pub mod service_tokens;

use crate::error::{Error, Result};
use crate::secrets::{hash_secret, looks_like_api_token, new_api_token, new_id, secure_eq};
use crate::service::Airlock;
use crate::store::{Collection, Durability, Membership, Record, Records, Spec, UserRecord};
use crate::tokens::scopes::{Scope, TokenRole, covers, has_scope, user_power};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An API token. The secret itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub token_hash: String,
    pub scopes: Vec<Scope>,
    pub role: Option<TokenRole>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// API tokens: `token:<id>`, found by `token_token:<sha256>`, listed per user in
/// `user_tokens:<user id>` on Redis; the `tokens` table embedded. Kept after revocation or expiry
/// (for `token list --all`): no store expiry.
impl Record for TokenRecord {
    const SPEC: Spec = Spec { name: "token", table: "tokens", all: None, owned: Some("user_tokens:{owner}") };

    fn id(&self) -> &str {
        &self.id
    }

    fn unique_keys(&self) -> Vec<(&'static str, String)> {
        vec![(BY_HASH, self.token_hash.clone())]
    }

    /// The user, as `Store::load_credential` requires.
    fn owner(&self) -> Option<String> {
        Some(self.user_id.clone())
    }
}

/// The unique key an API token is found by: the SHA-256 of its secret.
const BY_HASH: &str = "token";

/// A token with its user and memberships, for bearer authentication in one store call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBundle {
    pub token: TokenRecord,
    pub user: UserRecord,
    pub memberships: Vec<Membership>,
}

/// Longest expiry a token may be given.
pub const MAX_EXPIRES_DAYS: u32 = 3650;

/// A token to create.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    /// Explicit scopes; or a role; or neither (a viewer token: `read`).
    pub scopes: Option<Vec<Scope>>,
    pub role: Option<TokenRole>,
    pub expires_days: Option<u32>,
}

/// A created token: the record and the secret, which exists only in this answer.
#[derive(Debug)]
pub struct IssuedToken {
    pub record: TokenRecord,
    pub secret: String,
}

fn check_token_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::bad_request("a token name is 1-64 letters, digits, `-`, `_` or `.`"))
    }
}

/// What a token may do now: its scopes, cut down to what its user may still do (a demoted
/// user's tokens lose power with them).
pub fn effective_scopes(token: &[Scope], user: &UserRecord) -> Vec<Scope> {
    let power = user_power(&user.roles);
    let mut scopes: Vec<Scope> = token.iter().copied().filter(|s| has_scope(&power, *s)).collect();
    if token.contains(&Scope::All) && !scopes.contains(&Scope::All) {
        scopes.extend(power);
    }
    scopes.sort();
    scopes.dedup();
    scopes
}

impl Airlock {
    /// Creates a token for `owner`. `caller_power` is what the creating credential holds: a
    /// token is never given a scope outside it.
    pub async fn create_token(
        &self,
        owner: &UserRecord,
        caller_power: &[Scope],
        new: NewToken,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<IssuedToken> {
        let name = check_token_name(&new.name)?;
        let mut scopes = match (new.scopes, new.role) {
            (Some(_), Some(_)) => return Err(Error::bad_request("give scopes or a role, not both")),
            (Some(scopes), None) if scopes.is_empty() => return Err(Error::bad_request("scopes must not be empty")),
            (Some(scopes), None) => scopes,
            (None, Some(role)) => role.scopes(),
            (None, None) => TokenRole::Viewer.scopes(),
        };
        scopes.sort();
        scopes.dedup();
        if !covers(caller_power, &scopes) {
            return Err(Error::forbidden("a token cannot be given more power than the credential creating it"));
        }
        if !covers(&user_power(&owner.roles), &scopes) {
            return Err(Error::forbidden("a token cannot be given more power than its user has"));
        }
        let expires_at = match new.expires_days {
            Some(0) => return Err(Error::bad_request("expires_days must be at least 1")),
            Some(days) if days > MAX_EXPIRES_DAYS => {
                return Err(Error::bad_request(format!("expires_days must be at most {MAX_EXPIRES_DAYS}")));
            }
            Some(days) => Some(now + time::Duration::days(i64::from(days))),
            None => None,
        };
        let active: Vec<TokenRecord> =
            self.tokens_of(&owner.id).await?.into_iter().filter(|t| t.is_active(now)).collect();
        if active.iter().any(|t| t.name == name) {
            return Err(Error::conflict(format!("token {name}")));
        }
        if active.len() >= self.max_tokens_per_user {
            return Err(Error::bad_request(format!(
                "{} already has {} active tokens, the maximum; revoke one first",
                owner.email,
                active.len()
            )));
        }
        let secret = new_api_token();
        let record = TokenRecord {
            id: new_id("tok"),
            name,
            user_id: owner.id.clone(),
            token_hash: hash_secret(&secret),
            scopes,
            role: new.role,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.insert(&record).await?;
        self.audit(crate::audit::AuditEvent::new("token.create").actor(actor).subject(&record.id)).await;
        Ok(IssuedToken { record, secret })
    }

    /// A user's tokens: active ones, or with `all` also revoked and expired ones.
    pub async fn list_tokens(&self, user_id: &str, all: bool, now: OffsetDateTime) -> Result<Vec<TokenRecord>> {
        let tokens = self.tokens_of(user_id).await?;
        Ok(tokens.into_iter().filter(|t| all || t.is_active(now)).collect())
    }

    /// Revokes a user's token by id (`tok_…`) or by the name of an active one.
    /// Revokes a token of `user_id`, audited as done by `actor`.
    pub async fn revoke_token(
        &self,
        user_id: &str,
        id_or_name: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<TokenRecord> {
        let tokens = self.tokens_of(user_id).await?;
        let mut token = tokens
            .into_iter()
            .find(|t| t.id == id_or_name || (t.name == id_or_name && t.is_active(now)))
            .ok_or_else(|| Error::not_found(format!("token {id_or_name}")))?;
        if token.revoked_at.is_none() {
            token.revoked_at = Some(now);
            // A revocation: it must survive a failover before it is answered.
            self.store.put(&token, Durability::Replicated).await?;
        } else {
            // Revoked already, perhaps by an earlier attempt that answered 503.
            self.store.fence().await?;
        }
        self.audit(crate::audit::AuditEvent::new("token.revoke").actor(actor).subject(&token.id)).await;
        Ok(token)
    }

    /// The live check of an API token: active, its user enabled. Compared in constant time
    /// after the lookup by hash.
    pub async fn authenticate_token(&self, secret: &str, now: OffsetDateTime) -> Result<TokenBundle> {
        const REFUSED: Error = Error::Unauthenticated("invalid, expired or revoked token");
        if !looks_like_api_token(secret) {
            return Err(REFUSED);
        }
        let hash = hash_secret(secret);
        let bundle = match self.store.load_credential(Collection::of::<TokenRecord>(), BY_HASH, &hash).await? {
            Some(found) => Some(TokenBundle {
                token: crate::store::collection::decode(&found.record)?,
                user: found.user,
                memberships: found.memberships,
            }),
            None => None,
        };
        match bundle {
            Some(bundle)
                if secure_eq(&bundle.token.token_hash, &hash)
                    && bundle.token.is_active(now)
                    && !bundle.user.disabled =>
            {
                Ok(bundle)
            }
            Some(bundle) => {
                // A known token, refused (revoked, expired, user disabled): worth an audit line.
                let event = crate::audit::AuditEvent::new("token.auth.fail").actor(&bundle.user.email);
                self.audit(event.subject(&bundle.token.id).failed()).await;
                Err(REFUSED)
            }
            None => Err(REFUSED),
        }
    }

    /// Every token of a user, oldest first.
    async fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenRecord>> {
        let mut tokens: Vec<TokenRecord> = self.store.owned_by(user_id).await?;
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    /// Revokes every active token of a user (when the user is disabled).
    pub async fn revoke_tokens_of(&self, user_id: &str, now: OffsetDateTime) -> Result<usize> {
        let mut count = 0;
        for mut token in self.tokens_of(user_id).await? {
            if token.is_active(now) {
                token.revoked_at = Some(now);
                self.store.put(&token, Durability::Replicated).await?;
                count += 1;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::GlobalRole;

    fn user(roles: Vec<GlobalRole>) -> UserRecord {
        UserRecord {
            id: "usr_1".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            password_hash: None,
            roles,
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn tokens_lose_power_with_their_user() {
        use Scope::*;
        assert_eq!(effective_scopes(&[All], &user(vec![GlobalRole::Admin])), vec![All]);
        assert_eq!(effective_scopes(&[All], &user(vec![GlobalRole::Operator])), vec![Control, Write, Read]);
        assert_eq!(effective_scopes(&[Control, Write, Read], &user(vec![])), vec![Read]);
        assert_eq!(effective_scopes(&[Read, Audit], &user(vec![GlobalRole::Auditor])), vec![Read, Audit]);
    }

    #[test]
    fn names() {
        assert_eq!(check_token_name(" ci-bot ").unwrap(), "ci-bot");
        assert!(check_token_name("").is_err() && check_token_name("a b").is_err());
        assert!(check_token_name(&"a".repeat(65)).is_err());
    }
}
