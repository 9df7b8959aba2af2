//! Signing keys and JWTs (contract section 6): an RS256 and an Ed25519 key, each with a `kid`,
//! private parts sealed at rest with a key derived from `AIRLOCK_SECRET`, published in the JWKS
//! until every token they signed has expired. Tokens are checked against the key their `kid`
//! names, with that key's algorithm: the header's `alg` is never trusted.
//!
//! Crypto is the maintained crates': `jsonwebtoken` (aws-lc-rs backend) signs and verifies,
//! `rsa` and `ed25519-dalek` generate keys, ChaCha20-Poly1305 seals them under an HKDF-SHA256
//! key. Nothing here is hand-rolled, except that RS256 tokens are signed with an aws-lc-rs key
//! pair parsed once per key: `jsonwebtoken`'s aws-lc signer parses and checks the DER key again
//! for every token, which was three fifths of each signature (2.4k signatures/s on one core
//! with the pair kept, 0.9k through `jsonwebtoken::encode`; `bench-rs256-sign`). The token is
//! the same JWS compact serialization `jsonwebtoken::encode` makes (a test holds the two equal
//! and checks the result with `jsonwebtoken`).

use crate::error::{Error, Result};
use crate::secrets::new_id;
use crate::store::{Durability, Record, Records, Spec};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The algorithms airlock signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: OIDC's mandatory algorithm.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519 (`EdDSA`).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 2] = [KeyAlg::Rs256, KeyAlg::EdDsa];

    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::EdDsa => Algorithm::EdDSA,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Rs256 => "RS256",
            KeyAlg::EdDsa => "EdDSA",
        }
    }
}

/// A signing key as stored: public JWK in the clear, private key sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: KeyAlg,
    /// The public JWK (with `kid`, `alg`, `use: sig`).
    pub public_jwk: serde_json::Value,
    /// base64url(nonce ‖ ChaCha20-Poly1305(PKCS#8 PEM)), bound to the kid.
    pub private_sealed: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set at rotation: the key signs no more.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub retired_at: Option<OffsetDateTime>,
    /// A retired key stays in the JWKS until then (its last token's expiry).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub publish_until: Option<OffsetDateTime>,
}

/// Signing keys: `key:<kid>` listed in `keys` on Redis, the `keys` table embedded (as before
/// the record collections, so existing stores read in place).
impl Record for KeyRecord {
    const SPEC: Spec = Spec { name: "key", table: "keys", all: Some("keys"), owned: None };

    fn id(&self) -> &str {
        &self.kid
    }
}

impl KeyRecord {
    pub fn is_active(&self) -> bool {
        self.retired_at.is_none()
    }

    pub fn is_published(&self, now: OffsetDateTime) -> bool {
        self.retired_at.is_none() || self.publish_until.is_some_and(|until| until > now)
    }
}

/// Seals private keys with a key derived from `AIRLOCK_SECRET` (HKDF-SHA256).
#[derive(Clone)]
pub struct KeySealer {
    cipher: ChaCha20Poly1305,
}

impl KeySealer {
    pub fn new(secret: &str) -> Self {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"airlock signing keys v1"), secret.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hkdf.expand(b"chacha20poly1305", &mut key);
        Self { cipher: ChaCha20Poly1305::new(&key.into()) }
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: kid.as_bytes() })
            .map_err(|_| Error::internal("cannot seal a signing key"))?;
        Ok(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Error::internal("corrupt sealed key"))?;
        if bytes.len() < 12 {
            return Err(Error::internal("corrupt sealed key"));
        }
        let (nonce, sealed) = bytes.split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: kid.as_bytes() }).map_err(|_| {
            Error::config(
                "secret",
                format!("signing key {kid} does not open with this AIRLOCK_SECRET; was it changed?"),
            )
        })
    }
}

/// A new key of `alg`, sealed. Key generation is CPU-heavy (RSA): call it off the async workers.
pub fn generate(alg: KeyAlg, sealer: &KeySealer, now: OffsetDateTime) -> Result<KeyRecord> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let kid = new_id(match alg {
        KeyAlg::Rs256 => "rsa",
        KeyAlg::EdDsa => "ed",
    });
    let pem = match alg {
        KeyAlg::Rs256 => rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(Error::internal)?
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(Error::internal)?,
        // PKCS#8 v1 (no embedded public key): the form jsonwebtoken reads.
        KeyAlg::EdDsa => ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: ed25519_dalek::SigningKey::generate(&mut rsa::rand_core::OsRng).to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(Error::internal)?,
    };
    let encoding = encoding_key(alg, pem.as_bytes())?;
    let mut jwk = Jwk::from_encoding_key(&encoding, alg.algorithm()).map_err(Error::internal)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(KeyRecord {
        private_sealed: sealer.seal(&kid, pem.as_bytes())?,
        public_jwk: serde_json::to_value(&jwk).map_err(Error::internal)?,
        kid,
        alg,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

fn encoding_key(alg: KeyAlg, pem: &[u8]) -> Result<EncodingKey> {
    match alg {
        KeyAlg::Rs256 => EncodingKey::from_rsa_pem(pem),
        KeyAlg::EdDsa => EncodingKey::from_ed_pem(pem),
    }
    .map_err(Error::internal)
}

/// The claims airlock puts in a JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-separated, as in OAuth.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_service_account: Option<bool>,
    /// The OAuth client the token was issued to (RFC 9068).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

struct Signer {
    kid: String,
    alg: KeyAlg,
    key: EncodingKey,
    /// An RS256 key, parsed once (see the module's documentation).
    rsa: Option<RsaKeyPair>,
}

impl Signer {
    fn new(kid: String, alg: KeyAlg, key: EncodingKey) -> Result<Self> {
        let rsa = match alg {
            KeyAlg::Rs256 => Some(RsaKeyPair::from_der(key.as_bytes()).map_err(Error::internal)?),
            KeyAlg::EdDsa => None,
        };
        Ok(Self { kid, alg, key, rsa })
    }
}

/// `header.claims.signature`, base64url without padding, signed RS256 with `pair`: what
/// `jsonwebtoken::encode` makes, with a key pair that is not parsed again.
fn sign_rs256(pair: &RsaKeyPair, header: &Header, claims: &impl Serialize) -> Result<String> {
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).map_err(Error::internal)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(Error::internal)?, &mut token);
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), token.as_bytes(), &mut signature)
        .map_err(Error::internal)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// The keys in use, opened: what signs (newest active key per algorithm), what verifies (every
/// published key, by kid), and the JWKS document.
pub struct KeyRing {
    signers: Vec<Signer>,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: JwkSet,
}

impl KeyRing {
    pub fn open(records: &[KeyRecord], sealer: &KeySealer, now: OffsetDateTime) -> Result<Self> {
        let mut signers: Vec<(OffsetDateTime, Signer)> = Vec::new();
        let mut verifiers = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        for record in records.iter().filter(|r| r.is_published(now)) {
            let jwk: Jwk = serde_json::from_value(record.public_jwk.clone()).map_err(Error::internal)?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(Error::internal)?;
            verifiers.insert(record.kid.clone(), (record.alg.algorithm(), decoding));
            jwks.keys.push(jwk);
            if record.is_active() {
                let pem = sealer.open(&record.kid, &record.private_sealed)?;
                let key = encoding_key(record.alg, &pem)?;
                signers.push((record.created_at, Signer::new(record.kid.clone(), record.alg, key)?));
            }
        }
        signers.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
        Ok(Self { signers: signers.into_iter().map(|(_, s)| s).collect(), verifiers, jwks })
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The RS256 key that `kid` names, for verifying with other claims than [`Claims`] checks.
    pub fn rs256_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifiers.get(kid).filter(|(alg, _)| *alg == Algorithm::RS256).map(|(_, key)| key)
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.verifiers.contains_key(kid)
    }

    /// Signs `claims` with the newest active key of `alg`.
    pub fn sign(&self, alg: KeyAlg, claims: &Claims) -> Result<String> {
        self.sign_as(alg, "JWT", claims)
    }

    /// Signs any claims with the newest active key of `alg`, as a JWT of type `typ` (`at+jwt`
    /// for an OAuth access token, RFC 9068; `JWT` for the rest).
    pub fn sign_as(&self, alg: KeyAlg, typ: &str, claims: &impl Serialize) -> Result<String> {
        let signer = self
            .signers
            .iter()
            .find(|s| s.alg == alg)
            .ok_or_else(|| Error::internal(format!("no active {} signing key", alg.as_str())))?;
        let mut header = Header::new(alg.algorithm());
        header.kid = Some(signer.kid.clone());
        header.typ = Some(typ.to_owned());
        match &signer.rsa {
            Some(pair) => sign_rs256(pair, &header, claims),
            None => jsonwebtoken::encode(&header, claims, &signer.key).map_err(Error::internal),
        }
    }

    /// Verifies a JWT: the key its `kid` names, that key's algorithm only, the issuer, one of
    /// the audiences, and the expiry. `None` for an unknown kid (the caller may reload).
    pub fn verify(&self, token: &str, issuer: &str, audiences: &[&str]) -> Result<Option<Claims>> {
        const REFUSED: Error = Error::Unauthenticated("invalid access token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| REFUSED)?;
        let Some(kid) = header.kid else { return Err(REFUSED) };
        let Some((algorithm, key)) = self.verifiers.get(&kid) else { return Ok(None) };
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Clock skew between instances; small, so that expiry means expiry.
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|_| REFUSED)?;
        Ok(Some(data.claims))
    }
}

/// The signing keys of a running airlock: opened once, reloaded after a rotation (periodically,
/// and at once when a token names a published kid this instance has not seen).
pub struct KeyService {
    sealer: KeySealer,
    ring: std::sync::RwLock<std::sync::Arc<KeyRing>>,
    pub issuer: String,
    pub audiences: Vec<String>,
    /// OAuth access tokens whose signature verified, by SHA-256 of the token, with the kid that
    /// signed them: a resource server introspecting the same token again costs a hash and a
    /// lookup instead of an RSA verification. Expiry and the kid being still published are
    /// checked on every hit.
    pub(crate) verified_access: VerifiedAccessTokens,
}

/// See [`KeyService::verified_access`].
pub(crate) type VerifiedAccessTokens = quick_cache::sync::Cache<[u8; 32], std::sync::Arc<(String, Claims)>>;

/// Most verified access tokens remembered.
const VERIFIED_ACCESS_TOKENS: usize = 10_000;

impl KeyService {
    pub fn ring(&self) -> std::sync::Arc<KeyRing> {
        self.ring.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn replace(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(ring);
    }
}

// Every key write is replicated before it is answered: a rotation (after a leak, say) that a
// failover undid would put the old key back to signing.
impl crate::service::Airlock {
    /// Every signing key, retired ones included, oldest first.
    pub async fn key_records(&self) -> Result<Vec<KeyRecord>> {
        let mut keys: Vec<KeyRecord> = self.store.all().await?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    /// Opens the signing keys, creating an RS256 and an Ed25519 key on first start.
    pub async fn init_keys(&self, secret: &str, issuer: &str, audiences: Vec<String>) -> Result<&KeyService> {
        let sealer = KeySealer::new(secret);
        let now = crate::service::now();
        let mut records = self.key_records().await?;
        for alg in KeyAlg::ALL {
            if !records.iter().any(|r| r.alg == alg && r.is_active()) {
                let record = generate_off_worker(alg, &sealer, now).await?;
                self.store.put(&record, Durability::Replicated).await?;
                records.push(record);
            }
        }
        let ring = KeyRing::open(&records, &sealer, now)?;
        let service = KeyService {
            sealer,
            ring: std::sync::RwLock::new(std::sync::Arc::new(ring)),
            issuer: issuer.trim_end_matches('/').to_owned(),
            audiences,
            verified_access: VerifiedAccessTokens::new(VERIFIED_ACCESS_TOKENS),
        };
        Ok(self.keys.get_or_init(|| service))
    }

    /// The signing keys; an error before [`Self::init_keys`].
    pub fn keys(&self) -> Result<&KeyService> {
        self.keys.get().ok_or_else(|| Error::internal("signing keys are not initialised"))
    }

    /// Rereads the keys from the store (after a rotation elsewhere).
    pub async fn reload_keys(&self) -> Result<()> {
        let keys = self.keys()?;
        let records = self.key_records().await?;
        keys.replace(KeyRing::open(&records, &keys.sealer, crate::service::now())?);
        Ok(())
    }

    /// Retires every active key (kept in the JWKS for `publish_for`, the longest a token it
    /// signed can live) and creates a new one per algorithm.
    pub async fn rotate_keys(&self, publish_for: time::Duration) -> Result<Vec<KeyRecord>> {
        let keys = self.keys()?;
        let now = crate::service::now();
        let mut fresh = Vec::new();
        for alg in KeyAlg::ALL {
            let record = generate_off_worker(alg, &keys.sealer, now).await?;
            self.store.put(&record, Durability::Replicated).await?;
            fresh.push(record);
        }
        for mut old in self.key_records().await? {
            if old.is_active() && !fresh.iter().any(|f| f.kid == old.kid) {
                old.retired_at = Some(now);
                old.publish_until = Some(now + publish_for);
                self.store.put(&old, Durability::Replicated).await?;
            }
        }
        self.reload_keys().await?;
        Ok(fresh)
    }

    /// Verifies an airlock JWT (signature by kid, issuer, audience, expiry).
    pub async fn verify_jwt(&self, token: &str) -> Result<Claims> {
        let keys = self.keys()?;
        let audiences: Vec<&str> = keys.audiences.iter().map(String::as_str).collect();
        if let Some(claims) = keys.ring().verify(token, &keys.issuer, &audiences)? {
            return Ok(claims);
        }
        // An unknown kid: a rotation made on another instance, or a forgery. The key list is
        // one cheap read; the ring (which opens private keys) is rebuilt only for a real new key,
        // so a flood of made-up kids costs no more than any other bad credential.
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let records = self.key_records().await?;
        let now = crate::service::now();
        if kid.is_some_and(|kid| records.iter().any(|r| r.kid == kid && r.is_published(now))) {
            keys.replace(KeyRing::open(&records, &keys.sealer, now)?);
            if let Some(claims) = keys.ring().verify(token, &keys.issuer, &audiences)? {
                return Ok(claims);
            }
        }
        Err(Error::Unauthenticated("invalid access token"))
    }
}

/// RSA key generation takes a noticeable moment: never on an async worker.
async fn generate_off_worker(alg: KeyAlg, sealer: &KeySealer, now: OffsetDateTime) -> Result<KeyRecord> {
    let sealer = sealer.clone();
    tokio::task::spawn_blocking(move || generate(alg, &sealer, now)).await.map_err(Error::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: OffsetDateTime) -> Claims {
        Claims {
            iss: "https://airlock.example.com".into(),
            sub: "usr_1".into(),
            aud: vec!["lore".into()],
            exp: now.unix_timestamp() + 300,
            iat: now.unix_timestamp(),
            jti: "jti_1".into(),
            scope: "read".into(),
            resources: Some(vec!["urc-42".into()]),
            tenant_id: None,
            is_service_account: None,
            client_id: None,
        }
    }

    #[test]
    fn keys_sign_verify_and_are_sealed() {
        let now = OffsetDateTime::now_utc();
        let sealer = KeySealer::new("a-secret-of-at-least-thirty-two-chars");
        let records: Vec<KeyRecord> = KeyAlg::ALL.iter().map(|alg| generate(*alg, &sealer, now).unwrap()).collect();
        for record in &records {
            assert!(!record.private_sealed.contains("PRIVATE KEY"));
            assert_eq!(record.public_jwk["kid"], record.kid.as_str());
            assert!(record.public_jwk.get("d").is_none(), "no private parts in the JWK");
        }
        let ring = KeyRing::open(&records, &sealer, now).unwrap();
        assert_eq!(ring.jwks().keys.len(), 2);
        for alg in KeyAlg::ALL {
            let token = ring.sign(alg, &claims(now)).unwrap();
            let verified = ring.verify(&token, "https://airlock.example.com", &["lore"]).unwrap().unwrap();
            assert_eq!(verified, claims(now));
            assert!(ring.verify(&token, "https://evil.example.com", &["lore"]).is_err(), "wrong issuer");
            assert!(ring.verify(&token, "https://airlock.example.com", &["other"]).is_err(), "wrong audience");
        }
        // Another secret cannot open the keys.
        let wrong = KeySealer::new("another-secret-of-thirty-two-chars!!");
        assert!(matches!(KeyRing::open(&records, &wrong, now), Err(Error::Config { key: "secret", .. })));
    }

    #[test]
    fn rs256_tokens_are_what_jsonwebtoken_encode_makes() {
        let now = OffsetDateTime::now_utc();
        let sealer = KeySealer::new("a-secret-of-at-least-thirty-two-chars");
        let record = generate(KeyAlg::Rs256, &sealer, now).unwrap();
        let ring = KeyRing::open(std::slice::from_ref(&record), &sealer, now).unwrap();
        let token = ring.sign_as(KeyAlg::Rs256, "at+jwt", &claims(now)).unwrap();
        // PKCS#1 v1.5 signatures are deterministic: the same bytes as jsonwebtoken's.
        let signer = &ring.signers[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(record.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        assert_eq!(token, jsonwebtoken::encode(&header, &claims(now), &signer.key).unwrap());
        let decoded = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((decoded.alg, decoded.typ.as_deref()), (Algorithm::RS256, Some("at+jwt")));
        assert_eq!(ring.verify(&token, "https://airlock.example.com", &["lore"]).unwrap().unwrap(), claims(now));
    }

    #[test]
    fn the_header_algorithm_is_never_trusted() {
        let now = OffsetDateTime::now_utc();
        let sealer = KeySealer::new("a-secret-of-at-least-thirty-two-chars");
        let rsa = generate(KeyAlg::Rs256, &sealer, now).unwrap();
        let ring = KeyRing::open(std::slice::from_ref(&rsa), &sealer, now).unwrap();
        // alg: none, with a known kid.
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, rsa.kid));
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now)).unwrap());
        assert!(ring.verify(&format!("{header}.{body}."), "https://airlock.example.com", &["lore"]).is_err());
        // HS256 signed with the public key's bytes (the classic confusion attack).
        let public = serde_json::to_vec(&rsa.public_jwk).unwrap();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(rsa.kid.clone());
        let forged = jsonwebtoken::encode(&hs, &claims(now), &EncodingKey::from_secret(&public)).unwrap();
        assert!(ring.verify(&forged, "https://airlock.example.com", &["lore"]).is_err());
        // A retired key past its publication is gone; before it, it still verifies.
        let token = ring.sign(KeyAlg::Rs256, &claims(now)).unwrap();
        let mut retired = rsa.clone();
        retired.retired_at = Some(now);
        retired.publish_until = Some(now + time::Duration::hours(1));
        let ring = KeyRing::open(std::slice::from_ref(&retired), &sealer, now).unwrap();
        assert!(ring.verify(&token, "https://airlock.example.com", &["lore"]).unwrap().is_some());
        assert!(ring.sign(KeyAlg::Rs256, &claims(now)).is_err(), "a retired key signs no more");
        let later = KeyRing::open(&[retired], &sealer, now + time::Duration::hours(2)).unwrap();
        assert!(later.verify(&token, "https://airlock.example.com", &["lore"]).unwrap().is_none());
    }
}
