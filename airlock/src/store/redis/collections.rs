//! The record collections ([`Collections`]) on Redis.
//!
//! | key | value |
//! |---|---|
//! | `<prefix><name>:<id>` | the record's JSON, with the record's expiry (`PXAT`) |
//! | `<prefix><name>_<index>:<value>` | the id holding that unique key, same expiry |
//! | `<prefix><all>` | set of every id (kinds listed whole) |
//! | `<prefix><owned with the owner>` | sorted set of an owner's ids, scored by expiry (ms) |
//!
//! On a Cluster, every key of a collection carries the collection's name as its hash tag
//! (`airlock:{token}token:<id>`): a collection is one slot, so each script below stays in it.
//!
//! Each change is one Lua script over declared keys. A delete or take reads the record first
//! (to know its unique keys and owner), then deletes it only if it is still exactly what was
//! read, and tries again otherwise: so of two concurrent takes of a single-use code, one gets
//! it. Set and sorted-set members whose record has gone (expired) are pruned when listed.

use super::{RedisStore, key_in};
use crate::error::{Error, Result};
use crate::store::collection::{Collection, Collections, Durability, Meta, Row};
use async_trait::async_trait;
use redis::Script;
use std::sync::LazyLock;
use time::OffsetDateTime;

/// KEYS: record, then `ARGV[5]` index keys, then the all-set (if `ARGV[6]` = 1), then the owner
/// set (if `ARGV[7]` = 1). ARGV: json, id, expiry ms or '', mode (`insert`, `put`, `swap`),
/// index count, all?, owned?, owner score, expected (swap). 1 when written.
static WRITE_ROW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local json, id, expires, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local indexes, listed, owned = tonumber(ARGV[5]), ARGV[6] == '1', ARGV[7] == '1'
        if mode == 'insert' then
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            for i = 2, 1 + indexes do
                if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
            end
        elseif mode == 'swap' then
            if redis.call('GET', KEYS[1]) ~= ARGV[9] then return 0 end
        end
        local function set(key, value)
            if expires == '' then redis.call('SET', key, value) else redis.call('SET', key, value, 'PXAT', expires) end
        end
        set(KEYS[1], json)
        for i = 2, 1 + indexes do set(KEYS[i], id) end
        local next = 2 + indexes
        if listed then redis.call('SADD', KEYS[next], id); next = next + 1 end
        if owned then
            if redis.call('TYPE', KEYS[next]).ok == 'set' then
                -- An owner list as a store before the collections kept it: converted in place.
                local ids = redis.call('SMEMBERS', KEYS[next])
                redis.call('DEL', KEYS[next])
                for _, member in ipairs(ids) do redis.call('ZADD', KEYS[next], '+inf', member) end
            end
            redis.call('ZADD', KEYS[next], ARGV[8], id)
        end
        return 1
        ",
    )
});

/// KEYS: record, its index keys, then the all-set and owner set as in [`WRITE_ROW`]. ARGV:
/// the JSON it was read as, id, index count, all?, owned?. 1 when deleted; 0 when it changed.
static DELETE_ROW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        local id, indexes, listed, owned = ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1', ARGV[5] == '1'
        redis.call('DEL', KEYS[1])
        for i = 2, 1 + indexes do
            if redis.call('GET', KEYS[i]) == id then redis.call('DEL', KEYS[i]) end
        end
        local next = 2 + indexes
        if listed then redis.call('SREM', KEYS[next], id); next = next + 1 end
        if owned then redis.call(redis.call('TYPE', KEYS[next]).ok == 'set' and 'SREM' or 'ZREM', KEYS[next], id) end
        return 1
        ",
    )
});

/// An owner's live ids: `KEYS[1]` the owner's sorted set, `ARGV[1]` now (ms). Expired members
/// are dropped first. A plain set (how a store before the collections listed a user's API
/// tokens) is converted in place, its members kept until their records are found gone.
static LIST_OWNED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('TYPE', KEYS[1]).ok == 'set' then
            local ids = redis.call('SMEMBERS', KEYS[1])
            redis.call('DEL', KEYS[1])
            for _, member in ipairs(ids) do redis.call('ZADD', KEYS[1], '+inf', member) end
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        ",
    )
});

/// How many times a delete re-reads a record that changed under it before giving up.
const DELETE_ATTEMPTS: usize = 5;

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

impl RedisStore {
    /// The prefix of every key of `c`.
    pub(super) fn collection_scope(&self, c: Collection) -> std::borrow::Cow<'_, str> {
        self.layout.family(c.spec.name)
    }

    fn row_key(&self, c: Collection, id: &str) -> String {
        key_in(&self.collection_scope(c), c.spec.name, id)
    }

    pub(super) fn index_key(&self, c: Collection, index: &str, value: &str) -> String {
        let mut family = String::with_capacity(c.spec.name.len() + 1 + index.len());
        family.push_str(c.spec.name);
        family.push('_');
        family.push_str(index);
        key_in(&self.collection_scope(c), &family, value)
    }

    fn all_key(&self, c: Collection) -> Option<String> {
        c.spec.all.map(|all| format!("{}{all}", self.collection_scope(c)))
    }

    fn owned_key(&self, c: Collection, owner: &str) -> Option<String> {
        c.spec.owned.map(|template| format!("{}{}", self.collection_scope(c), template.replace("{owner}", owner)))
    }

    /// The keys and arguments of a row's script, shared by every write and the delete.
    fn row_keys(&self, c: Collection, id: &str, meta: &Meta) -> (Vec<String>, usize, bool, bool) {
        let mut keys = vec![self.row_key(c, id)];
        keys.extend(meta.unique_keys.iter().map(|(index, value)| self.index_key(c, index, value)));
        let all = self.all_key(c);
        let owned = meta.owner.as_deref().and_then(|owner| self.owned_key(c, owner));
        let (listed, has_owner) = (all.is_some(), owned.is_some());
        keys.extend(all);
        keys.extend(owned);
        (keys, meta.unique_keys.len(), listed, has_owner)
    }

    async fn write_row(
        &self,
        c: Collection,
        row: Row,
        mode: &str,
        expected: &str,
        durability: Durability,
    ) -> Result<bool> {
        let (keys, indexes, listed, owned) = self.row_keys(c, &row.id, &row.meta);
        let expires = row.meta.expires_at.map(|at| millis(at).to_string()).unwrap_or_default();
        let score = row.meta.expires_at.map_or_else(|| "+inf".to_owned(), |at| millis(at).to_string());
        let mut invocation = WRITE_ROW.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        invocation
            .arg(&row.json)
            .arg(&row.id)
            .arg(expires)
            .arg(mode)
            .arg(indexes)
            .arg(u8::from(listed))
            .arg(u8::from(owned))
            .arg(score)
            .arg(expected);
        let invocation = &invocation;
        let written: i64 = match durability {
            Durability::Stored => self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await }).await?,
            Durability::Replicated => {
                self.run_durable(&keys[0], |mut conn| async move { invocation.invoke_async(&mut conn).await }).await?
            }
        };
        Ok(written == 1)
    }

    /// The records behind `ids`, live ones only; the ids whose record has gone.
    async fn rows_of(&self, c: Collection, ids: Vec<String>) -> Result<(Vec<String>, Vec<String>)> {
        if ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let keys: Vec<String> = ids.iter().map(|id| self.row_key(c, id)).collect();
        let keys = &keys;
        let found: Vec<Option<String>> =
            self.read(|mut conn| async move { redis::cmd("MGET").arg(keys).query_async(&mut conn).await }).await?;
        let mut live = Vec::with_capacity(found.len());
        let mut gone = Vec::new();
        for (id, json) in ids.into_iter().zip(found) {
            match json {
                Some(json) => live.push(json),
                None => gone.push(id),
            }
        }
        Ok((live, gone))
    }
}

#[async_trait]
impl Collections for RedisStore {
    async fn get_row(&self, c: Collection, id: &str) -> Result<Option<String>> {
        let key = &self.row_key(c, id);
        self.read(|mut conn| async move { redis::cmd("GET").arg(key).query_async(&mut conn).await }).await
    }

    async fn find_row(&self, c: Collection, index: &str, value: &str) -> Result<Option<String>> {
        let key = &self.index_key(c, index, value);
        let id: Option<String> =
            self.read(|mut conn| async move { redis::cmd("GET").arg(key).query_async(&mut conn).await }).await?;
        match id {
            Some(id) => self.get_row(c, &id).await,
            None => Ok(None),
        }
    }

    async fn insert_row(&self, c: Collection, row: Row) -> Result<()> {
        let id = row.id.clone();
        if self.write_row(c, row, "insert", "", Durability::Stored).await? {
            Ok(())
        } else {
            Err(Error::conflict(format!("{} {id}", c.spec.name)))
        }
    }

    async fn put_row(&self, c: Collection, row: Row, durability: Durability) -> Result<()> {
        self.write_row(c, row, "put", "", durability).await.map(|_| ())
    }

    async fn swap_row(&self, c: Collection, row: Row, expected: &str, durability: Durability) -> Result<bool> {
        self.write_row(c, row, "swap", expected, durability).await
    }

    async fn delete_row(&self, c: Collection, id: &str, durability: Durability) -> Result<Option<String>> {
        for _ in 0..DELETE_ATTEMPTS {
            let Some(json) = self.get_row(c, id).await? else { return Ok(None) };
            let meta = (c.meta_of)(&json)?;
            let (keys, indexes, listed, owned) = self.row_keys(c, id, &meta);
            let mut invocation = DELETE_ROW.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            invocation.arg(&json).arg(id).arg(indexes).arg(u8::from(listed)).arg(u8::from(owned));
            let invocation = &invocation;
            let deleted: i64 = match durability {
                Durability::Stored => {
                    self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await }).await?
                }
                Durability::Replicated => {
                    self.run_durable(&keys[0], |mut conn| async move { invocation.invoke_async(&mut conn).await })
                        .await?
                }
            };
            if deleted == 1 {
                return Ok(Some(json));
            }
            // Changed (or taken) since it was read: read it again.
        }
        Err(Error::StoreUnavailable(format!("{} {id} kept changing while being deleted", c.spec.name)))
    }

    async fn take_row(&self, c: Collection, id: &str) -> Result<Option<String>> {
        self.delete_row(c, id, Durability::Stored).await
    }

    async fn owned_rows(&self, c: Collection, owner: &str) -> Result<Vec<String>> {
        let Some(key) = self.owned_key(c, owner) else { return Ok(Vec::new()) };
        let (key, now) = (&key, millis(OffsetDateTime::now_utc()));
        // Idempotent (it only prunes and converts): safe to send again like a read.
        let ids: Vec<String> =
            self.read(|mut conn| async move { LIST_OWNED.key(key).arg(now).invoke_async(&mut conn).await }).await?;
        let (rows, gone) = self.rows_of(c, ids).await?;
        // Members whose record has gone are dropped from the set.
        if !gone.is_empty() {
            let _: i64 = self
                .run(|mut conn| async move { redis::cmd("ZREM").arg(key).arg(&gone).query_async(&mut conn).await })
                .await?;
        }
        // A record listed under an owner it no longer has (a put changed it) is not theirs.
        let mut mine = Vec::with_capacity(rows.len());
        for json in rows {
            if (c.meta_of)(&json)?.owner.as_deref() == Some(owner) {
                mine.push(json);
            }
        }
        Ok(mine)
    }

    async fn all_rows(&self, c: Collection) -> Result<Vec<String>> {
        let Some(key) = self.all_key(c) else { return Ok(Vec::new()) };
        let key = &key;
        let ids: Vec<String> =
            self.read(|mut conn| async move { redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await }).await?;
        let (rows, gone) = self.rows_of(c, ids).await?;
        if !gone.is_empty() {
            let _: i64 = self
                .run(|mut conn| async move { redis::cmd("SREM").arg(key).arg(&gone).query_async(&mut conn).await })
                .await?;
        }
        Ok(rows)
    }
}
