//! The Redis store: shared by every airlock instance of a deployment.
//!
//! Keys live under one prefix (`airlock:` by default). On a standalone Redis or behind
//! sentinels, a key is `<prefix><family>:<id>`, as earlier releases wrote them. On a Cluster a
//! hash tag follows the prefix, so that each script and transaction touches one slot ([`Layout`]):
//!
//! | key | value | tag on a Cluster |
//! |---|---|---|
//! | `user:{id}` | user JSON | the user's shard |
//! | `user_orgs:{user id}` | hash org id → `{role} {org JSON}` | the user's shard |
//! | `user_ver:{user id}` | counter, bumped with every change to the user or their memberships | the user's shard |
//! | `session:{id}` / `session_token:{hash}` | session JSON / `{user version} {session JSON}`, both with the session's TTL | the user's shard |
//! | `user_sessions:{user id}` | set of session ids (pruned as they expire) | the user's shard |
//! | `user_email:{email}` / `users` | user id / set of ids | `{users}` |
//! | `org:{id}` / `org_slug:{slug}` / `orgs` | org JSON / org id / set of ids | `{org}` |
//! | record collections (`collections.rs`) | | the collection's name |
//! | `throttle:…`, `ban:…`, `audit`, `fence` | counters, bans, the audit stream | none (one key each) |
//!
//! A user's shard ([`super::shard`]) is named by their session ids and token hashes too, so the
//! check finds the session's slot from the cookie alone. Memberships carry a copy of their org
//! (orgs never change once created), so reading a principal never leaves the user's slot.
//! Uniqueness (emails, slugs) is claimed with `SET NX` in its own slot, after the record it
//! points to is written: a crash in between leaves a record nothing points to, never a claim
//! pointing to nothing.
//!
//! **The session check is one plain `GET`**: the token index holds the session record, stamped
//! with its user's version. The user and their memberships (the "principal") are kept in memory
//! per instance, under the version they were read at, and reread (user, memberships and orgs,
//! with the version, atomically) only when the stamp differs. Every change to a user or a
//! membership bumps the version and restamps the indexes of the user's sessions in the same
//! transaction, so another instance's change shows on the very next check, as the contract
//! asks, while the common check costs Redis what a bare `GET` costs, and, when the index's bytes
//! are the ones seen last time, no decoding either ([`DecodedIndex`]). Writes pay instead: a
//! user change rewrites one index per live session of theirs. (Org records are never changed
//! once created; a future org rename must bump its members' versions.)

use super::collection::Collection;
use super::{
    AuditFilter, AuditRecord, CredentialBundle, Membership, OrgRecord, Principal, SessionBundle, SessionRecord, Store,
    UserRecord, shard,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
mod collections;
mod connection;

pub use connection::{ClusterUrl, SentinelUrl};
use connection::{Conn, Connection, Lane, connection_lost};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::OrgRole;
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use time::OffsetDateTime;

/// Memberships as scripts read them: `HGETALL` of the hash `KEYS[m]`, appended to `out` as org
/// JSON, role, …. A value written before memberships carried their org is a bare role: its
/// org is read from `g` (the global prefix; such values exist only outside a Cluster).
const READ_MEMBERSHIPS: &str = r"
    local function read_memberships(key, g, out)
        local m = redis.call('HGETALL', key)
        for i = 1, #m, 2 do
            local role, org = string.match(m[i + 1], '^(%S+) (.+)$')
            if not role then
                role = m[i + 1]
                org = redis.call('GET', g .. 'org:' .. m[i])
            end
            if org then
                out[#out + 1] = org
                out[#out + 1] = role
            end
        end
    end";

/// Adds `ARGV[1]` to the set `KEYS[2]` under the unique index `KEYS[1]` (whose value is
/// `ARGV[1]` then), unless the index is taken; with `KEYS[3]`, also writes `ARGV[2]` there.
static CLAIM_UNIQUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
        redis.call('SADD', KEYS[2], ARGV[1])
        if KEYS[3] then redis.call('SET', KEYS[3], ARGV[2]) end
        return 1",
    )
});

/// The credential check on one slot: unique index `KEYS[1]` → record (`p .. ARGV[2] .. ':' ..
/// id`, `p` = `ARGV[1]`) → its `user_id` → user → memberships → orgs, in one round trip.
/// Returns `{record, user, org1, role1, ...}`, `{record}` when `ARGV[3]` is `record` (a Cluster:
/// the user is in another slot), or nil.
static LOAD_CREDENTIAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{READ_MEMBERSHIPS}
        local p = ARGV[1]
        local id = redis.call('GET', KEYS[1])
        if not id then return false end
        local s = redis.call('GET', p .. ARGV[2] .. ':' .. id)
        if not s then return false end
        if ARGV[3] == 'record' then return {{s}} end
        local uid = cjson.decode(s)['user_id']
        local u = redis.call('GET', p .. 'user:' .. uid)
        if not u then return false end
        local out = {{s, u}}
        read_memberships(p .. 'user_orgs:' .. uid, p, out)
        return out",
    ))
});

/// Writes a session: its record, and its token index stamped with the user's current version.
/// `KEYS`: session, token index, user's session set, user's version. `ARGV`: record, expiry
/// (Unix ms), session id, and `create` (also adds the id to the user's set) or `refresh` (writes
/// only if the session still exists, so that a refresh racing a revocation cannot revive it).
/// Returns 1 when written.
static WRITE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local create = ARGV[4] == 'create'
        if not create and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local v = redis.call('GET', KEYS[4]) or '0'
        redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
        redis.call('SET', KEYS[2], v .. ' ' .. ARGV[1], 'PXAT', ARGV[2])
        if create then redis.call('SADD', KEYS[3], ARGV[3]) end
        return 1",
    )
});

/// Bumps the user's version (`KEYS[1]`) and restamps the token index of each of user
/// `ARGV[2]`'s sessions with it (`ARGV[1]`: the user's key prefix). Sent as `EVAL` inside the
/// `MULTI` of every change to a user or their memberships (a rare write, so the script's text
/// travels with it), so that a check anywhere sees the new version on its very next read.
const BUMP_VERSION: &str = r"
    local p, uid = ARGV[1], ARGV[2]
    local v = redis.call('INCR', KEYS[1])
    for _, id in ipairs(redis.call('SMEMBERS', p .. 'user_sessions:' .. uid)) do
        local s = redis.call('GET', p .. 'session:' .. id)
        if s then
            local index = p .. 'session_token:' .. cjson.decode(s)['token_hash']
            redis.call('SET', index, v .. ' ' .. s, 'XX', 'KEEPTTL')
        end
    end
    return v";

/// A user's principal with its version, read together: `{version, user, org1, role1, ...}`, or
/// nil when the user is gone. `KEYS[1]`: the user; `ARGV`: the user's key prefix, the user id,
/// the global prefix.
static LOAD_PRINCIPAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{READ_MEMBERSHIPS}
        local p, uid = ARGV[1], ARGV[2]
        local u = redis.call('GET', KEYS[1])
        if not u then return false end
        local out = {{redis.call('GET', p .. 'user_ver:' .. uid) or '0', u}}
        read_memberships(p .. 'user_orgs:' .. uid, ARGV[3], out)
        return out",
    ))
});

/// Deletes sessions of a user: the one session `KEYS[1]` when `ARGV[2]` is `one` (`ARGV[3]` its
/// id), else every one in the user's set `KEYS[1]` (`all`), or all but `ARGV[3]` (`keep`).
/// `ARGV[1]` is the user's key prefix. Removes the session, its token index and its set entry
/// together. Returns how many existed.
static DELETE_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local p, mode = ARGV[1], ARGV[2]
        local ids = {}
        if mode == 'one' then ids = {ARGV[3]} else ids = redis.call('SMEMBERS', KEYS[1]) end
        local n = 0
        for _, id in ipairs(ids) do
            if not (mode == 'keep' and id == ARGV[3]) then
                local s = redis.call('GET', p .. 'session:' .. id)
                if s then
                    local rec = cjson.decode(s)
                    redis.call('DEL', p .. 'session:' .. id, p .. 'session_token:' .. rec['token_hash'])
                    redis.call('SREM', p .. 'user_sessions:' .. rec['user_id'], id)
                    n = n + 1
                elseif mode ~= 'one' then
                    redis.call('SREM', KEYS[1], id)
                end
            end
        end
        return n",
    )
});

/// Where keys go (see the module docs): a key is `<prefix><family>:<id>`; on a Cluster, a hash
/// tag between the prefix and the family names the slot.
#[derive(Clone)]
struct Layout {
    prefix: String,
    cluster: bool,
}

impl Layout {
    /// The prefix of keys in `tag`'s slot: `airlock:` or, on a Cluster, `airlock:{tag}`.
    /// Borrowed outside a Cluster: the session check pays for no copy.
    fn scope(&self, tag: &str) -> Cow<'_, str> {
        if !self.cluster {
            return Cow::Borrowed(&self.prefix);
        }
        let mut scope = String::with_capacity(self.prefix.len() + tag.len() + 2);
        scope.push_str(&self.prefix);
        scope.push('{');
        scope.push_str(tag);
        scope.push('}');
        Cow::Owned(scope)
    }

    /// Where user `user_id`'s records are.
    fn user(&self, user_id: &str) -> Cow<'_, str> {
        if self.cluster { self.scope(&shard::of_user(user_id)) } else { Cow::Borrowed(&self.prefix) }
    }

    /// Where the session with token hash `hash` is; `None` when it cannot be anywhere (on a
    /// Cluster, a hash naming no shard).
    fn session_by_hash(&self, hash: &str) -> Option<Cow<'_, str>> {
        if !self.cluster {
            return Some(Cow::Borrowed(&self.prefix));
        }
        shard::of_token_hash(hash).map(|shard| self.scope(shard))
    }

    /// Where session `id` is; `None` as for [`Self::session_by_hash`].
    fn session_by_id(&self, id: &str) -> Option<Cow<'_, str>> {
        if !self.cluster {
            return Some(Cow::Borrowed(&self.prefix));
        }
        shard::of_session_id(id).map(|shard| self.scope(shard))
    }

    /// Where a family of records listed together (a collection, the orgs) is: one slot each.
    fn family(&self, name: &str) -> Cow<'_, str> {
        self.scope(name)
    }
}

/// `<scope><family>:<id>`, built by hand rather than with `format!`: on the session check, the
/// formatting machinery cost a quarter as much as the Redis round trip's own client work.
fn key_in(scope: &str, family: &str, id: &str) -> String {
    let mut key = String::with_capacity(scope.len() + family.len() + 1 + id.len());
    key.push_str(scope);
    key.push_str(family);
    key.push(':');
    key.push_str(id);
    key
}

/// What [`WRITE_SESSION`] does.
#[derive(Clone, Copy)]
enum SessionWrite {
    /// A new session: also listed among the user's sessions.
    Create,
    /// A sliding refresh: only if the session still exists.
    Refresh,
}

/// A bounded in-process cache on the session check's path, read by every runtime worker at
/// once: `quick_cache`, where a hit is one shard's read lock (a cache that records each read for
/// an access order, as moka does, makes both workers write the same queues on every check).
type LocalCache<V> = quick_cache::sync::Cache<String, Arc<V>, quick_cache::UnitWeighter, foldhash::fast::RandomState>;

/// Shared by every clone of the store, as the connection is.
fn local_cache<V>(capacity: u64) -> Arc<LocalCache<V>> {
    let items = usize::try_from(capacity).unwrap_or(usize::MAX);
    let lifecycle = quick_cache::sync::DefaultLifecycle::default();
    Arc::new(LocalCache::with(
        items,
        capacity,
        quick_cache::UnitWeighter,
        foldhash::fast::RandomState::default(),
        lifecycle,
    ))
}

#[derive(Clone)]
pub struct RedisStore {
    conn: Arc<Connection>,
    layout: Layout,
    timeout: Duration,
    /// User id → the principal as of its version (see the module docs).
    principals: Arc<LocalCache<VersionedPrincipal>>,
    /// Token hash → the session index last read for it, decoded (see [`DecodedIndex`]).
    decoded: Arc<LocalCache<DecodedIndex>>,
}

/// A session index as Redis answered it, with what it decodes to.
///
/// Every check still reads the index from Redis, so a revocation, an expiry or a change to the
/// user shows on the very next check. What is kept is only the work of decoding it: when Redis
/// answers the very bytes it answered last time, they mean the same session, and (the index
/// carries the user's version) the same principal. Decoding the record's JSON was the largest
/// cost of a check on this store after the round trip itself.
struct DecodedIndex {
    raw: Vec<u8>,
    session: Arc<SessionRecord>,
    principal: Arc<Principal>,
}

/// A principal as read at `version`.
struct VersionedPrincipal {
    version: String,
    principal: Arc<Principal>,
}

/// Principals kept per instance: past this, the least used are dropped (and reread on use).
const PRINCIPAL_CACHE_CAPACITY: u64 = 100_000;
/// Decoded session indexes kept per instance (about 1 KiB each): past this, the least used are
/// dropped and decoded again on their next check.
const DECODED_CACHE_CAPACITY: u64 = 20_000;

/// What a command bounded by the store timeout gave: its value, or its error with the connection
/// generation it ran on (`None`: it failed while connecting), or nothing in time.
type Bounded<T> =
    std::result::Result<std::result::Result<T, (Option<u64>, redis::RedisError)>, tokio::time::error::Elapsed>;

/// `seen` before a command reached a connection.
const NOT_CONNECTED: u64 = u64::MAX;

/// How many replicas a master's `ROLE` answer lists (`["master", offset, [[ip, port, offset]…]]`).
fn connected_replicas(role: &redis::Value) -> usize {
    match role {
        redis::Value::Array(parts) => match parts.get(2) {
            Some(redis::Value::Array(replicas)) => replicas.len(),
            _ => 0,
        },
        _ => 0,
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::StoreUnavailable(format!("redis: {e}"))
}

fn decode<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::internal(format!("corrupt record in redis: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

/// `{org1, role1, org2, role2, ...}` as scripts return them, sorted by slug.
fn decode_memberships(pairs: &[String]) -> Result<Vec<Membership>> {
    let mut list = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        list.push(Membership { org: decode(&pair[0])?, role: pair[1].parse().map_err(Error::internal)? });
    }
    list.sort_by(|a, b| a.org.slug.cmp(&b.org.slug));
    Ok(list)
}

fn unix_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A Redis URL with its password, if any, replaced: safe to print.
pub fn redact_url(url: &str) -> String {
    // Not through a URL parser: `redis://app:12/x@h` parses as host `app`, port `12`, and would
    // keep `/x` (a password holding a `/`) in view. Whatever precedes the last `@` after the
    // scheme is user info; all of it but the user name is hidden.
    let Some((scheme, rest)) = url.split_once("://") else { return "<redis url>".to_owned() };
    let rest = match rest.rsplit_once('@') {
        Some((info, after)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{after}"),
            // Without a colon the whole user info may be a password.
            None => format!("***@{after}"),
        },
        None => rest.to_owned(),
    };
    // `redis+unix:///path?pass=…` carries it in the query.
    let rest = match rest.split_once('?') {
        Some((before, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if matches!(key.to_ascii_lowercase().as_str(), "pass" | "password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{before}?{}", pairs.join("&"))
        }
        None => rest,
    };
    format!("{scheme}://{rest}")
}

impl RedisStore {
    /// Connects (to a standalone Redis, to the master the sentinels name, or to a Cluster),
    /// failing within `timeout` when Redis cannot be reached. Later outages do not need a
    /// restart: the connection is re-established (behind sentinels: the master resolved again;
    /// on a Cluster: the slot map reread) by the next command, and every command fails fast
    /// (bounded by `timeout`) meanwhile.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self> {
        let conn = Connection::open(url, timeout).await?;
        let layout = Layout { prefix: prefix.to_owned(), cluster: conn.is_cluster() };
        let principals = local_cache(PRINCIPAL_CACHE_CAPACITY);
        let decoded = local_cache(DECODED_CACHE_CAPACITY);
        Ok(Self { conn: Arc::new(conn), layout, timeout, principals, decoded })
    }

    /// A key of its own slot (throttling counters, bans): `<prefix><family>:<id>`.
    fn key(&self, family: &str, id: &str) -> String {
        key_in(&self.layout.prefix, family, id)
    }

    /// Runs one command, script or pipeline that changes data, once, bounded by the store
    /// timeout. Not retried: a write whose reply was lost may have been applied.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.bounded(async |conn: Conn| op(conn).await).await
    }

    /// [`Self::run`] for a revocation (sign-out, session or token revoke, disable, a signing-key
    /// change), which a failover must never undo. Replication is asynchronous: a revocation
    /// acknowledged by a master that dies a moment later could be lost with it, and the session
    /// come back. So where the master has replicas, the answer waits (`WAIT`) until one of them
    /// holds the change, and is a 503 (the client retries) when none does in time. A master
    /// that lists no replica answers only when nothing could undo the change: behind sentinels,
    /// while they still name it the master and know no replica they could promote
    /// ([`Connection::may_answer_without_replicas`]); on a Cluster, while no replica of it is
    /// known to the cluster but failed. The write goes on a connection of its own
    /// ([`Lane::Durable`]): Redis reads nothing more from a client blocked in `WAIT`. `key` is
    /// one of the keys the write changes: on a Cluster, its slot's master is the one asked.
    async fn run_durable<T, F, Fut>(&self, key: &str, op: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // Half the bound: WAIT returns in time for its answer to be read and told apart from a
        // store that does not answer at all.
        let wait_ms = u64::try_from(self.timeout.as_millis() / 2).unwrap_or(u64::MAX).max(1);
        let conn = &self.conn;
        let durable = self
            .bounded_with(Lane::Durable, async |manager: Conn, addr| {
                let value = op(manager.clone()).await?;
                // On the same connection (on a Cluster: to the same node), so that WAIT covers
                // the write just made.
                let mut node = NodeOf::new(manager, key);
                let role = node.ask(redis::cmd("ROLE")).await?;
                let replicas = connected_replicas(&role);
                let durable = if replicas > 0 {
                    // One replica, as the contract asks (the README says what that covers).
                    let acknowledged: i64 =
                        redis::from_redis_value(node.ask(redis::cmd("WAIT").arg(1).arg(wait_ms).clone()).await?)?;
                    (acknowledged >= 1).then_some(()).ok_or(format!(
                        "no replica acknowledged the revocation within {wait_ms} ms ({replicas} connected)"
                    ))
                } else if node.has_no_promotable_replica().await?
                    && conn.may_answer_without_replicas(addr.as_ref()).await?
                {
                    Ok(())
                } else {
                    Err("the master lists no replica, and another master is named or a replica could be promoted"
                        .to_owned())
                };
                Ok((value, durable))
            })
            .await?;
        match durable {
            (value, Ok(())) => Ok(value),
            (_, Err(why)) => {
                crate::telemetry::store_error();
                Err(unavailable(format!("{why}; the revocation is not answered as done")))
            }
        }
    }

    /// Runs a read, bounded by the store timeout. A read is safe to send twice, so when its
    /// connection turns out to be gone (Redis restarted since the last command, or the master
    /// failed over) it is sent once more on a new connection: the first call after Redis comes
    /// back succeeds instead of answering 503.
    async fn read<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let started = std::time::Instant::now();
        let seen = AtomicU64::new(NOT_CONNECTED);
        let attempts = async {
            let (generation, conn) = self.conn.get(Lane::Commands).await.map_err(|e| (None, e))?;
            seen.store(generation, Ordering::Relaxed);
            match op(conn.clone()).await {
                Err(e) if connection_lost(&e) => {
                    self.conn.after_error(Lane::Commands, generation, Some(&e));
                    let (generation, conn) = self.conn.get(Lane::Commands).await.map_err(|e| (None, e))?;
                    seen.store(generation, Ordering::Relaxed);
                    op(conn).await.map_err(|e| (Some(generation), e))
                }
                done => done.map_err(|e| (Some(generation), e)),
            }
        };
        let outcome = tokio::time::timeout(self.timeout, attempts).await;
        crate::telemetry::store_call(started.elapsed());
        self.settle(Lane::Commands, outcome, seen.into_inner())
    }

    /// Runs `op` on the commands connection, bounded by the store timeout.
    async fn bounded<T>(&self, op: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>) -> Result<T> {
        self.bounded_with(Lane::Commands, async |conn, _| op(conn).await).await
    }

    /// Runs `op` on the connection of `lane`, bounded by the store timeout, telling it the
    /// address its connection goes to (`None` on a Cluster).
    async fn bounded_with<T>(
        &self,
        lane: Lane,
        op: impl AsyncFnOnce(Conn, Option<redis::ConnectionAddr>) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let started = std::time::Instant::now();
        let seen = AtomicU64::new(NOT_CONNECTED);
        let attempt = async {
            let (generation, conn, addr) = self.conn.get_with_addr(lane).await.map_err(|e| (None, e))?;
            seen.store(generation, Ordering::Relaxed);
            op(conn, addr).await.map_err(|e| (Some(generation), e))
        };
        let outcome = tokio::time::timeout(self.timeout, attempt).await;
        crate::telemetry::store_call(started.elapsed());
        self.settle(lane, outcome, seen.into_inner())
    }

    /// Maps a bounded command's outcome to the store's result, retiring the connection when the
    /// failure asks for it (see [`Connection::after_error`]). `seen` is the generation the
    /// command ran on, if it got that far.
    fn settle<T>(&self, lane: Lane, outcome: Bounded<T>, seen: u64) -> Result<T> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err((generation, e))) => {
                if let Some(generation) = generation {
                    self.conn.after_error(lane, generation, Some(&e));
                }
                Err(unavailable(e))
            }
            Err(_) => {
                if seen != NOT_CONNECTED {
                    self.conn.after_error(lane, seen, None);
                }
                Err(unavailable(format!("no answer within {:?}", self.timeout)))
            }
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>> {
        let key = &key;
        let raw: Option<String> = self.read(|mut c| async move { c.get(key).await }).await?;
        raw.as_deref().map(decode).transpose()
    }

    /// `MGET`; on a Cluster, redis-rs splits it by slot.
    async fn mget_json<T: DeserializeOwned>(&self, keys: Vec<String>) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = &keys;
        let raw: Vec<Option<String>> =
            self.read(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await }).await?;
        raw.iter().map(|r| r.as_deref().map(decode).transpose()).collect()
    }

    /// Every record whose id the set `set` lists (unordered), each at `key_of(id)`.
    async fn all_listed<T: DeserializeOwned>(&self, set: String, key_of: impl Fn(&str) -> String) -> Result<Vec<T>> {
        let set = &set;
        let ids: Vec<String> = self.read(|mut c| async move { c.smembers(set).await }).await?;
        let keys = ids.iter().map(|id| key_of(id)).collect();
        Ok(self.mget_json(keys).await?.into_iter().flatten().collect())
    }

    /// Claims the unique `index` for `id`, listing it in `set` (and writing `record` at `key`
    /// when given, in the same slot); whether the index was free.
    async fn claim_unique(
        &self,
        index: String,
        set: String,
        id: &str,
        record: Option<(String, String)>,
    ) -> Result<bool> {
        let claimed: i64 = self
            .run(|mut c| async move {
                let mut invocation = CLAIM_UNIQUE.key(index);
                invocation.key(set).arg(id);
                if let Some((key, json)) = record {
                    invocation.key(key).arg(json);
                }
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(claimed == 1)
    }

    /// A user's principal: from memory when its version is `live_version`, else reread.
    async fn principal(&self, user_id: &str, live_version: Option<&str>) -> Result<Option<Arc<Principal>>> {
        if let (Some(cached), Some(live)) = (self.principals.get(user_id), live_version)
            && cached.version == live
        {
            return Ok(Some(cached.principal.clone()));
        }
        let scope = &self.layout.user(user_id);
        let (user_key, global) = (&key_in(scope, "user", user_id), &self.layout.prefix);
        let parts: Option<Vec<String>> = self
            .read(|mut c| async move {
                LOAD_PRINCIPAL.key(user_key).arg(scope).arg(user_id).arg(global).invoke_async(&mut c).await
            })
            .await?;
        let Some(parts) = parts else { return Ok(None) };
        let [version, user, memberships @ ..] = parts.as_slice() else {
            return Err(Error::internal("unexpected answer from the principal script"));
        };
        let principal = Arc::new(Principal::new(decode(user)?, decode_memberships(memberships)?));
        let versioned = VersionedPrincipal { version: version.clone(), principal: principal.clone() };
        self.principals.insert(user_id.to_owned(), Arc::new(versioned));
        Ok(Some(principal))
    }

    /// Runs `change` (commands on user `user_id`'s keys) and bumps the user's version
    /// (restamping their sessions) in one transaction, on the user's slot. Durable
    /// ([`Self::run_durable`]): a disable or a removed membership must not come back after a
    /// failover.
    async fn change_principal(&self, user_id: &str, change: redis::Pipeline) -> Result<Vec<redis::Value>> {
        let scope = self.layout.user(user_id);
        let version = key_in(&scope, "user_ver", user_id);
        let mut pipe = change;
        pipe.atomic().cmd("EVAL").arg(BUMP_VERSION).arg(1).arg(&version).arg(&scope).arg(user_id).ignore();
        self.run_durable(&version, |mut c| async move { pipe.query_async(&mut c).await }).await
    }

    /// Runs [`WRITE_SESSION`]; whether the session was written.
    async fn write_session(&self, session: &SessionRecord, write: SessionWrite) -> Result<bool> {
        let scope = self.layout.user(&session.user_id);
        if self.layout.cluster {
            // Found later by its id or its token hash alone: both must name the user's slot.
            let shard = shard::of_user(&session.user_id);
            if shard::of_session_id(&session.id) != Some(&shard)
                || shard::of_token_hash(&session.token_hash) != Some(&shard)
            {
                return Err(Error::internal("a session's id and token hash must name its user's shard"));
            }
        }
        let mut invocation = WRITE_SESSION.prepare_invoke();
        invocation
            .key(key_in(&scope, "session", &session.id))
            .key(key_in(&scope, "session_token", &session.token_hash))
            .key(key_in(&scope, "user_sessions", &session.user_id))
            .key(key_in(&scope, "user_ver", &session.user_id))
            .arg(encode(session)?)
            .arg(unix_millis(session.expires_at))
            .arg(&session.id)
            .arg(match write {
                SessionWrite::Create => "create",
                SessionWrite::Refresh => "refresh",
            });
        let invocation = &invocation;
        let written: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        Ok(written == 1)
    }

    /// Runs [`DELETE_SESSIONS`] in `scope` on `key` (the session, or the user's set).
    async fn delete_sessions(&self, scope: Cow<'_, str>, key: String, mode: &str, id: &str) -> Result<usize> {
        let route = key.clone();
        let n: i64 = self
            .run_durable(&route, |mut c| async move {
                DELETE_SESSIONS.key(key).arg(scope).arg(mode).arg(id).invoke_async(&mut c).await
            })
            .await?;
        Ok(n.max(0) as usize)
    }

    /// The org keys: `org:{id}`, `org_slug:{slug}` and the `orgs` set, in one slot.
    fn org_key(&self, family: &str, id: &str) -> String {
        key_in(&self.layout.family("org"), family, id)
    }

    fn orgs_set(&self) -> String {
        format!("{}orgs", self.layout.family("org"))
    }

    fn users_set(&self) -> String {
        format!("{}users", self.layout.family("users"))
    }

    fn email_key(&self, email: &str) -> String {
        key_in(&self.layout.family("users"), "user_email", email)
    }

    fn user_key(&self, user_id: &str) -> String {
        key_in(&self.layout.user(user_id), "user", user_id)
    }
}

/// A command to the node a key's slot is on: the connection itself outside a Cluster.
struct NodeOf {
    conn: Conn,
    route: RoutingInfo,
}

impl NodeOf {
    fn new(conn: Conn, key: &str) -> Self {
        let route =
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master)));
        Self { conn, route }
    }

    async fn ask(&mut self, cmd: redis::Cmd) -> redis::RedisResult<redis::Value> {
        match &mut self.conn {
            Conn::Single(conn) => cmd.query_async(conn).await,
            Conn::Cluster(conn, _) => conn.route_command(cmd, self.route.clone()).await,
        }
    }

    /// On a Cluster: whether no replica of this master is known to the cluster but failed (a
    /// replica merely cut off from its master could be promoted, and lack the change). Outside
    /// a Cluster, the sentinels answer that ([`Connection::may_answer_without_replicas`]).
    async fn has_no_promotable_replica(&mut self) -> redis::RedisResult<bool> {
        if matches!(self.conn, Conn::Single(_)) {
            return Ok(true);
        }
        let id: String = redis::from_redis_value(self.ask(redis::cmd("CLUSTER").arg("MYID").clone()).await?)?;
        let replicas: Vec<String> =
            redis::from_redis_value(self.ask(redis::cmd("CLUSTER").arg("REPLICAS").arg(id).clone()).await?)?;
        // `<id> <addr> <flags> …`: a failed replica carries `fail` (or `fail?` while in doubt).
        Ok(replicas
            .iter()
            .all(|line| line.split(' ').nth(2).is_some_and(|flags| flags.split(',').any(|f| f.starts_with("fail")))))
    }
}

/// `{org JSON, role, …}` pairs from a memberships hash: values `{role} {org JSON}`, or a bare
/// role from before memberships carried their org (whose org is then looked up by id).
fn split_membership(value: &str) -> (&str, Option<&str>) {
    match value.split_once(' ') {
        Some((role, org)) => (role, Some(org)),
        None => (value, None),
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<()> {
        let _: String = self.read(|mut c| async move { redis::cmd("PING").query_async(&mut c).await }).await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        // The record first, where nothing points to it yet; then the email claimed for it. A
        // crash in between leaves an unreachable record, never an email taken by nobody.
        let key = self.user_key(&user.id);
        let json = encode(user)?;
        let (record, json_ref) = (&key, &json);
        let written: Option<String> = self
            .run(|mut c| async move { redis::cmd("SET").arg(record).arg(json_ref).arg("NX").query_async(&mut c).await })
            .await?;
        if written.is_none() {
            return Err(Error::conflict(format!("user {}", user.id)));
        }
        if self.claim_unique(self.email_key(&user.email), self.users_set(), &user.id, None).await? {
            return Ok(());
        }
        let _: i64 = self.run(|mut c| async move { c.del(record).await }).await?;
        Err(Error::conflict(format!("user {}", user.email)))
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        self.get_json(self.user_key(id)).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let key = &self.email_key(email);
        let id: Option<String> = self.read(|mut c| async move { c.get(key).await }).await?;
        match id {
            Some(id) => self.user_by_id(&id).await,
            None => Ok(None),
        }
    }

    async fn update_user(&self, user: &UserRecord) -> Result<()> {
        // XX: only replace an existing user, so a concurrent delete is never undone. (The
        // version is bumped either way: a needless bump only costs one reread.)
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(self.user_key(&user.id)).arg(encode(user)?).arg("XX");
        let replies = self.change_principal(&user.id, pipe).await?;
        match replies.first() {
            Some(redis::Value::Nil) | None => Err(Error::not_found(format!("user {}", user.email))),
            Some(_) => Ok(()),
        }
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let mut users: Vec<UserRecord> = self.all_listed(self.users_set(), |id| self.user_key(id)).await?;
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }

    async fn create_org(&self, org: &OrgRecord) -> Result<()> {
        let record = Some((self.org_key("org", &org.id), encode(org)?));
        if self.claim_unique(self.org_key("org_slug", &org.slug), self.orgs_set(), &org.id, record).await? {
            Ok(())
        } else {
            Err(Error::conflict(format!("org {}", org.slug)))
        }
    }

    async fn org_by_slug(&self, slug: &str) -> Result<Option<OrgRecord>> {
        let key = &self.org_key("org_slug", slug);
        let id: Option<String> = self.read(|mut c| async move { c.get(key).await }).await?;
        match id {
            Some(id) => self.get_json(self.org_key("org", &id)).await,
            None => Ok(None),
        }
    }

    async fn list_orgs(&self) -> Result<Vec<OrgRecord>> {
        let mut orgs: Vec<OrgRecord> = self.all_listed(self.orgs_set(), |id| self.org_key("org", id)).await?;
        orgs.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(orgs)
    }

    async fn put_membership(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<()> {
        // The membership carries a copy of its org (orgs never change), so that a principal is
        // read from the user's slot alone.
        let org: Option<String> = {
            let key = &self.org_key("org", org_id);
            self.read(|mut c| async move { c.get(key).await }).await?
        };
        let org = org.ok_or_else(|| Error::not_found(format!("org {org_id}")))?;
        let mut pipe = redis::pipe();
        let value = format!("{} {org}", role.as_str());
        pipe.hset(key_in(&self.layout.user(user_id), "user_orgs", user_id), org_id, value).ignore();
        self.change_principal(user_id, pipe).await?;
        Ok(())
    }

    async fn remove_membership(&self, org_id: &str, user_id: &str) -> Result<bool> {
        let mut pipe = redis::pipe();
        pipe.hdel(key_in(&self.layout.user(user_id), "user_orgs", user_id), org_id);
        let replies = self.change_principal(user_id, pipe).await?;
        Ok(matches!(replies.first(), Some(redis::Value::Int(n)) if *n > 0))
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Membership>> {
        let key = &key_in(&self.layout.user(user_id), "user_orgs", user_id);
        let roles: Vec<(String, String)> = self.read(|mut c| async move { c.hgetall(key).await }).await?;
        // Values from before memberships carried their org: the org is read by id.
        let legacy: Vec<String> = roles
            .iter()
            .filter(|(_, value)| split_membership(value).1.is_none())
            .map(|(org_id, _)| self.org_key("org", org_id))
            .collect();
        let mut looked_up = self.mget_json::<OrgRecord>(legacy).await?.into_iter();
        let mut list = Vec::with_capacity(roles.len());
        for (_, value) in &roles {
            let (role, org) = split_membership(value);
            let org = match org {
                Some(json) => Some(decode::<OrgRecord>(json)?),
                None => looked_up.next().flatten(),
            };
            if let Some(org) = org {
                list.push(Membership { org, role: role.parse().map_err(Error::internal)? });
            }
        }
        list.sort_by(|a, b| a.org.slug.cmp(&b.org.slug));
        Ok(list)
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        self.write_session(session, SessionWrite::Create).await?;
        Ok(())
    }

    async fn load_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionBundle>> {
        let Some(scope) = self.layout.session_by_hash(token_hash) else { return Ok(None) };
        let key = &key_in(&scope, "session_token", token_hash);
        let raw: Option<Vec<u8>> = self.read(|mut c| async move { c.get_bytes(key).await }).await?;
        let Some(raw) = raw else { return Ok(None) };
        if let Some(seen) = self.decoded.get(token_hash)
            && seen.raw == raw
        {
            let bundle = SessionBundle { session: seen.session.clone(), principal: seen.principal.clone() };
            return Ok(bundle.session.is_live(now).then_some(bundle));
        }
        let index = std::str::from_utf8(&raw).map_err(|_| Error::internal("corrupt session index in redis"))?;
        let (session, version) = match index.split_once(' ') {
            Some((version, record)) if record.starts_with('{') => (decode::<SessionRecord>(record)?, Some(version)),
            // An index written before versions were stamped into it: `{session id} {user id}`.
            // Read the session on its own and the principal afresh; its next refresh rewrites it.
            Some((id, _)) => match self.get_json::<SessionRecord>(key_in(&scope, "session", id)).await? {
                Some(session) => (session, None),
                None => return Ok(None),
            },
            None => return Err(Error::internal("corrupt session index in redis")),
        };
        if !session.is_live(now) {
            return Ok(None);
        }
        let Some(principal) = self.principal(&session.user_id, version).await? else { return Ok(None) };
        let session = Arc::new(session);
        if version.is_some() {
            let decoded = DecodedIndex { raw, session: session.clone(), principal: principal.clone() };
            self.decoded.insert(token_hash.to_owned(), Arc::new(decoded));
        }
        Ok(Some(SessionBundle { session, principal }))
    }

    async fn session_by_id(&self, id: &str, now: OffsetDateTime) -> Result<Option<SessionRecord>> {
        let Some(scope) = self.layout.session_by_id(id) else { return Ok(None) };
        let session: Option<SessionRecord> = self.get_json(key_in(&scope, "session", id)).await?;
        Ok(session.filter(|s| s.is_live(now)))
    }

    async fn refresh_session(&self, refreshed: &SessionRecord) -> Result<bool> {
        self.write_session(refreshed, SessionWrite::Refresh).await
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        let Some(scope) = self.layout.session_by_id(id) else { return Ok(false) };
        let key = key_in(&scope, "session", id);
        Ok(self.delete_sessions(scope, key, "one", id).await? > 0)
    }

    async fn sessions_of(&self, user_id: &str, now: OffsetDateTime) -> Result<Vec<SessionRecord>> {
        let scope = self.layout.user(user_id);
        let set = &key_in(&scope, "user_sessions", user_id);
        let ids: Vec<String> = self.read(|mut c| async move { c.smembers(set).await }).await?;
        let found: Vec<Option<SessionRecord>> =
            self.mget_json(ids.iter().map(|id| key_in(&scope, "session", id)).collect()).await?;
        let gone: Vec<&String> = ids.iter().zip(&found).filter(|(_, s)| s.is_none()).map(|(id, _)| id).collect();
        if !gone.is_empty() {
            let gone: Vec<String> = gone.into_iter().cloned().collect();
            let _: i64 = self.run(|mut c| async move { c.srem(set, gone).await }).await?;
        }
        let mut live: Vec<SessionRecord> = found.into_iter().flatten().filter(|s| s.is_live(now)).collect();
        live.sort_by_key(|s| s.created_at);
        Ok(live)
    }

    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> Result<usize> {
        let scope = self.layout.user(user_id);
        let set = key_in(&scope, "user_sessions", user_id);
        match keep {
            Some(id) => self.delete_sessions(scope, set, "keep", id).await,
            None => self.delete_sessions(scope, set, "all", "").await,
        }
    }

    async fn fence(&self) -> Result<()> {
        // A write of its own on the revocations' connection: a replica that holds it holds
        // everything the master had before, whichever connection wrote it. On a Cluster, one
        // such write on every master.
        let keys =
            if self.layout.cluster { self.fence_keys().await? } else { vec![format!("{}fence", self.layout.prefix)] };
        for key in &keys {
            self.run_durable(
                key,
                |mut conn| async move { redis::cmd("INCR").arg(key).query_async::<i64>(&mut conn).await },
            )
            .await?;
        }
        Ok(())
    }

    async fn load_credential(&self, c: Collection, index: &str, value: &str) -> Result<Option<CredentialBundle>> {
        let (key, scope, kind) = (&self.index_key(c, index, value), &self.collection_scope(c), c.spec.name);
        // On a Cluster the record's collection and its user are in different slots: the record
        // in one round trip, its principal in another.
        let mode = if self.layout.cluster { "record" } else { "bundle" };
        let parts: Option<Vec<String>> =
            self.read(|mut c| async move {
                LOAD_CREDENTIAL.key(key).arg(scope).arg(kind).arg(mode).invoke_async(&mut c).await
            })
            .await?;
        let Some(parts) = parts else { return Ok(None) };
        match parts.as_slice() {
            [record] if self.layout.cluster => {
                #[derive(serde::Deserialize)]
                struct Owner {
                    user_id: String,
                }
                let owner: Owner = decode(record)?;
                let Some(principal) = self.principal(&owner.user_id, None).await? else { return Ok(None) };
                Ok(Some(CredentialBundle {
                    record: record.clone(),
                    user: principal.user.clone(),
                    memberships: principal.memberships.clone(),
                }))
            }
            [record, user, memberships @ ..] => Ok(Some(CredentialBundle {
                record: record.clone(),
                user: decode(user)?,
                memberships: decode_memberships(memberships)?,
            })),
            _ => Err(Error::internal("unexpected answer from the credential script")),
        }
    }

    async fn count_failure(&self, key: &str, window: Duration) -> Result<u64> {
        let key = self.key("throttle", key);
        let mut pipe = redis::pipe();
        // The window starts at the first failure: NX keeps later failures from extending it.
        pipe.atomic().cmd("INCR").arg(&key).cmd("PEXPIRE").arg(&key).arg(window.as_millis() as u64).arg("NX").ignore();
        let (count,): (u64,) = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        Ok(count)
    }

    async fn ban(&self, key: &str, duration: Duration) -> Result<()> {
        let key = self.key("ban", key);
        let millis = duration.as_millis() as u64;
        self.run(|mut c| async move {
            redis::cmd("SET").arg(key).arg(1).arg("PX").arg(millis).query_async::<()>(&mut c).await
        })
        .await
    }

    async fn ban_remaining(&self, key: &str) -> Result<Option<Duration>> {
        let key = &self.key("ban", key);
        let millis: i64 =
            self.read(|mut c| async move { redis::cmd("PTTL").arg(key).query_async(&mut c).await }).await?;
        Ok((millis > 0).then(|| Duration::from_millis(millis as u64)))
    }

    async fn append_audit(&self, record: &AuditRecord, capacity: usize) -> Result<()> {
        let (stream, json) = (format!("{}audit", self.layout.prefix), encode(record)?);
        self.run(|mut c| async move {
            redis::cmd("XADD")
                .arg(stream)
                .arg("MAXLEN")
                .arg(capacity)
                .arg("*")
                .arg("record")
                .arg(json)
                .query_async::<String>(&mut c)
                .await
        })
        .await?;
        Ok(())
    }

    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let stream = &format!("{}audit", self.layout.prefix);
        // Newest first; read more than asked when filtering (bounded by the stream's cap).
        let count = if filter.event.is_some() || filter.actor.is_some() { super::AUDIT_CAPACITY } else { filter.limit };
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .read(|mut c| async move {
                redis::cmd("XREVRANGE").arg(stream).arg("+").arg("-").arg("COUNT").arg(count).query_async(&mut c).await
            })
            .await?;
        let mut records = Vec::new();
        for (_, fields) in entries {
            for (name, json) in fields {
                if name == "record" {
                    let record: AuditRecord = decode(&json)?;
                    if filter.matches(&record) {
                        records.push(record);
                    }
                }
            }
            if records.len() >= filter.limit {
                break;
            }
        }
        records.truncate(filter.limit);
        Ok(records)
    }
}

impl RedisStore {
    /// One key on each master of the Cluster (from `CLUSTER SLOTS`), for [`Store::fence`].
    async fn fence_keys(&self) -> Result<Vec<String>> {
        let ranges: Vec<redis::Value> =
            self.read(|mut c| async move { redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut c).await }).await?;
        let mut keys = Vec::new();
        for range in ranges {
            let redis::Value::Array(parts) = range else { continue };
            let (Some(redis::Value::Int(first)), Some(redis::Value::Int(last))) = (parts.first(), parts.get(1)) else {
                continue;
            };
            // A tag whose slot falls in the range: ranges span hundreds of slots, so a few tries.
            let slots: std::collections::HashSet<Slot> =
                (*first..=*last).filter_map(|n| u16::try_from(n).ok().and_then(Slot::new)).collect();
            let key = (0u32..1 << 20)
                .map(|n| format!("{}{{fence-{n}}}", self.layout.prefix))
                .find(|key| slots.contains(&Slot::for_key(key)))
                .ok_or_else(|| Error::internal("no fence key found for a slot range"))?;
            keys.push(key);
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_a_printed_url() {
        for (url, shown) in [
            ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
            ("redis://app:hunter2@h/0", "redis://app:***@h/0"),
            ("redis+sentinel://:hunter2@h1:26379,h2/m/0", "redis+sentinel://:***@h1:26379,h2/m/0"),
            ("redis+sentinel://app:hunter2@h1:x/m", "redis+sentinel://app:***@h1:x/m"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("redis+sentinel://:pa/ss@h1,h2/m", "redis+sentinel://:***@h1,h2/m"),
            ("redis+sentinel://app:p?w#x@h1/m", "redis+sentinel://app:***@h1/m"),
            ("redis+sentinel://hunter2@h1:x/m", "redis+sentinel://***@h1:x/m"),
            ("redis://app:12/x@h:6379/0", "redis://app:***@h:6379/0"),
            ("redis+unix:///run/redis.sock?db=1&pass=hunter2", "redis+unix:///run/redis.sock?db=1&pass=***"),
        ] {
            assert_eq!(super::redact_url(url), shown);
        }
    }
}
