//! The Redis store: shared by every airlock instance of a deployment.
//!
//! Keys live under one prefix (`airlock:` by default):
//!
//! | key | value |
//! |---|---|
//! | `user:{id}` / `user_email:{email}` / `users` | user JSON / user id / set of ids |
//! | `org:{id}` / `org_slug:{slug}` / `orgs` | org JSON / org id / set of ids |
//! | `user_orgs:{user id}` | hash org id → membership role |
//! | `session:{id}` / `session_token:{sha256}` | session JSON / `{user version} {session JSON}`, both with the session's TTL |
//! | `user_sessions:{user id}` | set of session ids (pruned as they expire) |
//! | `user_ver:{user id}` | counter, bumped with every change to the user or their memberships |
//!
//! Uniqueness (emails, slugs) and multi-key changes are single Lua scripts, so two instances
//! can never race into a duplicate or a half-deleted session. Scripts compute some key names, so
//! this backend targets a standalone Redis (or Sentinel), not Cluster.
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
    UserRecord,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
mod collections;
mod connection;

pub use connection::SentinelUrl;
use connection::{Connection, Lane, connection_lost};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::OrgRole;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use time::OffsetDateTime;

/// Insert `ARGV[2]` at `KEYS[2]` and its id `ARGV[1]` into the set `KEYS[3]`, unless the unique
/// index `KEYS[1]` is taken.
static CREATE_UNIQUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
        redis.call('SET', KEYS[2], ARGV[2])
        redis.call('SADD', KEYS[3], ARGV[1])
        return 1",
    )
});

/// The credential check: unique index `KEYS[1]` → record of collection `ARGV[2]` (`token`) →
/// its `user_id` → user → memberships → orgs, in one round trip.
/// Returns `{record, user, org1, role1, org2, role2, ...}` or nil.
static LOAD_CREDENTIAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local p = ARGV[1]
        local id = redis.call('GET', KEYS[1])
        if not id then return false end
        local s = redis.call('GET', p .. ARGV[2] .. ':' .. id)
        if not s then return false end
        local uid = cjson.decode(s)['user_id']
        local u = redis.call('GET', p .. 'user:' .. uid)
        if not u then return false end
        local out = {s, u}
        local m = redis.call('HGETALL', p .. 'user_orgs:' .. uid)
        for i = 1, #m, 2 do
            local o = redis.call('GET', p .. 'org:' .. m[i])
            if o then
                out[#out + 1] = o
                out[#out + 1] = m[i + 1]
            end
        end
        return out",
    )
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

/// Bumps user `ARGV[2]`'s version and restamps the token index of each of their sessions with
/// it. Sent as `EVAL` inside the `MULTI` of every change to a user or their memberships (a
/// rare write, so the script's text travels with it), so that a check anywhere sees the new
/// version on its very next read.
const BUMP_VERSION: &str = r"
    local p, uid = ARGV[1], ARGV[2]
    local v = redis.call('INCR', p .. 'user_ver:' .. uid)
    for _, id in ipairs(redis.call('SMEMBERS', p .. 'user_sessions:' .. uid)) do
        local s = redis.call('GET', p .. 'session:' .. id)
        if s then
            local index = p .. 'session_token:' .. cjson.decode(s)['token_hash']
            redis.call('SET', index, v .. ' ' .. s, 'XX', 'KEEPTTL')
        end
    end
    return v";

/// A user's principal with its version, read together: `{version, user, org1, role1, ...}`, or
/// nil when the user is gone.
static LOAD_PRINCIPAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local p, uid = ARGV[1], ARGV[2]
        local u = redis.call('GET', p .. 'user:' .. uid)
        if not u then return false end
        local out = {redis.call('GET', p .. 'user_ver:' .. uid) or '0', u}
        local m = redis.call('HGETALL', p .. 'user_orgs:' .. uid)
        for i = 1, #m, 2 do
            local o = redis.call('GET', p .. 'org:' .. m[i])
            if o then
                out[#out + 1] = o
                out[#out + 1] = m[i + 1]
            end
        end
        return out",
    )
});

/// Deletes sessions of user `ARGV[2]` (all ids in `ARGV[4..]`, or every one in the user's set
/// when `ARGV[3]` is `all`), except the id `ARGV[3]` names when it is not `all`/`none`.
/// Removes the session, its token index and its set entry together. Returns how many existed.
static DELETE_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local p = ARGV[1]
        local set = p .. 'user_sessions:' .. ARGV[2]
        local ids = {}
        if ARGV[3] == 'one' then ids = {ARGV[4]} else ids = redis.call('SMEMBERS', set) end
        local n = 0
        for _, id in ipairs(ids) do
            if not (ARGV[3] == 'keep' and id == ARGV[4]) then
                local s = redis.call('GET', p .. 'session:' .. id)
                if s then
                    local rec = cjson.decode(s)
                    redis.call('DEL', p .. 'session:' .. id, p .. 'session_token:' .. rec['token_hash'])
                    redis.call('SREM', p .. 'user_sessions:' .. rec['user_id'], id)
                    n = n + 1
                elseif ARGV[3] ~= 'one' then
                    redis.call('SREM', set, id)
                end
            end
        end
        return n",
    )
});

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
    prefix: String,
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
    /// Connects (to a standalone Redis, or to the master the sentinels name), failing within
    /// `timeout` when Redis cannot be reached. Later outages do not need a restart: the
    /// connection is re-established (behind sentinels: the master resolved again) by the next
    /// command, and every command fails fast (bounded by `timeout`) meanwhile.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self> {
        let conn = Connection::open(url, timeout).await?;
        let principals = local_cache(PRINCIPAL_CACHE_CAPACITY);
        let decoded = local_cache(DECODED_CACHE_CAPACITY);
        Ok(Self { conn: Arc::new(conn), prefix: prefix.to_owned(), timeout, principals, decoded })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        // Built by hand rather than with `format!`: on the session check, the formatting
        // machinery cost a quarter as much as the Redis round trip's own client work.
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 1 + id.len());
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
    }

    /// Runs one command, script or pipeline that changes data, once, bounded by the store
    /// timeout. Not retried: a write whose reply was lost may have been applied.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.bounded(async |conn: ConnectionManager| op(conn).await).await
    }

    /// [`Self::run`] for a revocation (sign-out, session or token revoke, disable, a signing-key
    /// change), which a failover must never undo. Replication is asynchronous: a revocation
    /// acknowledged by a master that dies a moment later could be lost with it, and the session
    /// come back. So where the master has replicas, the answer waits (`WAIT`) until one of them
    /// holds the change, and is a 503 (the client retries) when none does in time. A master
    /// that lists no replica answers only when nothing could undo the change: behind sentinels,
    /// while they still name it the master and know no replica they could promote
    /// ([`Connection::may_answer_without_replicas`]). The write goes on a connection of
    /// its own ([`Lane::Durable`]): Redis reads nothing more from a client blocked in `WAIT`.
    async fn run_durable<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // Half the bound: WAIT returns in time for its answer to be read and told apart from a
        // store that does not answer at all.
        let wait_ms = u64::try_from(self.timeout.as_millis() / 2).unwrap_or(u64::MAX).max(1);
        let conn = &self.conn;
        let durable = self
            .bounded_with(Lane::Durable, async |mut manager: ConnectionManager, addr| {
                let value = op(manager.clone()).await?;
                // On the same connection, so that WAIT covers the write just made.
                let role: redis::Value = redis::cmd("ROLE").query_async(&mut manager).await?;
                let replicas = connected_replicas(&role);
                let durable = if replicas > 0 {
                    // One replica, as the contract asks (the README says what that covers).
                    let acknowledged: i64 = redis::cmd("WAIT").arg(1).arg(wait_ms).query_async(&mut manager).await?;
                    (acknowledged >= 1).then_some(()).ok_or(format!(
                        "no replica acknowledged the revocation within {wait_ms} ms ({replicas} connected)"
                    ))
                } else if conn.may_answer_without_replicas(&addr).await? {
                    Ok(())
                } else {
                    Err("the master lists no replica, and the sentinels name another master or know a replica \
                         they could promote"
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
        F: Fn(ConnectionManager) -> Fut,
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
    async fn bounded<T>(&self, op: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>) -> Result<T> {
        self.bounded_on(Lane::Commands, op).await
    }

    /// Runs `op` on the connection of `lane`, bounded by the store timeout.
    async fn bounded_on<T>(
        &self,
        lane: Lane,
        op: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let started = std::time::Instant::now();
        let seen = AtomicU64::new(NOT_CONNECTED);
        let attempt = async {
            let (generation, conn) = self.conn.get(lane).await.map_err(|e| (None, e))?;
            seen.store(generation, Ordering::Relaxed);
            op(conn).await.map_err(|e| (Some(generation), e))
        };
        let outcome = tokio::time::timeout(self.timeout, attempt).await;
        crate::telemetry::store_call(started.elapsed());
        self.settle(lane, outcome, seen.into_inner())
    }

    /// [`Self::bounded_on`], telling `op` the address its connection goes to.
    async fn bounded_with<T>(
        &self,
        lane: Lane,
        op: impl AsyncFnOnce(ConnectionManager, redis::ConnectionAddr) -> redis::RedisResult<T>,
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

    async fn mget_json<T: DeserializeOwned>(&self, keys: Vec<String>) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = &keys;
        let raw: Vec<Option<String>> =
            self.read(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await }).await?;
        raw.iter().map(|r| r.as_deref().map(decode).transpose()).collect()
    }

    /// Every record `{kind}:{id}` whose id the set `{set}` lists (unordered).
    async fn all_listed<T: DeserializeOwned>(&self, kind: &str, set: &str) -> Result<Vec<T>> {
        let set = &format!("{}{set}", self.prefix);
        let ids: Vec<String> = self.read(|mut c| async move { c.smembers(set).await }).await?;
        let keys = ids.iter().map(|id| self.key(kind, id)).collect();
        Ok(self.mget_json(keys).await?.into_iter().flatten().collect())
    }

    async fn create_unique(&self, index: String, id: &str, key: String, set: String, json: String) -> Result<bool> {
        let created: i64 = self
            .run(|mut c| async move {
                CREATE_UNIQUE.key(index).key(key).key(set).arg(id).arg(json).invoke_async(&mut c).await
            })
            .await?;
        Ok(created == 1)
    }

    /// A user's principal: from memory when its version is `live_version`, else reread.
    async fn principal(&self, user_id: &str, live_version: Option<&str>) -> Result<Option<Arc<Principal>>> {
        if let (Some(cached), Some(live)) = (self.principals.get(user_id), live_version)
            && cached.version == live
        {
            return Ok(Some(cached.principal.clone()));
        }
        let prefix = &self.prefix;
        let parts: Option<Vec<String>> = self
            .read(|mut c| async move { LOAD_PRINCIPAL.arg(prefix).arg(user_id).invoke_async(&mut c).await })
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

    /// Runs `change` and bumps the user's version (restamping their sessions) in one
    /// transaction. Durable ([`Self::run_durable`]): a disable or a removed membership must not
    /// come back after a failover.
    async fn change_principal(&self, user_id: &str, change: redis::Pipeline) -> Result<Vec<redis::Value>> {
        let mut pipe = change;
        pipe.atomic().cmd("EVAL").arg(BUMP_VERSION).arg(0).arg(&self.prefix).arg(user_id).ignore();
        self.run_durable(|mut c| async move { pipe.query_async(&mut c).await }).await
    }

    /// Runs [`WRITE_SESSION`]; whether the session was written.
    async fn write_session(&self, session: &SessionRecord, write: SessionWrite) -> Result<bool> {
        let mut invocation = WRITE_SESSION.prepare_invoke();
        invocation
            .key(self.key("session", &session.id))
            .key(self.key("session_token", &session.token_hash))
            .key(self.key("user_sessions", &session.user_id))
            .key(self.key("user_ver", &session.user_id))
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

    async fn delete_sessions(&self, user_id: &str, mode: &str, id: Option<&str>) -> Result<usize> {
        let (prefix, user_id, mode, id) = (self.prefix.clone(), user_id.to_owned(), mode.to_owned(), id.unwrap_or(""));
        let n: i64 = self
            .run_durable(|mut c| async move {
                DELETE_SESSIONS.arg(prefix).arg(user_id).arg(mode).arg(id).invoke_async(&mut c).await
            })
            .await?;
        Ok(n.max(0) as usize)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<()> {
        let _: String = self.read(|mut c| async move { redis::cmd("PING").query_async(&mut c).await }).await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let created = self
            .create_unique(
                self.key("user_email", &user.email),
                &user.id,
                self.key("user", &user.id),
                format!("{}users", self.prefix),
                encode(user)?,
            )
            .await?;
        if created { Ok(()) } else { Err(Error::conflict(format!("user {}", user.email))) }
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        self.get_json(self.key("user", id)).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let key = &self.key("user_email", email);
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
        pipe.cmd("SET").arg(self.key("user", &user.id)).arg(encode(user)?).arg("XX");
        let replies = self.change_principal(&user.id, pipe).await?;
        match replies.first() {
            Some(redis::Value::Nil) | None => Err(Error::not_found(format!("user {}", user.email))),
            Some(_) => Ok(()),
        }
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let mut users: Vec<UserRecord> = self.all_listed("user", "users").await?;
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }

    async fn create_org(&self, org: &OrgRecord) -> Result<()> {
        let created = self
            .create_unique(
                self.key("org_slug", &org.slug),
                &org.id,
                self.key("org", &org.id),
                format!("{}orgs", self.prefix),
                encode(org)?,
            )
            .await?;
        if created { Ok(()) } else { Err(Error::conflict(format!("org {}", org.slug))) }
    }

    async fn org_by_slug(&self, slug: &str) -> Result<Option<OrgRecord>> {
        let key = &self.key("org_slug", slug);
        let id: Option<String> = self.read(|mut c| async move { c.get(key).await }).await?;
        match id {
            Some(id) => self.get_json(self.key("org", &id)).await,
            None => Ok(None),
        }
    }

    async fn list_orgs(&self) -> Result<Vec<OrgRecord>> {
        let mut orgs: Vec<OrgRecord> = self.all_listed("org", "orgs").await?;
        orgs.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(orgs)
    }

    async fn put_membership(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.hset(self.key("user_orgs", user_id), org_id, role.as_str()).ignore();
        self.change_principal(user_id, pipe).await?;
        Ok(())
    }

    async fn remove_membership(&self, org_id: &str, user_id: &str) -> Result<bool> {
        let mut pipe = redis::pipe();
        pipe.hdel(self.key("user_orgs", user_id), org_id);
        let replies = self.change_principal(user_id, pipe).await?;
        Ok(matches!(replies.first(), Some(redis::Value::Int(n)) if *n > 0))
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Membership>> {
        let key = &self.key("user_orgs", user_id);
        let roles: Vec<(String, String)> = self.read(|mut c| async move { c.hgetall(key).await }).await?;
        let orgs: Vec<Option<OrgRecord>> =
            self.mget_json(roles.iter().map(|(org_id, _)| self.key("org", org_id)).collect()).await?;
        let mut list = Vec::with_capacity(roles.len());
        for ((_, role), org) in roles.into_iter().zip(orgs) {
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
        let key = &self.key("session_token", token_hash);
        let raw: Option<Vec<u8>> = self.read(|mut c| async move { c.get(key).await }).await?;
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
            Some((id, _)) => match self.get_json::<SessionRecord>(self.key("session", id)).await? {
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
        let session: Option<SessionRecord> = self.get_json(self.key("session", id)).await?;
        Ok(session.filter(|s| s.is_live(now)))
    }

    async fn refresh_session(&self, refreshed: &SessionRecord) -> Result<bool> {
        self.write_session(refreshed, SessionWrite::Refresh).await
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        Ok(self.delete_sessions("", "one", Some(id)).await? > 0)
    }

    async fn sessions_of(&self, user_id: &str, now: OffsetDateTime) -> Result<Vec<SessionRecord>> {
        let set = &self.key("user_sessions", user_id);
        let ids: Vec<String> = self.read(|mut c| async move { c.smembers(set).await }).await?;
        let found: Vec<Option<SessionRecord>> =
            self.mget_json(ids.iter().map(|id| self.key("session", id)).collect()).await?;
        let gone: Vec<&String> = ids.iter().zip(&found).filter(|(_, s)| s.is_none()).map(|(id, _)| id).collect();
        if !gone.is_empty() {
            let (set, gone): (String, Vec<String>) =
                (self.key("user_sessions", user_id), gone.into_iter().cloned().collect());
            let _: i64 = self.run(|mut c| async move { c.srem(set, gone).await }).await?;
        }
        let mut live: Vec<SessionRecord> = found.into_iter().flatten().filter(|s| s.is_live(now)).collect();
        live.sort_by_key(|s| s.created_at);
        Ok(live)
    }

    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> Result<usize> {
        match keep {
            Some(id) => self.delete_sessions(user_id, "keep", Some(id)).await,
            None => self.delete_sessions(user_id, "all", None).await,
        }
    }

    async fn fence(&self) -> Result<()> {
        // A write of its own on the revocations' connection: a replica that holds it holds
        // everything the master had before, whichever connection wrote it.
        let key = &format!("{}fence", self.prefix);
        self.run_durable(|mut conn| async move { redis::cmd("INCR").arg(key).query_async::<i64>(&mut conn).await })
            .await
            .map(|_| ())
    }

    async fn load_credential(&self, c: Collection, index: &str, value: &str) -> Result<Option<CredentialBundle>> {
        let (key, prefix, kind) = (&self.index_key(c, index, value), &self.prefix, c.spec.name);
        let parts: Option<Vec<String>> = self
            .read(|mut c| async move { LOAD_CREDENTIAL.key(key).arg(prefix).arg(kind).invoke_async(&mut c).await })
            .await?;
        let Some(parts) = parts else { return Ok(None) };
        let [record, user, memberships @ ..] = parts.as_slice() else {
            return Err(Error::internal("unexpected answer from the credential script"));
        };
        Ok(Some(CredentialBundle {
            record: record.clone(),
            user: decode(user)?,
            memberships: decode_memberships(memberships)?,
        }))
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
        let (stream, json) = (format!("{}audit", self.prefix), encode(record)?);
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
        let stream = &format!("{}audit", self.prefix);
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
