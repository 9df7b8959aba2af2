//! The token endpoint's grants: `authorization_code` (single use: a replayed code revokes what
//! it issued), `refresh_token` (rotated on every use, in families: a rotated token used again
//! within the grace period is still answered, so concurrent processes of one client are not
//! signed out; used later, it revokes its whole family), and `client_credentials` (only the
//! scopes an admin gave the client: fail closed).
//!
//! Access tokens are RFC 9068 JWTs (`typ: at+jwt`, `aud` the resource or airlock's own
//! audience, `client_id`, `scope`); ID tokens are RS256 JWTs for the client with `auth_time`,
//! `amr`, `acr`, `nonce`, and the claims the scopes allow.

use super::authorize::{CodeRecord, pkce_matches};
use super::clients::ClientRecord;
use super::scopes::{self, OAuthScopes};
use super::{GrantType, OAuthPolicy, invalid_grant, invalid_request, oauth_error};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::secrets::{hash_secret, new_id};
use crate::service::Airlock;
use crate::store::{Durability, Membership, Record, Records, Spec, UserRecord};
use crate::tokens::keys::{Claims, KeyAlg};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "alr_";

/// A refresh token, stored under the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub id: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: OAuthScopes,
    pub resource: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was exchanged for its successor.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub rotated_at: Option<OffsetDateTime>,
}

impl Record for RefreshRecord {
    const SPEC: Spec = Spec { name: "oauth_refresh", table: "oauth_refresh_tokens", all: None, owned: None };

    fn id(&self) -> &str {
        &self.id
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        Some(self.expires_at)
    }
}

/// The tokens descended from one authorization: revoked together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// As long as its newest refresh token.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Record for FamilyRecord {
    const SPEC: Spec =
        Spec { name: "oauth_family", table: "oauth_families", all: None, owned: Some("user_families:{owner}") };

    fn id(&self) -> &str {
        &self.id
    }

    fn owner(&self) -> Option<String> {
        Some(self.user_id.clone())
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        Some(self.expires_at)
    }
}

/// What the token endpoint answers.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: OAuthScopes,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

/// An access token's claims, read back (userinfo, introspection, the session API).
pub type AccessClaims = Claims;

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: [&'static str; 1],
    acr: &'static str,
    #[serde(flatten)]
    identity: IdentityClaims,
}

/// The claims about a person that scopes allow: in ID tokens and from userinfo.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Accounts are made by the organisation's admins, who vouch for the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Vec<OrgClaim>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrgClaim {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub role: String,
}

/// What `user` discloses under `scopes`.
pub fn identity_claims(user: &UserRecord, memberships: &[Membership], scopes: &OAuthScopes) -> IdentityClaims {
    IdentityClaims {
        email: scopes.contains("email").then(|| user.email.clone()),
        email_verified: scopes.contains("email").then_some(true),
        name: scopes.contains("profile").then(|| user.name.clone()),
        orgs: scopes.contains("orgs").then(|| {
            memberships
                .iter()
                .map(|m| OrgClaim {
                    id: m.org.id.clone(),
                    slug: m.org.slug.clone(),
                    name: m.org.name.clone(),
                    role: m.role.as_str().to_owned(),
                })
                .collect()
        }),
    }
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn ttl(duration: std::time::Duration) -> Result<time::Duration> {
    time::Duration::try_from(duration).map_err(Error::internal)
}

/// Who a user token speaks for, and under which authorization.
pub(super) struct Grant<'a> {
    pub client: &'a ClientRecord,
    pub user: &'a UserRecord,
    pub scopes: &'a OAuthScopes,
    pub resource: Option<&'a str>,
    pub auth_time: OffsetDateTime,
    pub nonce: Option<&'a str>,
    pub family: Option<&'a str>,
}

impl Airlock {
    /// `grant_type=authorization_code`.
    pub async fn redeem_code(
        &self,
        client: &ClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<TokenSet> {
        const BAD_CODE: &str = "the code is invalid, expired or already used";
        let read =
            self.store.get_versioned::<CodeRecord>(&hash_secret(code)).await?.ok_or_else(|| invalid_grant(BAD_CODE))?;
        let record = &read.record;
        if record.client_id != client.client_id {
            return Err(invalid_grant(BAD_CODE));
        }
        if record.redeemed {
            // A replay: whoever holds this code is not who redeemed it, or is redeeming twice.
            // What the first redemption issued is revoked (RFC 6749 section 4.1.2).
            if let Some(family) = &record.redeemed_family {
                self.revoke_family(family).await?;
            }
            self.audit(AuditEvent::new("oauth.code.replay").actor(&client.client_id).subject(&record.user_id).failed())
                .await;
            return Err(invalid_grant(BAD_CODE));
        }
        if record.expires_at <= now {
            return Err(invalid_grant(BAD_CODE));
        }
        if redirect_uri.is_some_and(|uri| uri != record.redirect_uri) {
            return Err(invalid_grant("redirect_uri differs from the authorization request's"));
        }
        let verifier = verifier.ok_or_else(|| invalid_request("code_verifier is required (PKCE)"))?;
        if !pkce_matches(verifier, &record.code_challenge) {
            return Err(invalid_grant("the code_verifier does not match the code_challenge"));
        }
        let user = self.active_user(&record.user_id).await?;
        let family =
            (record.scopes.contains("offline_access") && client.allows(GrantType::RefreshToken)).then(|| new_id("fam"));
        let redeemed = CodeRecord { redeemed: true, redeemed_family: family.clone(), ..record.clone() };
        if !self.store.swap(&redeemed, &read, Durability::Stored).await? {
            // Redeemed concurrently: one of the two is a replay.
            return Err(invalid_grant(BAD_CODE));
        }
        let memberships = self.store.memberships_of(&user.id).await?;
        let grant = Grant {
            client,
            user: &user,
            scopes: &record.scopes,
            resource: record.resource.as_deref(),
            auth_time: record.auth_time,
            nonce: record.nonce.as_deref(),
            family: family.as_deref(),
        };
        let tokens = self.issue(&grant, &memberships, policy, now, true).await?;
        self.audit(AuditEvent::new("oauth.token.issue").actor(&client.client_id).subject(&user.email)).await;
        Ok(tokens)
    }

    /// `grant_type=refresh_token`.
    pub async fn refresh(
        &self,
        client: &ClientRecord,
        token: &str,
        scope: Option<&str>,
        resource: Option<&str>,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<TokenSet> {
        const BAD_TOKEN: &str = "the refresh token is invalid, expired or revoked";
        if !client.allows(GrantType::RefreshToken) {
            return Err(oauth_error(400, "unauthorized_client", "this client may not use refresh tokens"));
        }
        let id = hash_secret(token);
        let mut read = self.store.get_versioned::<RefreshRecord>(&id).await?.ok_or_else(|| invalid_grant(BAD_TOKEN))?;
        if read.record.client_id != client.client_id || read.record.expires_at <= now {
            return Err(invalid_grant(BAD_TOKEN));
        }
        let family = self.store.get::<FamilyRecord>(&read.record.family_id).await?;
        if family.as_ref().is_none_or(|f| f.revoked) {
            return Err(invalid_grant(BAD_TOKEN));
        }
        // Rotate: mark this token used, once. Of concurrent uses, one marks it; the others see
        // it marked, inside the grace period.
        loop {
            match read.record.rotated_at {
                Some(rotated) if now - rotated <= ttl(policy.refresh_grace)? => break,
                Some(_) => {
                    // A rotated token used again later: stolen, or replayed. The family goes.
                    self.revoke_family(&read.record.family_id).await?;
                    self.audit(
                        AuditEvent::new("oauth.refresh.reuse")
                            .actor(&client.client_id)
                            .subject(&read.record.user_id)
                            .failed(),
                    )
                    .await;
                    return Err(invalid_grant(BAD_TOKEN));
                }
                None => {
                    let rotated = RefreshRecord { rotated_at: Some(now), ..read.record.clone() };
                    if self.store.swap(&rotated, &read, Durability::Stored).await? {
                        break;
                    }
                    read = self
                        .store
                        .get_versioned::<RefreshRecord>(&id)
                        .await?
                        .ok_or_else(|| invalid_grant(BAD_TOKEN))?;
                }
            }
        }
        let record = &read.record;
        let scopes = match scope.filter(|s| !s.trim().is_empty()) {
            Some(text) => {
                let asked = scopes::parse(text)?;
                if !asked.is_subset_of(&record.scopes) {
                    return Err(oauth_error(400, "invalid_scope", "a refresh may narrow the scopes, never widen them"));
                }
                asked
            }
            None => record.scopes.clone(),
        };
        if resource.is_some_and(|r| !r.is_empty() && Some(r) != record.resource.as_deref()) {
            return Err(oauth_error(400, "invalid_target", "the refresh token is bound to another resource"));
        }
        let user = self.active_user(&record.user_id).await?;
        let memberships = self.store.memberships_of(&user.id).await?;
        let grant = Grant {
            client,
            user: &user,
            scopes: &scopes,
            resource: record.resource.as_deref(),
            auth_time: record.auth_time,
            nonce: None,
            family: Some(&record.family_id),
        };
        self.issue(&grant, &memberships, policy, now, scopes.contains("openid")).await
    }

    /// `grant_type=client_credentials`: a token for the client itself (`sub` = its id), with
    /// the scopes an admin gave it, or fewer.
    pub async fn client_credentials(
        &self,
        client: &ClientRecord,
        scope: Option<&str>,
        resource: Option<&str>,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<TokenSet> {
        if client.is_public() || !client.allows(GrantType::ClientCredentials) {
            return Err(oauth_error(400, "unauthorized_client", "this client may not use client_credentials"));
        }
        let scopes = match scope.filter(|s| !s.trim().is_empty()) {
            Some(text) => scopes::parse(text)?,
            None => client.scopes.clone(),
        };
        if !scopes.is_subset_of(&client.scopes) || scopes.iter().any(|s| scopes::IDENTITY_SCOPES.contains(&s)) {
            return Err(oauth_error(400, "invalid_scope", "the client was not given these scopes"));
        }
        let audience = policy.audience_for(resource)?;
        let access_token = self.access_token(&client.client_id, client, &scopes, &audience, policy, now)?;
        self.audit(AuditEvent::new("oauth.token.issue").actor(&client.client_id).subject(&client.client_id)).await;
        Ok(TokenSet {
            access_token,
            expires_in: policy.access_token_ttl.as_secs(),
            scope: scopes,
            refresh_token: None,
            id_token: None,
        })
    }

    pub(super) async fn active_user(&self, user_id: &str) -> Result<UserRecord> {
        self.store
            .user_by_id(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| invalid_grant("the account is disabled or gone"))
    }

    fn access_token(
        &self,
        subject: &str,
        client: &ClientRecord,
        scopes: &OAuthScopes,
        audience: &str,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<String> {
        let claims = Claims {
            iss: policy.issuer.clone(),
            sub: subject.to_owned(),
            aud: vec![audience.to_owned()],
            exp: (now + ttl(policy.access_token_ttl)?).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: new_id("at"),
            scope: scopes.to_text(),
            resources: None,
            tenant_id: None,
            is_service_account: None,
            client_id: Some(client.client_id.clone()),
        };
        self.keys()?.ring().sign_as(KeyAlg::Rs256, "at+jwt", &claims)
    }

    /// The access token, and, as the grant allows, a refresh token (in the grant's family) and
    /// an ID token.
    pub(super) async fn issue(
        &self,
        grant: &Grant<'_>,
        memberships: &[Membership],
        policy: &OAuthPolicy,
        now: OffsetDateTime,
        with_id_token: bool,
    ) -> Result<TokenSet> {
        let audience = policy.audience_for(grant.resource)?;
        let access_token = self.access_token(&grant.user.id, grant.client, grant.scopes, &audience, policy, now)?;
        let refresh_token = match grant.family {
            Some(family_id) => {
                let token = new_refresh_token();
                let expires_at = now + ttl(policy.refresh_token_ttl)?;
                let family = FamilyRecord {
                    id: family_id.to_owned(),
                    user_id: grant.user.id.clone(),
                    client_id: grant.client.client_id.clone(),
                    revoked: false,
                    created_at: now,
                    expires_at,
                };
                // Extends the family to its newest token; a revoked family stays revoked.
                match self.store.get_versioned::<FamilyRecord>(family_id).await? {
                    Some(read) if read.record.revoked => return Err(invalid_grant("the refresh token was revoked")),
                    Some(read) => {
                        let extended = FamilyRecord { expires_at, ..read.record.clone() };
                        if !self.store.swap(&extended, &read, Durability::Stored).await? {
                            return Err(invalid_grant("the refresh token was revoked"));
                        }
                    }
                    None => self.store.insert(&family).await?,
                }
                let record = RefreshRecord {
                    id: hash_secret(&token),
                    family_id: family_id.to_owned(),
                    client_id: grant.client.client_id.clone(),
                    user_id: grant.user.id.clone(),
                    scopes: grant.scopes.clone(),
                    resource: grant.resource.map(str::to_owned),
                    auth_time: grant.auth_time,
                    expires_at,
                    rotated_at: None,
                };
                self.store.insert(&record).await?;
                Some(token)
            }
            None => None,
        };
        let id_token = if with_id_token && grant.scopes.contains("openid") {
            let claims = IdTokenClaims {
                iss: &policy.issuer,
                sub: &grant.user.id,
                aud: &grant.client.client_id,
                azp: &grant.client.client_id,
                exp: (now + ttl(policy.access_token_ttl)?).unix_timestamp(),
                iat: now.unix_timestamp(),
                auth_time: grant.auth_time.unix_timestamp(),
                nonce: grant.nonce,
                amr: ["pwd"],
                acr: "0",
                identity: identity_claims(grant.user, memberships, grant.scopes),
            };
            Some(self.keys()?.ring().sign_as(KeyAlg::Rs256, "JWT", &claims)?)
        } else {
            None
        };
        Ok(TokenSet {
            access_token,
            expires_in: policy.access_token_ttl.as_secs(),
            scope: grant.scopes.clone(),
            refresh_token,
            id_token,
        })
    }

    /// Revokes a refresh-token family: none of its tokens refreshes again. A revocation, so
    /// replicated before it is answered.
    pub async fn revoke_family(&self, family_id: &str) -> Result<()> {
        loop {
            let Some(read) = self.store.get_versioned::<FamilyRecord>(family_id).await? else { return Ok(()) };
            if read.record.revoked {
                return self.store.fence().await;
            }
            let revoked = FamilyRecord { revoked: true, ..read.record.clone() };
            if self.store.swap(&revoked, &read, Durability::Replicated).await? {
                return Ok(());
            }
        }
    }

    /// Revokes every family of `user_id` (of one client, if given): a disable, a consent
    /// withdrawn.
    pub async fn revoke_families_of(&self, user_id: &str, client_id: Option<&str>) -> Result<usize> {
        let families = self.store.owned_by::<FamilyRecord>(user_id).await?;
        let mut revoked = 0;
        for family in families.iter().filter(|f| !f.revoked && client_id.is_none_or(|c| c == f.client_id)) {
            self.revoke_family(&family.id).await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    /// RFC 7009 revocation by a client of a token it holds. A refresh token revokes its family;
    /// an access token (a JWT, checked where it is used) lives out its few minutes. Whatever the
    /// token, the answer is the same (section 2.2).
    pub async fn revoke_oauth_token(&self, client: &ClientRecord, token: &str) -> Result<()> {
        if let Some(record) = self.store.get::<RefreshRecord>(&hash_secret(token)).await?
            && record.client_id == client.client_id
        {
            self.revoke_family(&record.family_id).await?;
        }
        Ok(())
    }

    /// RFC 7662 introspection: what `token` is, if active. Access tokens by their signature and
    /// expiry (and their user still active); refresh tokens by their record and family.
    /// `caller` is the authenticated client asking.
    pub async fn introspect(
        &self,
        token: &str,
        caller: &ClientRecord,
        now: OffsetDateTime,
    ) -> Result<Option<Introspection>> {
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            let Some(record) = self.store.get::<RefreshRecord>(&hash_secret(token)).await? else { return Ok(None) };
            let family = self.store.get::<FamilyRecord>(&record.family_id).await?;
            if record.expires_at <= now || record.rotated_at.is_some() || family.is_none_or(|f| f.revoked) {
                return Ok(None);
            }
            let user = self.store.user_by_id(&record.user_id).await?.filter(|u| !u.disabled);
            return Ok(user.map(|user| Introspection {
                sub: user.id,
                client_id: record.client_id,
                scope: record.scopes.to_text(),
                exp: record.expires_at.unix_timestamp(),
                iat: None,
                aud: None,
                token_type: "refresh_token",
                username: Some(user.email),
            }));
        }
        let claims = match self.verify_oauth_access_token(token).await {
            Ok(claims) => claims,
            Err(Error::StoreUnavailable(e)) => return Err(Error::StoreUnavailable(e)),
            Err(_) => return Ok(None),
        };
        // A user's token is active while its user is; a client's while the client exists.
        let username = match claims.client_id.as_deref() {
            Some(client) if client == claims.sub => {
                // A client asking about its own token was found a moment ago, authenticating.
                if client != caller.client_id && self.client(client).await?.is_none() {
                    return Ok(None);
                }
                None
            }
            _ => match self.store.user_by_id(&claims.sub).await?.filter(|u| !u.disabled) {
                Some(user) => Some(user.email),
                None => return Ok(None),
            },
        };
        Ok(Some(Introspection {
            sub: claims.sub,
            client_id: claims.client_id.unwrap_or_default(),
            scope: claims.scope,
            exp: claims.exp,
            iat: Some(claims.iat),
            aud: Some(claims.aud),
            token_type: "Bearer",
            username,
        }))
    }

    /// An OAuth access token airlock issued, for any audience (introspection answers for every
    /// resource airlock issues tokens for).
    pub async fn verify_oauth_access_token(&self, token: &str) -> Result<Claims> {
        let keys = self.keys()?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = keys.verified_access.get(&digest) {
            let (kid, claims) = &*hit;
            // The same leeway as the verification; a retired key's tokens end with its key.
            if claims.exp + 5 >= crate::service::now().unix_timestamp() && keys.ring().rs256_key(kid).is_some() {
                return Ok(claims.clone());
            }
            keys.verified_access.remove(&digest);
            return Err(Error::Unauthenticated("invalid access token"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthenticated("invalid access token"))?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(Error::Unauthenticated("not an OAuth access token"));
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[&keys.issuer]);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let kid = header.kid.ok_or(Error::Unauthenticated("invalid access token"))?;
        let ring = keys.ring();
        let key = ring.rs256_key(&kid).ok_or(Error::Unauthenticated("invalid access token"))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Unauthenticated("invalid access token"))?;
        keys.verified_access.insert(digest, std::sync::Arc::new((kid, claims.clone())));
        Ok(claims)
    }
}

/// An active token, as introspection describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Introspection {
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}
