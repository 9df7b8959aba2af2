//! The authorization request (`GET /oauth/authorize`): validated here in two stages, as RFC 6749
//! section 4.1.2.1 orders them. Until the client and its redirect URI are known good, an error is
//! shown on airlock's own page and never sent anywhere ([`Rejection::Page`]); after that, errors
//! go back to the client's redirect URI with `state` and `iss` ([`Rejection::Redirect`]).
//!
//! Then the decision: sign in first (no session, `prompt=login`, `max_age` passed), ask for
//! consent (remembered per user, client and scope set for confidential clients; public clients
//! are asked every time, RFC 8252 section 8.6; first-party clients never), and finally a
//! single-use code bound to the client, the redirect URI, the PKCE challenge and the request.

use super::clients::ClientRecord;
use super::scopes::{self, OAuthScopes};
use super::{CODE_TTL, GrantType, OAuthPolicy};
use crate::error::{Error, Result};
use crate::secrets::hash_secret;
use crate::service::Airlock;
use crate::store::{Durability, Record, Records, Spec};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The query of an authorization request, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// airlock's own, on the way back from the sign-in page that `prompt=login` asked for: the
    /// Unix time the sign-in had to come after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_after: Option<String>,
}

impl AuthorizeParams {
    /// The parameters that are set, by name, in a fixed order.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("resource", &self.resource),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_after", &self.login_after),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// Why an authorization request is refused, and where that is said.
#[derive(Debug)]
pub enum Rejection {
    /// On airlock's page: the client or its redirect URI cannot be trusted with a redirect.
    Page(Error),
    /// Back to the client.
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Self::Page(error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Sign in and consent only when needed.
    Default,
    /// Never show a page: an error if sign-in or consent is needed.
    None,
    /// Sign in again, whatever the session.
    Login,
    /// Ask for consent, even if remembered.
    Consent,
}

/// A request that passed every check: what a code will be bound to.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: ClientRecord,
    pub redirect_uri: String,
    pub scopes: OAuthScopes,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub resource: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
}

/// Longest `state` and `nonce` accepted: enough for any client, bounded for the store.
const MAX_PARAM_LEN: usize = 512;

impl AuthorizationRequest {
    /// Where an error goes once the redirect URI is trusted.
    fn refuse(&self, error: &'static str, description: impl Into<String>) -> Rejection {
        Rejection::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.into(),
        }
    }

    /// Whether the session (signed in at `auth_time`) is recent enough for this request.
    pub fn session_fresh_enough(&self, auth_time: OffsetDateTime, now: OffsetDateTime) -> bool {
        self.max_age.is_none_or(|max| (now - auth_time).whole_seconds() <= i64::try_from(max).unwrap_or(i64::MAX))
    }

    /// The error for a request with `prompt=none` that needs a page.
    pub fn page_needed(&self, error: &'static str) -> Rejection {
        self.refuse(error, "the request said prompt=none, and this needs a page")
    }

    /// `access_denied`, when the person says no.
    pub fn denied(&self) -> Rejection {
        self.refuse("access_denied", "the request was declined")
    }
}

/// Consent a person gave a confidential client: remembered per user and client, for a scope
/// set (a request for more asks again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// `<user id> <client id>`.
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: OAuthScopes,
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
}

impl Record for ConsentRecord {
    const SPEC: Spec =
        Spec { name: "oauth_consent", table: "oauth_consents", all: None, owned: Some("user_consents:{owner}") };

    fn id(&self) -> &str {
        &self.id
    }

    fn owner(&self) -> Option<String> {
        Some(self.user_id.clone())
    }
}

fn consent_id(user_id: &str, client_id: &str) -> String {
    format!("{user_id} {client_id}")
}

/// An authorization code, stored under the SHA-256 of the code. Kept after use until a while
/// past its expiry, so that a replay is recognised and the tokens issued from it are revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: OAuthScopes,
    pub nonce: Option<String>,
    pub resource: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Set once redeemed: the refresh-token family issued from it (revoked on a replay).
    pub redeemed_family: Option<String>,
    #[serde(default)]
    pub redeemed: bool,
}

/// How long a redeemed code is remembered past its expiry, to catch a replay.
const REPLAY_MEMORY: time::Duration = time::Duration::minutes(10);

impl Record for CodeRecord {
    const SPEC: Spec = Spec { name: "oauth_code", table: "oauth_codes", all: None, owned: None };

    fn id(&self) -> &str {
        &self.id
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        Some(self.expires_at + REPLAY_MEMORY)
    }
}

/// A new authorization code: 256 random bits, base64url.
fn new_code() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 check (RFC 7636 section 4.6), in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    // A verifier is 43 to 128 characters of [A-Za-z0-9-._~].
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && crate::secrets::secure_eq(&computed, challenge)
}

/// The scopes a request of `client` asks for: those it names, every one of them the client's,
/// or the client's own when it names none. The one rule of the authorization and device
/// authorization endpoints.
pub fn requested_scopes(client: &ClientRecord, scope: Option<&str>) -> Result<OAuthScopes> {
    let scopes = match scope.filter(|s| !s.trim().is_empty()) {
        Some(text) => scopes::parse(text)?,
        None => client.scopes.clone(),
    };
    if !scopes.is_subset_of(&client.scopes) {
        return Err(super::oauth_error(400, "invalid_scope", "the client may not ask for some of these scopes"));
    }
    Ok(scopes)
}

impl Airlock {
    /// Validates an authorization request: first the client and its redirect URI (errors on a
    /// page), then the rest (errors back to the client).
    pub async fn authorization_request(
        &self,
        params: &AuthorizeParams,
        policy: &OAuthPolicy,
    ) -> std::result::Result<AuthorizationRequest, Rejection> {
        let client_id =
            params.client_id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
                Rejection::Page(Error::bad_request("the request names no client (client_id is missing)"))
            })?;
        let resolved = self.resolve_client(client_id, crate::service::now()).await.map_err(|e| match e {
            // A metadata document that cannot be used: said on the page, never redirected.
            Error::OAuth { description, .. } => Error::bad_request(format!(
                "the client's metadata document ({}) cannot be used: {description}",
                client_id.escape_debug()
            )),
            other => other,
        })?;
        let client = match resolved {
            Some(client) if client.allows(GrantType::AuthorizationCode) => client,
            _ => return Err(Rejection::Page(Error::bad_request("this client is not registered for sign-in"))),
        };
        let redirect_uri = client
            .redirect_uri(params.redirect_uri.as_deref())
            .ok_or_else(|| Rejection::Page(Error::bad_request("the redirect_uri is not one this client registered")))?;
        let state = params.state.clone().filter(|s| !s.is_empty());
        let mut request = AuthorizationRequest {
            client,
            redirect_uri,
            scopes: OAuthScopes::default(),
            state,
            code_challenge: String::new(),
            nonce: params.nonce.clone().filter(|n| !n.is_empty()),
            resource: params.resource.clone().filter(|r| !r.is_empty()),
            prompt: Prompt::Default,
            max_age: None,
        };
        if request.state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
            request.state = None;
            return Err(request.refuse("invalid_request", "state is too long"));
        }
        if request.nonce.as_ref().is_some_and(|n| n.len() > MAX_PARAM_LEN) {
            return Err(request.refuse("invalid_request", "nonce is too long"));
        }
        match params.response_type.as_deref() {
            Some("code") => {}
            Some(_) => return Err(request.refuse("unsupported_response_type", "only response_type=code is supported")),
            None => return Err(request.refuse("invalid_request", "response_type is required")),
        }
        match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
            (Some(challenge), Some("S256")) if challenge.len() == 43 => request.code_challenge = challenge.to_owned(),
            (Some(_), Some("S256")) => return Err(request.refuse("invalid_request", "code_challenge is malformed")),
            (Some(_), _) => return Err(request.refuse("invalid_request", "code_challenge_method must be S256")),
            (None, _) => return Err(request.refuse("invalid_request", "PKCE is required: send a S256 code_challenge")),
        }
        request.scopes = requested_scopes(&request.client, params.scope.as_deref())
            .map_err(|e| request.refuse("invalid_scope", e.oauth_description()))?;
        if let Err(e) = policy.audience_for(request.resource.as_deref()) {
            return Err(request.refuse("invalid_target", e.to_string()));
        }
        request.prompt = match params.prompt.as_deref() {
            None | Some("") => Prompt::Default,
            Some("none") => Prompt::None,
            Some("login") => Prompt::Login,
            Some("consent") => Prompt::Consent,
            Some(_) => return Err(request.refuse("invalid_request", "prompt must be none, login or consent")),
        };
        if let Some(max_age) = params.max_age.as_deref() {
            request.max_age =
                Some(max_age.parse::<u64>().map_err(|_| request.refuse("invalid_request", "max_age must be seconds"))?);
        }
        Ok(request)
    }

    /// Whether `user_id` must be asked before `request` is granted.
    pub async fn consent_needed(&self, request: &AuthorizationRequest, user_id: &str) -> Result<bool> {
        if request.client.first_party {
            return Ok(false);
        }
        if request.prompt == Prompt::Consent || request.client.is_public() {
            return Ok(true);
        }
        let remembered = self.store.get::<ConsentRecord>(&consent_id(user_id, &request.client.client_id)).await?;
        Ok(!remembered.is_some_and(|c| request.scopes.is_subset_of(&c.scopes)))
    }

    /// Remembers that `user_id` consented to `request` (confidential clients only: a public one
    /// could be anyone claiming its id).
    pub async fn remember_consent(
        &self,
        request: &AuthorizationRequest,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        if request.client.is_public() {
            return Ok(());
        }
        let consent = ConsentRecord {
            id: consent_id(user_id, &request.client.client_id),
            user_id: user_id.to_owned(),
            client_id: request.client.client_id.clone(),
            scopes: request.scopes.clone(),
            granted_at: now,
        };
        self.store.put(&consent, Durability::Stored).await?;
        self.audit(
            crate::audit::AuditEvent::new("oauth.consent.grant").actor(user_id).subject(&request.client.client_id),
        )
        .await;
        Ok(())
    }

    /// The consents `user_id` gave, for the account page.
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>> {
        self.store.owned_by::<ConsentRecord>(user_id).await
    }

    /// Forgets a consent (the client asks again next time), and revokes what it granted.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool> {
        let removed =
            self.store.delete::<ConsentRecord>(&consent_id(user_id, client_id), Durability::Replicated).await?;
        self.revoke_families_of(user_id, Some(client_id)).await?;
        Ok(removed.is_some())
    }

    /// Issues the code for a granted request: the code itself, returned once.
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        user_id: &str,
        auth_time: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<String> {
        let code = new_code();
        let record = CodeRecord {
            id: hash_secret(&code),
            client_id: request.client.client_id.clone(),
            user_id: user_id.to_owned(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            scopes: request.scopes.clone(),
            nonce: request.nonce.clone(),
            resource: request.resource.clone(),
            auth_time,
            expires_at: now + CODE_TTL,
            redeemed_family: None,
            redeemed: false,
        };
        self.store.insert(&record).await?;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_checked_like_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(!pkce_matches("short", challenge), "a verifier is at least 43 characters");
        assert!(!pkce_matches(challenge, challenge), "plain is not S256");
    }
}
