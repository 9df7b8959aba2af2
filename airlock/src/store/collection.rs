//! Record collections: the few primitives each backend implements once, and the typed layer
//! over them, so that a new kind of record needs no backend code.
//!
//! A kind of record is declared once, by implementing [`Record`]: its collection's name and
//! indexes ([`Spec`]), and how to read a record's id, unique keys, owner and expiry. Backends
//! see only JSON text and that metadata ([`Row`]); [`Records`] turns both ways with serde.
//!
//! The primitives are those the coming records need (OAuth clients, codes, refresh-token
//! families, consents, device codes, upstream identities, passkeys, …): get, put (with
//! expiry), insert-if-absent (with unique keys), compare-and-set, delete, take-once (a
//! single-use code), list by owner and list all. A delete, a compare-and-set or a put can be
//! [`Durability::Replicated`]: the Redis backend then answers only once a replica holds the
//! change (see the Redis store's `run_durable`).
//!
//! Rules every backend keeps, and `tests/system/store_suite.rs` checks on each:
//! - an expired record is absent (get, find, lists), whether or not it was swept yet;
//! - unique keys are claimed at insert and released at delete or take; they never change;
//! - a record is listed under its owner while it has that owner; owners may be set later
//!   (`None` → `Some`) by a put.

use crate::error::{Error, Result};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// What a collection is called and how it is indexed, in both backends.
#[derive(Debug)]
pub struct Spec {
    /// The collection's name: the Redis key family (`<prefix><name>:<id>`).
    pub name: &'static str,
    /// The embedded store's table.
    pub table: &'static str,
    /// A Redis set of every id, for [`Records::all`] (`<prefix><all>`); `None` when the kind
    /// is never listed whole.
    pub all: Option<&'static str>,
    /// The Redis sorted set (scored by expiry) listing an owner's records: `{owner}` is replaced
    /// by the owner (`<prefix>revoked_service_tokens`); `None` when the kind has no owner.
    pub owned: Option<&'static str>,
}

/// A kind of record. Declared once; every backend stores it.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    const SPEC: Spec;

    fn id(&self) -> &str;

    /// Unique keys `(index, value)`: no two live records share one. Fixed at insert.
    fn unique_keys(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Whose list the record is on (a user id, or a state such as `revoked`).
    fn owner(&self) -> Option<String> {
        None
    }

    /// When the store forgets it.
    fn expires_at(&self) -> Option<OffsetDateTime> {
        None
    }
}

/// A record's metadata, as backends index it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub unique_keys: Vec<(&'static str, String)>,
    pub owner: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
}

impl Meta {
    pub fn of<R: Record>(record: &R) -> Self {
        Self { unique_keys: record.unique_keys(), owner: record.owner(), expires_at: record.expires_at() }
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A collection as a backend sees it: its spec, and how to read a stored record's metadata
/// (the embedded store rebuilds its indexes from the records when it opens).
#[derive(Clone, Copy)]
pub struct Collection {
    pub spec: &'static Spec,
    pub meta_of: fn(&str) -> Result<Meta>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Collection").field(&self.spec.name).finish()
    }
}

impl Collection {
    pub fn of<R: Record>() -> Self {
        Self { spec: &R::SPEC, meta_of: |json| Ok(Meta::of(&decode::<R>(json)?)) }
    }
}

/// One record, encoded, with its metadata.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub json: String,
    pub meta: Meta,
}

impl Row {
    pub fn of<R: Record>(record: &R) -> Result<Self> {
        Ok(Self { id: record.id().to_owned(), json: encode(record)?, meta: Meta::of(record) })
    }
}

/// Whether a change must survive a failover before it is answered (revocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged by the store.
    Stored,
    /// Acknowledged by a replica too, where the store has replicas.
    Replicated,
}

/// The primitives, on JSON text: what a backend implements, once for every kind.
#[async_trait]
pub trait Collections: Send + Sync {
    /// The live record `id`.
    async fn get_row(&self, c: Collection, id: &str) -> Result<Option<String>>;
    /// The live record holding the unique key `(index, value)`.
    async fn find_row(&self, c: Collection, index: &str, value: &str) -> Result<Option<String>>;
    /// Adds `row` unless its id or one of its unique keys is taken (`Error::Conflict`).
    async fn insert_row(&self, c: Collection, row: Row) -> Result<()>;
    /// Writes `row`, whether or not it exists.
    async fn put_row(&self, c: Collection, row: Row, durability: Durability) -> Result<()>;
    /// Writes `row` only if the stored record is still exactly `expected` (the JSON text it was
    /// read as); whether it did.
    async fn swap_row(&self, c: Collection, row: Row, expected: &str, durability: Durability) -> Result<bool>;
    /// Deletes record `id`; the record it was, if live.
    async fn delete_row(&self, c: Collection, id: &str, durability: Durability) -> Result<Option<String>>;
    /// Deletes and returns record `id` at once: of two concurrent takes, one gets it.
    async fn take_row(&self, c: Collection, id: &str) -> Result<Option<String>>;
    /// The live records `owner` holds.
    async fn owned_rows(&self, c: Collection, owner: &str) -> Result<Vec<String>>;
    /// Every live record (for kinds with [`Spec::all`]).
    async fn all_rows(&self, c: Collection) -> Result<Vec<String>>;
}

pub fn decode<R: DeserializeOwned>(json: &str) -> Result<R> {
    serde_json::from_str(json).map_err(|e| Error::internal(format!("corrupt record in the store: {e}")))
}

pub fn encode<R: Serialize>(record: &R) -> Result<String> {
    serde_json::to_string(record).map_err(Error::internal)
}

/// A record as read, with the text it was stored as: what [`Records::swap`] compares against.
#[derive(Debug, Clone)]
pub struct Versioned<R> {
    pub record: R,
    stored: String,
}

/// The typed layer: every kind of record through the same primitives.
#[async_trait]
pub trait Records {
    async fn get<R: Record>(&self, id: &str) -> Result<Option<R>>;
    /// [`Records::get`], keeping what [`Records::swap`] needs to detect a concurrent change.
    async fn get_versioned<R: Record>(&self, id: &str) -> Result<Option<Versioned<R>>>;
    async fn find<R: Record>(&self, index: &str, value: &str) -> Result<Option<R>>;
    async fn insert<R: Record>(&self, record: &R) -> Result<()>;
    async fn put<R: Record>(&self, record: &R, durability: Durability) -> Result<()>;
    /// Replaces `read` with `record` unless it changed since it was read; whether it did.
    async fn swap<R: Record>(&self, record: &R, read: &Versioned<R>, durability: Durability) -> Result<bool>;
    async fn delete<R: Record>(&self, id: &str, durability: Durability) -> Result<Option<R>>;
    async fn take<R: Record>(&self, id: &str) -> Result<Option<R>>;
    async fn owned_by<R: Record>(&self, owner: &str) -> Result<Vec<R>>;
    async fn all<R: Record>(&self) -> Result<Vec<R>>;
}

#[async_trait]
impl<S: Collections + ?Sized> Records for S {
    async fn get<R: Record>(&self, id: &str) -> Result<Option<R>> {
        self.get_row(Collection::of::<R>(), id).await?.as_deref().map(decode).transpose()
    }

    async fn get_versioned<R: Record>(&self, id: &str) -> Result<Option<Versioned<R>>> {
        let Some(stored) = self.get_row(Collection::of::<R>(), id).await? else { return Ok(None) };
        Ok(Some(Versioned { record: decode(&stored)?, stored }))
    }

    async fn find<R: Record>(&self, index: &str, value: &str) -> Result<Option<R>> {
        self.find_row(Collection::of::<R>(), index, value).await?.as_deref().map(decode).transpose()
    }

    async fn insert<R: Record>(&self, record: &R) -> Result<()> {
        self.insert_row(Collection::of::<R>(), Row::of(record)?).await
    }

    async fn put<R: Record>(&self, record: &R, durability: Durability) -> Result<()> {
        self.put_row(Collection::of::<R>(), Row::of(record)?, durability).await
    }

    async fn swap<R: Record>(&self, record: &R, read: &Versioned<R>, durability: Durability) -> Result<bool> {
        self.swap_row(Collection::of::<R>(), Row::of(record)?, &read.stored, durability).await
    }

    async fn delete<R: Record>(&self, id: &str, durability: Durability) -> Result<Option<R>> {
        self.delete_row(Collection::of::<R>(), id, durability).await?.as_deref().map(decode).transpose()
    }

    async fn take<R: Record>(&self, id: &str) -> Result<Option<R>> {
        self.take_row(Collection::of::<R>(), id).await?.as_deref().map(decode).transpose()
    }

    async fn owned_by<R: Record>(&self, owner: &str) -> Result<Vec<R>> {
        self.owned_rows(Collection::of::<R>(), owner).await?.iter().map(|json| decode(json)).collect()
    }

    async fn all<R: Record>(&self) -> Result<Vec<R>> {
        self.all_rows(Collection::of::<R>()).await?.iter().map(|json| decode(json)).collect()
    }
}
