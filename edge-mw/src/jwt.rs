//! Local verification of airlock JWTs (access and service tokens): signatures against airlock's
//! JWKS (cached; refetched when a token names an unknown `kid`, at most once per
//! [`JWKS_REFETCH_EVERY`]), the key's own algorithm only, issuer and audience, expiry, and the
//! revocation list of service tokens (polled every few seconds).

use crate::cache::HashCache;
use crate::client::Verdict;
use crate::headers::Identity;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::{AuthInfo, AuthMethod, SessionView, UserView};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Least time between two JWKS fetches caused by unknown kids.
pub const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(5);

/// A token whose signature checked out.
struct Verified {
    exp: i64,
    jti: String,
    service: bool,
    identity: Arc<Identity>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    jti: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    is_service_account: Option<bool>,
    /// An OAuth access token's client (RFC 9068).
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RevokedList {
    revoked: Vec<RevokedEntry>,
}

#[derive(Debug, Deserialize)]
struct RevokedEntry {
    jti: String,
}

/// Settings, from the layer's builder.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks_url: url::Url,
    /// The revocation list of service tokens; `None` where only OAuth access tokens are taken.
    pub revoked_url: Option<url::Url>,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub revocation_refresh: Duration,
    /// The `typ` a token must declare: `at+jwt` for an OAuth resource (RFC 9068 §4), so that an
    /// ID token or another JWT signed by the same keys is never taken as an access token.
    pub token_type: Option<&'static str>,
}

type Keys = HashMap<String, (Algorithm, DecodingKey)>;

pub struct JwtVerifier {
    settings: JwtSettings,
    http: reqwest::Client,
    keys: RwLock<Arc<Keys>>,
    /// Held while fetching, so that requests meeting the same unknown kid wait for one fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Tokens whose signature was verified, by SHA-256 of the token, until their expiry (at most
    /// a minute): a repeat costs a hash instead of an RSA verification. Expiry and revocation are
    /// still checked on every use.
    verified: HashCache<Arc<Verified>>,
    revoked: RwLock<HashSet<String>>,
    poller: std::sync::Once,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Whether a bearer token has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl JwtVerifier {
    pub fn new(settings: JwtSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            http,
            keys: RwLock::default(),
            last_fetch: tokio::sync::Mutex::default(),
            verified: HashCache::new(10_000, Duration::from_secs(60)),
            revoked: RwLock::default(),
            poller: std::sync::Once::new(),
        }
    }

    fn keys(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Fetches the JWKS for `kid`, unless another request just did, or a fetch happened less
    /// than [`JWKS_REFETCH_EVERY`] ago. `Err` when airlock could not be asked.
    async fn refetch(&self, kid: &str) -> Result<(), ()> {
        let mut last = self.last_fetch.lock().await;
        if self.keys().contains_key(kid) || last.is_some_and(|at| at.elapsed() < JWKS_REFETCH_EVERY) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let set: JwkSet =
            async { self.http.get(self.settings.jwks_url.clone()).send().await?.error_for_status()?.json().await }
                .await
                .map_err(|e: reqwest::Error| tracing::warn!(error = %e, "cannot fetch airlock's JWKS"))?;
        let mut keys = Keys::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else { continue };
            // Only the asymmetric algorithms airlock signs with; never a shared-secret one.
            let algorithm = match alg {
                jsonwebtoken::jwk::KeyAlgorithm::RS256 => Algorithm::RS256,
                jsonwebtoken::jwk::KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), (algorithm, key));
            }
        }
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }

    /// Starts polling the revocation list (once, on the first verification: a layer may be built
    /// before any runtime runs).
    fn start_poller(self: &Arc<Self>) {
        let Some(revoked_url) = self.settings.revoked_url.clone() else { return };
        self.poller.call_once(|| {
            let weak = Arc::downgrade(self);
            let every = self.settings.revocation_refresh;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let Some(this) = weak.upgrade() else { break };
                    this.refresh_revocations(&revoked_url).await;
                }
            });
        });
    }

    async fn refresh_revocations(&self, revoked_url: &url::Url) {
        let fetched: Result<RevokedList, reqwest::Error> =
            async { self.http.get(revoked_url.clone()).send().await?.error_for_status()?.json().await }.await;
        match fetched {
            Ok(list) => {
                let ids: HashSet<String> = list.revoked.into_iter().map(|e| e.jti).collect();
                *self.revoked.write().unwrap_or_else(std::sync::PoisonError::into_inner) = ids;
            }
            // Keep the last list: an outage must not forget revocations.
            Err(e) => tracing::warn!(error = %e, "cannot refresh the service-token revocation list"),
        }
    }

    fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(jti)
    }

    /// Verifies `token` locally.
    pub async fn verify(self: &Arc<Self>, token: &str) -> Verdict {
        self.start_poller();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let verified = match self.verified.get(&digest) {
            Some(hit) => hit,
            None => match self.verify_signature(token).await {
                Ok(verified) => {
                    let verified = Arc::new(verified);
                    self.verified.insert(digest, verified.clone());
                    verified
                }
                Err(verdict) => return verdict,
            },
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if verified.exp + 5 < now || (verified.service && self.is_revoked(&verified.jti)) {
            return Verdict::Unauthenticated;
        }
        Verdict::Authenticated { identity: verified.identity.clone(), set_cookie: None }
    }

    /// The expensive part: key by kid, signature with that key's algorithm, issuer, audience.
    async fn verify_signature(&self, token: &str) -> Result<Verified, Verdict> {
        let Ok(header) = jsonwebtoken::decode_header(token) else { return Err(Verdict::Unauthenticated) };
        if let Some(wanted) = self.settings.token_type
            && !header.typ.as_deref().is_some_and(|typ| declares_type(typ, wanted))
        {
            return Err(Verdict::Unauthenticated);
        }
        let Some(kid) = header.kid else { return Err(Verdict::Unauthenticated) };
        let mut keys = self.keys();
        if !keys.contains_key(&kid) {
            match self.refetch(&kid).await {
                Ok(()) => keys = self.keys(),
                Err(()) if keys.is_empty() => return Err(Verdict::Unavailable { retry_after: JWKS_REFETCH_EVERY }),
                Err(()) => {}
            }
        }
        let Some((algorithm, key)) = keys.get(&kid) else { return Err(Verdict::Unauthenticated) };
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, key, &validation) else {
            return Err(Verdict::Unauthenticated);
        };
        let claims = data.claims;
        Ok(Verified {
            exp: claims.exp,
            jti: claims.jti.clone(),
            service: claims.is_service_account == Some(true),
            identity: Arc::new(Identity::new(Arc::new(view_of(claims)))),
        })
    }
}

/// What a verified JWT says about its bearer: identity from its claims only (no orgs, no email).
fn view_of(claims: Claims) -> SessionView {
    let service = claims.is_service_account == Some(true);
    let name = claims.tenant_id.clone().unwrap_or_default();
    SessionView {
        user: UserView { id: claims.sub, email: String::new(), name, roles: Vec::new() },
        orgs: Vec::new(),
        session: None,
        auth: AuthInfo {
            method: if service { AuthMethod::ServiceToken } else { AuthMethod::AccessToken },
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            resources: claims.resources,
            client_id: claims.client_id,
        },
    }
}

/// `typ` names a media type without its `application/` prefix, in any case (RFC 7515 §4.1.9).
fn declares_type(typ: &str, wanted: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case(wanted)
}

#[cfg(test)]
mod tests {
    use super::{declares_type, looks_like_jwt};

    #[test]
    fn token_types_compare_as_media_types() {
        assert!(declares_type("at+jwt", "at+jwt"));
        assert!(declares_type("AT+JWT", "at+jwt"));
        assert!(declares_type("application/at+jwt", "at+jwt"));
        assert!(!declares_type("JWT", "at+jwt"));
        assert!(!declares_type("application/jwt", "at+jwt"));
        assert!(!declares_type("", "at+jwt"));
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.sig-_"));
        assert!(!looks_like_jwt("alk_abc"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c d"));
    }
}
