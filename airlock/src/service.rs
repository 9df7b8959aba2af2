//! [`Airlock`]: the domain, free of HTTP. Handlers and the CLI call it; it calls the store.
//! Its operations live beside it by subject: `accounts` (users, orgs, members) and `sessions`.

use crate::accounts::password::PasswordHasher;
use crate::config::Config;
use crate::error::Result;
use crate::store::DynStore;
use std::time::Duration;

/// Session lifetimes, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub ttl: Duration,
    pub update_age: Duration,
    pub idle_timeout: Option<Duration>,
}

impl From<&Config> for SessionPolicy {
    fn from(config: &Config) -> Self {
        Self {
            ttl: config.session_ttl,
            update_age: config.session_update_age,
            idle_timeout: config.session_idle_timeout,
        }
    }
}

pub struct Airlock {
    pub store: DynStore,
    pub hasher: PasswordHasher,
    pub sessions: SessionPolicy,
    /// Most active API tokens one user may hold.
    pub max_tokens_per_user: usize,
    /// Sign-in throttling limits.
    pub throttle: crate::sessions::throttle::ThrottlePolicy,
    /// Signing keys, once opened (`init_keys`): only what signs or verifies JWTs needs them.
    pub keys: std::sync::OnceLock<crate::tokens::keys::KeyService>,
    /// OAuth clients named by a metadata document URL: the fetch rules and their cache.
    pub metadata_documents: crate::oauth::cimd::MetadataDocuments,
}

/// Default cap on active API tokens per user.
pub const DEFAULT_MAX_TOKENS_PER_USER: usize = 10;

impl Airlock {
    pub fn new(store: DynStore, sessions: SessionPolicy, hash_concurrency: usize) -> Result<Self> {
        Ok(Self {
            store,
            hasher: PasswordHasher::new(hash_concurrency)?,
            sessions,
            max_tokens_per_user: DEFAULT_MAX_TOKENS_PER_USER,
            throttle: crate::sessions::throttle::ThrottlePolicy::default(),
            keys: std::sync::OnceLock::new(),
            metadata_documents: crate::oauth::cimd::MetadataDocuments::new(false),
        })
    }

    pub fn from_config(store: DynStore, config: &Config) -> Result<Self> {
        let mut airlock = Self::new(store, SessionPolicy::from(config), config.password_hash_concurrency)?;
        airlock.max_tokens_per_user = config.max_tokens_per_user;
        airlock.throttle = config.throttle;
        // Loopback documents over http only in --dev (tests, local development).
        airlock.metadata_documents = crate::oauth::cimd::MetadataDocuments::new(config.dev);
        Ok(airlock)
    }
}

/// The current time, in whole seconds: what airlock stores and shows (`2026-11-23T10:00:00Z`).
pub fn now() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}
