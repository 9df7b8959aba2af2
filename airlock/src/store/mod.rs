//! Storage behind one trait, with two backends side by side:
//!
//! - [`embedded::EmbeddedStore`]: the zero-setup default. One process, everything in memory for
//!   reads, written through to a crash-safe `redb` file (0600 in a 0700 directory).
//! - [`redis::RedisStore`]: shared by many airlock instances; sessions expire by Redis TTL;
//!   operations that two instances could race are atomic (`SET NX`, `MULTI`, Lua).
//!
//! The trait speaks in domain records, not keys, so each backend can answer the hot path (the
//! session check) in the cheapest way it has: a map lookup, or one Lua round trip. One test
//! suite (`tests/system/store_suite.rs`) runs against both.

pub mod collection;
pub mod embedded;
pub mod records;
pub mod redis;
pub mod shard;

use crate::error::Result;
use async_trait::async_trait;
use shared::OrgRole;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub use collection::{Collection, Collections, Durability, Record, Records, Spec, Versioned};
pub use records::{
    AUDIT_CAPACITY, AuditFilter, AuditRecord, CredentialBundle, Membership, OrgRecord, Principal, RenderedPrincipal,
    SessionBundle, SessionRecord, UserRecord,
};

/// Everything airlock keeps: the record collections ([`Collections`], for every kind declared
/// as a [`Record`]), and the records the session check reads on its hot path. Every method
/// fails with `Error::StoreUnavailable` (never hangs past the store timeout) when the backend
/// cannot be reached.
#[async_trait]
pub trait Store: Collections + Send + Sync + 'static {
    /// Cheap liveness probe for `/ready`.
    async fn ping(&self) -> Result<()>;

    /// Returns once every change this instance made so far is as durable as a
    /// [`Durability::Replicated`] write (behind replicas: one holds it), else
    /// `Error::StoreUnavailable`. For a revocation found already done, perhaps by an earlier
    /// attempt that answered 503 after its write: the retry must not answer 200 before that write
    /// is safe either. A store with one copy has nothing to wait for.
    async fn fence(&self) -> Result<()> {
        Ok(())
    }

    // Users. Emails are stored lowercased and are unique.
    /// `Error::Conflict` when the email is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    /// Replaces a user's record (email and id never change). `Error::NotFound` if absent.
    async fn update_user(&self, user: &UserRecord) -> Result<()>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;

    // Orgs and memberships.
    /// `Error::Conflict` when the slug is taken.
    async fn create_org(&self, org: &OrgRecord) -> Result<()>;
    async fn org_by_slug(&self, slug: &str) -> Result<Option<OrgRecord>>;
    async fn list_orgs(&self) -> Result<Vec<OrgRecord>>;
    /// Adds the user to the org, or changes their role there.
    async fn put_membership(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<()>;
    /// Whether there was a membership to remove.
    async fn remove_membership(&self, org_id: &str, user_id: &str) -> Result<bool>;
    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Membership>>;

    // Sessions. Stored under the hash of their token; the token itself is never stored.
    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    /// The hot path: the live session, its user and memberships, in one call. Expired sessions
    /// are absent.
    async fn load_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionBundle>>;
    async fn session_by_id(&self, id: &str, now: OffsetDateTime) -> Result<Option<SessionRecord>>;
    /// Writes a refreshed session (new expiry, last seen) if it still exists: a refresh never
    /// resurrects a session revoked meanwhile. Whether it still existed.
    async fn refresh_session(&self, refreshed: &SessionRecord) -> Result<bool>;
    /// Whether there was a session to delete.
    async fn delete_session(&self, id: &str) -> Result<bool>;
    /// A user's live sessions.
    async fn sessions_of(&self, user_id: &str, now: OffsetDateTime) -> Result<Vec<SessionRecord>>;
    /// Deletes every session of a user except `keep`; how many were deleted.
    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> Result<usize>;

    /// Bearer credentials (API tokens): the record of collection `c` holding the unique key
    /// `(index, value)` (the hash of a secret), with its user and memberships, in one round
    /// trip, whatever its state. The record's owner is its user, named in its `user_id` field.
    async fn load_credential(&self, c: Collection, index: &str, value: &str) -> Result<Option<CredentialBundle>>;

    // Sign-in throttling.
    /// Counts one failure for `key` in a window that starts at the first failure; the count.
    async fn count_failure(&self, key: &str, window: Duration) -> Result<u64>;
    /// Bans `key` for `duration`.
    async fn ban(&self, key: &str, duration: Duration) -> Result<()>;
    /// How long `key` stays banned, if it is.
    async fn ban_remaining(&self, key: &str) -> Result<Option<Duration>>;

    // The audit log, bounded to `capacity` records.
    async fn append_audit(&self, record: &AuditRecord, capacity: usize) -> Result<()>;
    /// The newest records first, up to `filter.limit`, filtered.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
}

pub type DynStore = Arc<dyn Store>;
