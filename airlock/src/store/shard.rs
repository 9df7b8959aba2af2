//! Shards: where a user's records live when the store is split, as a Redis Cluster splits its
//! keys over hash slots.
//!
//! A user's shard is four hex digits of the SHA-256 of their id: 65,536 shards over a Cluster's
//! 16,384 slots, so users spread over every node. Everything found on a session check (the
//! user, their memberships, their sessions and the token index) lives in the user's shard, so
//! that the check and every change to a user stay single-slot operations on one node. A store
//! that finds a session from its token hash or its id alone must learn the shard from them, so
//! both carry it in front:
//!
//! - a session id is `ses_<shard><random>`;
//! - a session token is `<shard><random>`, and its stored hash is `<shard><sha256 of the token>`
//!   (the shard is no secret: it only names where the session is).
//!
//! Stores written before shards existed hold unsharded ids and hashes; the standalone and
//! Sentinel layouts keep reading them, since they do not look at shards at all.

use sha2::{Digest, Sha256};

/// Characters in a shard.
pub const LEN: usize = 4;

/// The shard of user `user_id`.
pub fn of_user(user_id: &str) -> String {
    let digest = Sha256::digest(user_id.as_bytes());
    hex::encode(&digest[..LEN / 2])
}

/// The shard a session id names, if it has one.
pub fn of_session_id(id: &str) -> Option<&str> {
    id.strip_prefix("ses_").and_then(|rest| rest.get(..LEN)).filter(|shard| is_shard(shard))
}

/// The shard a stored session-token hash names, if it has one: `<shard><64 hex>`.
pub fn of_token_hash(hash: &str) -> Option<&str> {
    (hash.len() == LEN + 64).then(|| &hash[..LEN]).filter(|shard| is_shard(shard))
}

fn is_shard(text: &str) -> bool {
    text.len() == LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_hashes_name_the_shard_they_were_made_in() {
        let shard = of_user("usr_5f0c2a");
        assert_eq!(shard.len(), LEN);
        assert_eq!(of_user("usr_5f0c2a"), shard, "a user's shard never changes");
        assert_eq!(of_session_id(&format!("ses_{shard}00ff")), Some(shard.as_str()));
        assert_eq!(of_token_hash(&format!("{shard}{}", "a".repeat(64))), Some(shard.as_str()));
        // Ids and hashes from before shards: none named.
        assert_eq!(of_session_id("ses_1"), None);
        assert_eq!(of_session_id("ses_XYZW1234"), None);
        assert_eq!(of_token_hash(&"a".repeat(64)), None);
    }

    #[test]
    fn users_spread_over_the_shards() {
        let shards: std::collections::HashSet<String> = (0..1000).map(|n| of_user(&format!("usr_{n}"))).collect();
        assert!(shards.len() > 950, "{} distinct shards for 1000 users", shards.len());
    }
}
