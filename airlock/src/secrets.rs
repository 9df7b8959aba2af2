//! Random identifiers and secrets, and how secrets are hashed for storage.
//!
//! Session tokens are 256 random bits behind their user's shard (`store::shard`); the store
//! keeps only their SHA-256, so a dump of Redis or of the embedded files yields no usable
//! cookie. A fast hash is right here (unlike passwords): the input already has full entropy.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::shard;

/// Length in characters of a token's random part: 32 bytes in unpadded base64url.
pub const SESSION_TOKEN_LEN: usize = 43;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A new session token for a user of `shard`: the shard, then 256 bits from the OS-seeded
/// CSPRNG, base64url (hex digits are base64url too).
pub fn new_session_token(shard: &str) -> String {
    let mut token = String::with_capacity(shard.len() + SESSION_TOKEN_LEN);
    token.push_str(shard);
    URL_SAFE_NO_PAD.encode_string(random_bytes::<32>(), &mut token);
    token
}

/// The hash a session token is stored and looked up by: its shard (no secret), then the
/// SHA-256 of the whole token. Tokens from before shards (43 characters) hash as they did.
pub fn session_token_hash(token: &str) -> String {
    let shard = match token.get(..shard::LEN) {
        Some(shard) if token.len() == shard::LEN + SESSION_TOKEN_LEN => shard,
        _ => return hash_secret(token),
    };
    // One allocation, as for an unsharded hash: this runs on every session check.
    let mut hex = [0u8; 64];
    let Ok(()) = hex::encode_to_slice(Sha256::digest(token.as_bytes()), &mut hex) else { return hash_secret(token) };
    let mut hash = String::with_capacity(shard::LEN + hex.len());
    hash.push_str(shard);
    hash.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    hash
}

/// A new session id in `shard`: `ses_<shard><96 random bits, hex>`.
pub fn new_session_id(shard: &str) -> String {
    format!("ses_{shard}{}", hex::encode(random_bytes::<12>()))
}

/// Prefix of every API token, so that scanners and people recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "alk_";

/// A new API token: `alk_` and 256 random bits, base64url.
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// Whether `token` could be an API token at all (checked before any store lookup).
pub fn looks_like_api_token(token: &str) -> bool {
    token.strip_prefix(API_TOKEN_PREFIX).is_some_and(looks_like_random_part)
}

/// A new public identifier such as `usr_5f0c…`: 96 random bits, hex, behind a type prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(random_bytes::<12>()))
}

/// A password for the bootstrap admin or a user added without one: 128 bits, base64url.
pub fn new_password() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// Whether `token` could be a session token at all. Checked before any store lookup so that
/// garbage (huge, non-ASCII, wrong length) never costs a round trip.
/// Tokens issued before shards (no shard in front) still pass.
pub fn looks_like_session_token(token: &str) -> bool {
    matches!(token.len(), SESSION_TOKEN_LEN | SHARDED_TOKEN_LEN) && is_base64url(token)
}

const SHARDED_TOKEN_LEN: usize = shard::LEN + SESSION_TOKEN_LEN;

/// Whether `token` could be an API token's random part.
fn looks_like_random_part(token: &str) -> bool {
    token.len() == SESSION_TOKEN_LEN && is_base64url(token)
}

fn is_base64url(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The form in which a secret is stored and looked up: lowercase hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    // `encode_to_slice` looks each byte up in a table; `hex::encode` builds the string one
    // `char` at a time, which cost as much as the hash itself on every session check.
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = [0u8; 64];
    if hex::encode_to_slice(digest, &mut hex).is_ok()
        && let Ok(text) = std::str::from_utf8(&hex)
    {
        return text.to_owned();
    }
    // Not reached (32 bytes always fill 64 ASCII digits), but never a panic on this path.
    hex::encode(digest)
}

/// Constant-time equality for secrets and their hashes.
pub fn secure_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_well_formed() {
        let a = new_session_token("0a1b");
        let b = new_session_token("0a1b");
        assert_ne!(a, b);
        assert!(a.starts_with("0a1b") && a.len() == 47, "{a}");
        assert!(looks_like_session_token(&a));
        assert!(looks_like_session_token(&a[4..]), "a token from before shards");
        assert!(!looks_like_session_token(&a[1..]));
        assert!(!looks_like_session_token(&a[5..]));
        assert!(!looks_like_session_token(&format!("{}=", &a[1..])));
        assert!(!looks_like_session_token(&format!("{}a", "é".repeat(21))));
    }

    #[test]
    fn hashes_are_stable_and_hide_the_token() {
        let token = new_session_token("0a1b");
        let sharded = session_token_hash(&token);
        assert_eq!(sharded, format!("0a1b{}", hash_secret(&token)), "the shard, then the whole token's hash");
        assert_eq!(session_token_hash(&token[4..]), hash_secret(&token[4..]), "tokens from before shards");
        let odd = format!("abcé{}", "a".repeat(42));
        assert_eq!((odd.len(), session_token_hash(&odd)), (47, hash_secret(&odd)), "never a panic on a char boundary");
        let hash = hash_secret(&token);
        assert_eq!(hash, hash_secret(&token));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
        assert!(secure_eq(&hash, &hash_secret(&token)));
        assert!(!secure_eq(&hash, &hash_secret("other")));
        // The FIPS 180-2 test vector: stored hashes must stay readable across versions.
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn api_tokens_are_prefixed_and_recognised() {
        let token = new_api_token();
        assert!(token.starts_with("alk_") && token.len() == 4 + SESSION_TOKEN_LEN);
        assert!(looks_like_api_token(&token));
        assert!(!looks_like_api_token(&token[4..]));
        assert!(!looks_like_api_token("alk_short"));
    }

    #[test]
    fn ids_carry_their_prefix() {
        let id = new_id("usr");
        assert!(id.starts_with("usr_"));
        assert_eq!(id.len(), 4 + 24);
        let session = new_session_id("0a1b");
        assert_eq!(shard::of_session_id(&session), Some("0a1b"));
    }
}
