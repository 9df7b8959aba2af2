//! The embedded store: the zero-setup default for a single airlock instance.
//!
//! Reads are answered from memory (the whole data set of a single-instance deployment fits
//! easily); every change is committed to a `redb` file (crash-safe, fsynced) before its writer
//! is answered, so what a client was told is durable. Writers plan their changes one at a time
//! (one async lock) and apply them in memory at once; the commits are grouped: whatever was
//! planned while the previous commit was on disk goes into the next one, so concurrent writers
//! share an fsync instead of queueing for one each (the way databases group-commit their logs).
//! A commit that fails takes every change planned on top of it with it: memory is read back
//! from the file and each of those writers gets the error. The directory is 0700 and the file
//! 0600; `redb` holds an exclusive lock on it, so a second process (a CLI next to a running
//! server) is told so instead of corrupting it.

use super::collection::{Collection, Collections, Durability, Meta, Row as RecordRow};
use super::{
    AuditFilter, AuditRecord, CredentialBundle, Membership, OrgRecord, Principal, SessionBundle, SessionRecord, Store,
    UserRecord,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::OrgRole;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use time::OffsetDateTime;

const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
const ORGS: TableDefinition<&str, &str> = TableDefinition::new("orgs");
/// Key `user_id/org_id`, value the role name.
const MEMBERSHIPS: TableDefinition<&str, &str> = TableDefinition::new("memberships");
const SESSIONS: TableDefinition<&str, &str> = TableDefinition::new("sessions");
/// Key: the record's sequence number, zero-padded so that keys sort in order.
const AUDIT: TableDefinition<&str, &str> = TableDefinition::new("audit");

/// The maps the session check reads. Their keys are made by airlock (ids, hashes of tokens it
/// generated), never chosen by a client, so a fast hasher cannot be flooded with collisions.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// File name of the database inside the store directory.
pub const DB_FILE: &str = "airlock.redb";

#[derive(Default)]
struct State {
    users: HashMap<String, UserRecord>,
    user_by_email: HashMap<String, String>,
    orgs: HashMap<String, OrgRecord>,
    org_by_slug: HashMap<String, String>,
    /// user id -> org id -> role
    memberships: HashMap<String, HashMap<String, OrgRole>>,
    /// user id -> the user with their memberships, remade whenever either changes (the session
    /// check shares it instead of assembling and copying it on every call).
    principals: FastMap<String, Arc<Principal>>,
    /// Shared with the checks that read them: a check takes an `Arc`, not a copy.
    sessions: FastMap<String, Arc<SessionRecord>>,
    session_by_token: FastMap<String, String>,
    /// (sequence, record), oldest first.
    audit: std::collections::VecDeque<(u64, AuditRecord)>,
    /// The record collections, by table, each read from the file on first use.
    collections: HashMap<&'static str, Table>,
}

/// One collection in memory: its rows with their metadata, and its indexes.
#[derive(Default)]
struct Table {
    rows: HashMap<String, (String, Meta)>,
    /// [`unique_key`] → id.
    unique: HashMap<String, String>,
    owned: HashMap<String, std::collections::BTreeSet<String>>,
}

/// A unique key as one string: the index, a NUL (in no index name), the value.
fn unique_key(index: &str, value: &str) -> String {
    let mut key = String::with_capacity(index.len() + 1 + value.len());
    key.push_str(index);
    key.push('\0');
    key.push_str(value);
    key
}

impl Table {
    fn holder(&self, index: &str, value: &str) -> Option<&String> {
        self.unique.get(&unique_key(index, value))
    }

    fn live(&self, id: &str, now: OffsetDateTime) -> Option<&(String, Meta)> {
        self.rows.get(id).filter(|(_, meta)| meta.is_live(now))
    }

    fn insert(&mut self, id: String, json: String, meta: Meta) {
        self.remove(&id);
        for (index, value) in &meta.unique_keys {
            self.unique.insert(unique_key(index, value), id.clone());
        }
        if let Some(owner) = &meta.owner {
            self.owned.entry(owner.clone()).or_default().insert(id.clone());
        }
        self.rows.insert(id, (json, meta));
    }

    fn remove(&mut self, id: &str) -> Option<(String, Meta)> {
        let (json, meta) = self.rows.remove(id)?;
        for (index, value) in &meta.unique_keys {
            let key = unique_key(index, value);
            if self.unique.get(&key).is_some_and(|holder| holder == id) {
                self.unique.remove(&key);
            }
        }
        if let Some(owner) = &meta.owner
            && let Some(ids) = self.owned.get_mut(owner)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.owned.remove(owner);
            }
        }
        Some((json, meta))
    }
}

/// One change, applied first to the file and then to memory.
enum Change {
    PutUser(UserRecord),
    PutOrg(OrgRecord),
    PutMembership { user_id: String, org_id: String, role: OrgRole },
    DeleteMembership { user_id: String, org_id: String },
    PutSession(SessionRecord),
    DeleteSession(String),
    AppendAudit(u64, AuditRecord),
    DropAudit(u64),
    PutRow(&'static str, RecordRow),
    DeleteRow(&'static str, String),
}

pub struct EmbeddedStore {
    inner: Arc<Inner>,
    path: PathBuf,
    /// Sign-in throttling: kept in memory only (one instance; a restart forgives).
    throttle: std::sync::Mutex<Throttle>,
}

/// What the store's writers and its committer share.
struct Inner {
    db: Database,
    state: RwLock<State>,
    /// Held while a change is planned and applied in memory, never across a commit.
    writer: tokio::sync::Mutex<()>,
    /// Changes applied in memory and waiting for the next commit, in the order planned.
    queue: std::sync::Mutex<CommitQueue>,
    /// Memory could not be read back from the file after a failed commit: it answers nothing
    /// until a later write reads it back.
    stale: std::sync::atomic::AtomicBool,
    /// Tests fail this many commits, as a full disk would.
    #[cfg(test)]
    failing_commits: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct CommitQueue {
    pending: Vec<(Vec<Row>, Waiter)>,
    /// A committer is running: it takes whatever is pending when its commit is done.
    committing: bool,
}

/// Failure counters (count, window end) and bans (end), by key.
#[derive(Default)]
struct Throttle {
    failures: HashMap<String, (u64, std::time::Instant)>,
    bans: HashMap<String, std::time::Instant>,
}

/// Past this many entries, expired ones are dropped before adding (made-up emails cannot grow
/// the maps without bound).
const THROTTLE_PRUNE_AT: usize = 10_000;

fn storage_error(e: impl std::fmt::Display) -> Error {
    Error::StoreUnavailable(format!("embedded store: {e}"))
}

fn decode<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::internal(format!("corrupt record in embedded store: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn membership_key(user_id: &str, org_id: &str) -> String {
    format!("{user_id}/{org_id}")
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(DB_FILE);
        create_private_dir(dir)?;
        create_private_file(&path)?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::StoreUnavailable(format!(
                "the embedded store {} is in use by another airlock process",
                path.display()
            )),
            other => storage_error(other),
        })?;
        let state = read_file(&db)?;
        let inner = Inner {
            db,
            state: RwLock::new(state),
            writer: Default::default(),
            queue: Default::default(),
            stale: Default::default(),
            #[cfg(test)]
            failing_commits: Default::default(),
        };
        Ok(Self { inner: Arc::new(inner), path, throttle: Default::default() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T> {
        self.inner.read(f)
    }

    /// Plans changes against the current state and applies them in memory, then waits for the
    /// commit that makes them durable: answered only once they are on disk.
    async fn write<T>(&self, plan: impl FnOnce(&State) -> Result<(T, Vec<Change>)>) -> Result<T> {
        let (answer, committed) = {
            let _writer = self.inner.writer.lock().await;
            if self.inner.stale.load(std::sync::atomic::Ordering::Acquire) {
                self.inner.reload()?;
            }
            let (answer, changes) = self.read(plan)??;
            if changes.is_empty() {
                return Ok(answer);
            }
            let rows: Vec<Row> = changes.iter().map(Row::of).collect::<Result<_>>()?;
            self.inner.state.write().map_err(|_| Error::internal("state lock poisoned"))?.apply_all(changes);
            let (done, committed) = tokio::sync::oneshot::channel();
            let start_committer = {
                let mut queue = self.inner.queue.lock().map_err(|_| Error::internal("commit queue poisoned"))?;
                queue.pending.push((rows, done));
                !std::mem::replace(&mut queue.committing, true)
            };
            if start_committer {
                let inner = self.inner.clone();
                tokio::task::spawn_blocking(move || inner.commit_pending());
            }
            (answer, committed)
        };
        committed.await.map_err(|_| Error::internal("the store's committer stopped"))??;
        Ok(answer)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<usize> {
        self.write(|state| {
            let expired: Vec<Change> = state
                .sessions
                .values()
                .filter(|s| !s.is_live(now))
                .map(|s| Change::DeleteSession(s.id.clone()))
                .chain(state.collections.iter().flat_map(|(table, rows)| {
                    rows.rows
                        .iter()
                        .filter(|(_, (_, meta))| !meta.is_live(now))
                        .map(|(id, _)| Change::DeleteRow(table, id.clone()))
                }))
                .collect();
            Ok((expired.len(), expired))
        })
        .await
    }

    /// Runs [`Self::sweep`] every `every` for as long as the store lives.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { break };
                match store.sweep(OffsetDateTime::now_utc()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(sessions = n, "swept expired sessions"),
                    Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                }
            }
        });
    }
}

/// A change as the file sees it.
enum Row {
    Put(TableDefinition<'static, &'static str, &'static str>, String, String),
    Delete(TableDefinition<'static, &'static str, &'static str>, String),
}

impl Row {
    fn of(change: &Change) -> Result<Row> {
        Ok(match change {
            Change::PutUser(u) => Row::Put(USERS, u.id.clone(), encode(u)?),
            Change::PutOrg(o) => Row::Put(ORGS, o.id.clone(), encode(o)?),
            Change::PutMembership { user_id, org_id, role } => {
                Row::Put(MEMBERSHIPS, membership_key(user_id, org_id), role.as_str().to_owned())
            }
            Change::DeleteMembership { user_id, org_id } => Row::Delete(MEMBERSHIPS, membership_key(user_id, org_id)),
            Change::PutSession(s) => Row::Put(SESSIONS, s.id.clone(), encode(s)?),
            Change::DeleteSession(id) => Row::Delete(SESSIONS, id.clone()),
            Change::AppendAudit(seq, r) => Row::Put(AUDIT, format!("{seq:020}"), encode(r)?),
            Change::DropAudit(seq) => Row::Delete(AUDIT, format!("{seq:020}")),
            Change::PutRow(table, row) => Row::Put(TableDefinition::new(table), row.id.clone(), row.json.clone()),
            Change::DeleteRow(table, id) => Row::Delete(TableDefinition::new(table), id.clone()),
        })
    }
}

fn persist(db: &Database, rows: impl IntoIterator<Item = Row>) -> Result<()> {
    let txn = db.begin_write().map_err(storage_error)?;
    for row in rows {
        match row {
            Row::Put(def, key, value) => {
                txn.open_table(def)
                    .map_err(storage_error)?
                    .insert(key.as_str(), value.as_str())
                    .map_err(storage_error)?;
            }
            Row::Delete(def, key) => {
                txn.open_table(def).map_err(storage_error)?.remove(key.as_str()).map_err(storage_error)?;
            }
        }
    }
    txn.commit().map_err(storage_error)
}

/// The fixed tables, read from the file (the collections are read on first use).
fn read_file(db: &Database) -> Result<State> {
    let write = db.begin_write().map_err(storage_error)?;
    for table in [USERS, ORGS, MEMBERSHIPS, SESSIONS, AUDIT] {
        write.open_table(table).map_err(storage_error)?;
    }
    write.commit().map_err(storage_error)?;

    let read = db.begin_read().map_err(storage_error)?;
    let mut changes = Vec::new();
    let rows = |def: TableDefinition<&str, &str>| -> Result<Vec<(String, String)>> {
        let table = read.open_table(def).map_err(storage_error)?;
        let iter = table.iter().map_err(storage_error)?;
        iter.map(|row| {
            let (k, v) = row.map_err(storage_error)?;
            Ok((k.value().to_owned(), v.value().to_owned()))
        })
        .collect()
    };
    for (_, json) in rows(USERS)? {
        changes.push(Change::PutUser(decode(&json)?));
    }
    for (_, json) in rows(ORGS)? {
        changes.push(Change::PutOrg(decode(&json)?));
    }
    for (key, role) in rows(MEMBERSHIPS)? {
        let (user_id, org_id) =
            key.split_once('/').ok_or_else(|| Error::internal("corrupt membership key in embedded store"))?;
        let role = role.parse().map_err(Error::internal)?;
        changes.push(Change::PutMembership { user_id: user_id.into(), org_id: org_id.into(), role });
    }
    for (_, json) in rows(SESSIONS)? {
        changes.push(Change::PutSession(decode(&json)?));
    }
    for (key, json) in rows(AUDIT)? {
        let sequence = key.parse().map_err(|_| Error::internal("corrupt audit key in embedded store"))?;
        changes.push(Change::AppendAudit(sequence, decode(&json)?));
    }
    let mut state = State::default();
    state.apply_all(changes);
    Ok(state)
}

impl Inner {
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T> {
        if self.stale.load(std::sync::atomic::Ordering::Acquire) {
            return Err(storage_error("memory is being read back from the file after a failed commit"));
        }
        let state = self.state.read().map_err(|_| Error::internal("state lock poisoned"))?;
        Ok(f(&state))
    }

    /// Commits what is pending, in batches, until nothing is: each batch is everything planned
    /// while the previous one was on disk, in one transaction and one fsync.
    fn commit_pending(self: Arc<Self>) {
        loop {
            let (waiters, outcome) = self.commit_batch();
            let finished = self.queue.lock().map_or(true, |mut queue| {
                let finished = queue.pending.is_empty();
                queue.committing = !finished;
                finished
            });
            if finished {
                // This thread's reference goes before the writers hear back: a store dropped by
                // its last writer has closed its file by then.
                drop(self);
                answer(waiters, &outcome);
                return;
            }
            answer(waiters, &outcome);
        }
    }

    /// Commits the changes pending now; returns their writers and the outcome.
    fn commit_batch(&self) -> (Vec<Waiter>, std::result::Result<(), String>) {
        let batch = self.queue.lock().map(|mut queue| std::mem::take(&mut queue.pending)).unwrap_or_default();
        let (rows, mut waiters): (Vec<Vec<Row>>, Vec<Waiter>) = batch.into_iter().unzip();
        let outcome = self.persist(rows.into_iter().flatten()).map_err(|e| {
            // Changes planned since were planned on top of the lost ones: they go too, and
            // memory is read back from the file before anything else is planned.
            let _writer = self.writer.blocking_lock();
            if let Ok(mut queue) = self.queue.lock() {
                waiters.extend(std::mem::take(&mut queue.pending).into_iter().map(|(_, done)| done));
            }
            if let Err(reload) = self.reload() {
                tracing::error!(error = %reload, "embedded store: memory not read back after a failed commit");
            }
            match e {
                Error::StoreUnavailable(message) => message,
                other => other.to_string(),
            }
        });
        (waiters, outcome)
    }

    fn persist(&self, rows: impl IntoIterator<Item = Row>) -> Result<()> {
        #[cfg(test)]
        if self
            .failing_commits
            .fetch_update(std::sync::atomic::Ordering::AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                n.checked_sub(1)
            })
            .is_ok()
        {
            return Err(storage_error("No space left on device (os error 28)"));
        }
        persist(&self.db, rows)
    }

    /// Memory as the file has it, after a failed commit. Under the writer lock. Until it
    /// succeeds, the store answers nothing (a later write tries again).
    fn reload(&self) -> Result<()> {
        let read_back = read_file(&self.db);
        let mut state = self.state.write().map_err(|_| Error::internal("state lock poisoned"))?;
        self.stale.store(read_back.is_err(), std::sync::atomic::Ordering::Release);
        *state = read_back?;
        Ok(())
    }
}

type Waiter = tokio::sync::oneshot::Sender<Result<()>>;

fn answer(waiters: Vec<Waiter>, outcome: &std::result::Result<(), String>) {
    for done in waiters {
        let _ = done.send(outcome.clone().map_err(Error::StoreUnavailable));
    }
}

impl State {
    fn apply_all(&mut self, changes: Vec<Change>) {
        for change in changes {
            self.apply(change);
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::PutUser(user) => {
                let id = user.id.clone();
                self.user_by_email.insert(user.email.clone(), user.id.clone());
                self.users.insert(user.id.clone(), user);
                self.remake_principal(&id);
            }
            Change::PutOrg(org) => {
                let id = org.id.clone();
                self.org_by_slug.insert(org.slug.clone(), org.id.clone());
                self.orgs.insert(org.id.clone(), org);
                let members: Vec<String> = self
                    .memberships
                    .iter()
                    .filter(|(_, orgs)| orgs.contains_key(&id))
                    .map(|(u, _)| u.clone())
                    .collect();
                for user_id in members {
                    self.remake_principal(&user_id);
                }
            }
            Change::PutMembership { user_id, org_id, role } => {
                self.memberships.entry(user_id.clone()).or_default().insert(org_id, role);
                self.remake_principal(&user_id);
            }
            Change::DeleteMembership { user_id, org_id } => {
                if let Some(orgs) = self.memberships.get_mut(&user_id) {
                    orgs.remove(&org_id);
                }
                self.remake_principal(&user_id);
            }
            Change::PutSession(session) => {
                self.session_by_token.insert(session.token_hash.clone(), session.id.clone());
                self.sessions.insert(session.id.clone(), Arc::new(session));
            }
            Change::DeleteSession(id) => {
                if let Some(session) = self.sessions.remove(&id) {
                    self.session_by_token.remove(&session.token_hash);
                }
            }
            Change::AppendAudit(sequence, record) => self.audit.push_back((sequence, record)),
            Change::DropAudit(sequence) => {
                if self.audit.front().is_some_and(|(s, _)| *s == sequence) {
                    self.audit.pop_front();
                } else {
                    self.audit.retain(|(s, _)| *s != sequence);
                }
            }
            Change::PutRow(table, row) => {
                self.collections.entry(table).or_default().insert(row.id, row.json, row.meta);
            }
            Change::DeleteRow(table, id) => {
                if let Some(table) = self.collections.get_mut(table) {
                    table.remove(&id);
                }
            }
        }
    }

    fn memberships_of(&self, user_id: &str) -> Vec<Membership> {
        let mut list: Vec<Membership> = self
            .memberships
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|(org_id, role)| Some(Membership { org: self.orgs.get(org_id)?.clone(), role: *role }))
            .collect();
        list.sort_by(|a, b| a.org.slug.cmp(&b.org.slug));
        list
    }

    /// Makes a new principal for a user whose record or memberships changed.
    fn remake_principal(&mut self, user_id: &str) {
        match self.users.get(user_id) {
            Some(user) => {
                let principal = Principal::new(user.clone(), self.memberships_of(user_id));
                self.principals.insert(user_id.to_owned(), Arc::new(principal));
            }
            None => {
                self.principals.remove(user_id);
            }
        }
    }

    fn live_session(&self, id: &str, now: OffsetDateTime) -> Option<&Arc<SessionRecord>> {
        self.sessions.get(id).filter(|s| s.is_live(now))
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ping(&self) -> Result<()> {
        self.read(|_| ())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.write(|state| {
            if state.user_by_email.contains_key(&user.email) {
                return Err(Error::conflict(format!("user {}", user.email)));
            }
            Ok(((), vec![Change::PutUser(user.clone())]))
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        self.read(|s| s.users.get(id).cloned())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.read(|s| s.user_by_email.get(email).and_then(|id| s.users.get(id)).cloned())
    }

    async fn update_user(&self, user: &UserRecord) -> Result<()> {
        self.write(|state| match state.users.get(&user.id) {
            Some(old) if old.email == user.email => Ok(((), vec![Change::PutUser(user.clone())])),
            Some(_) => Err(Error::bad_request("a user's email cannot change")),
            None => Err(Error::not_found(format!("user {}", user.email))),
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.read(|s| {
            let mut users: Vec<_> = s.users.values().cloned().collect();
            users.sort_by(|a, b| a.email.cmp(&b.email));
            users
        })
    }

    async fn create_org(&self, org: &OrgRecord) -> Result<()> {
        self.write(|state| {
            if state.org_by_slug.contains_key(&org.slug) {
                return Err(Error::conflict(format!("org {}", org.slug)));
            }
            Ok(((), vec![Change::PutOrg(org.clone())]))
        })
        .await
    }

    async fn org_by_slug(&self, slug: &str) -> Result<Option<OrgRecord>> {
        self.read(|s| s.org_by_slug.get(slug).and_then(|id| s.orgs.get(id)).cloned())
    }

    async fn list_orgs(&self) -> Result<Vec<OrgRecord>> {
        self.read(|s| {
            let mut orgs: Vec<_> = s.orgs.values().cloned().collect();
            orgs.sort_by(|a, b| a.slug.cmp(&b.slug));
            orgs
        })
    }

    async fn put_membership(&self, org_id: &str, user_id: &str, role: OrgRole) -> Result<()> {
        self.write(|_| Ok(((), vec![Change::PutMembership { user_id: user_id.into(), org_id: org_id.into(), role }])))
            .await
    }

    async fn remove_membership(&self, org_id: &str, user_id: &str) -> Result<bool> {
        self.write(|state| {
            let present = state.memberships.get(user_id).is_some_and(|orgs| orgs.contains_key(org_id));
            let changes = if present {
                vec![Change::DeleteMembership { user_id: user_id.into(), org_id: org_id.into() }]
            } else {
                Vec::new()
            };
            Ok((present, changes))
        })
        .await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Membership>> {
        self.read(|s| s.memberships_of(user_id))
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        self.write(|_| Ok(((), vec![Change::PutSession(session.clone())]))).await
    }

    async fn load_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionBundle>> {
        self.read(|s| {
            let session = s.session_by_token.get(token_hash).and_then(|id| s.live_session(id, now))?;
            let principal = s.principals.get(&session.user_id)?.clone();
            Some(SessionBundle { session: session.clone(), principal })
        })
    }

    async fn session_by_id(&self, id: &str, now: OffsetDateTime) -> Result<Option<SessionRecord>> {
        self.read(|s| s.live_session(id, now).map(|session| SessionRecord::clone(session)))
    }

    async fn refresh_session(&self, refreshed: &SessionRecord) -> Result<bool> {
        self.write(|state| match state.sessions.get(&refreshed.id) {
            Some(_) => Ok((true, vec![Change::PutSession(refreshed.clone())])),
            None => Ok((false, Vec::new())),
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        self.write(|state| {
            let present = state.sessions.contains_key(id);
            let changes = if present { vec![Change::DeleteSession(id.to_owned())] } else { Vec::new() };
            Ok((present, changes))
        })
        .await
    }

    async fn sessions_of(&self, user_id: &str, now: OffsetDateTime) -> Result<Vec<SessionRecord>> {
        self.read(|s| {
            let mut list: Vec<_> = s
                .sessions
                .values()
                .filter(|x| x.user_id == user_id && x.is_live(now))
                .map(|x| SessionRecord::clone(x))
                .collect();
            list.sort_by_key(|x| x.created_at);
            list
        })
    }

    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> Result<usize> {
        self.write(|state| {
            let doomed: Vec<Change> = state
                .sessions
                .values()
                .filter(|s| s.user_id == user_id && Some(s.id.as_str()) != keep)
                .map(|s| Change::DeleteSession(s.id.clone()))
                .collect();
            Ok((doomed.len(), doomed))
        })
        .await
    }

    async fn load_credential(&self, c: Collection, index: &str, value: &str) -> Result<Option<CredentialBundle>> {
        self.loaded(c).await?;
        self.read(|s| {
            let table = s.collections.get(c.spec.table)?;
            let now = OffsetDateTime::now_utc();
            let (record, meta) = table.holder(index, value).and_then(|id| table.live(id, now))?;
            let user = s.users.get(meta.owner.as_deref()?)?;
            let memberships = s.memberships_of(&user.id);
            Some(CredentialBundle { record: record.clone(), user: user.clone(), memberships })
        })
    }

    async fn count_failure(&self, key: &str, window: Duration) -> Result<u64> {
        let now = std::time::Instant::now();
        let mut throttle = self.throttle.lock().map_err(|_| Error::internal("throttle lock poisoned"))?;
        if throttle.failures.len() >= THROTTLE_PRUNE_AT {
            throttle.failures.retain(|_, (_, end)| *end > now);
        }
        let entry = throttle.failures.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn ban(&self, key: &str, duration: Duration) -> Result<()> {
        let now = std::time::Instant::now();
        let mut throttle = self.throttle.lock().map_err(|_| Error::internal("throttle lock poisoned"))?;
        if throttle.bans.len() >= THROTTLE_PRUNE_AT {
            throttle.bans.retain(|_, end| *end > now);
        }
        throttle.bans.insert(key.to_owned(), now + duration);
        Ok(())
    }

    async fn ban_remaining(&self, key: &str) -> Result<Option<Duration>> {
        let now = std::time::Instant::now();
        let throttle = self.throttle.lock().map_err(|_| Error::internal("throttle lock poisoned"))?;
        Ok(throttle.bans.get(key).filter(|end| **end > now).map(|end| *end - now))
    }

    async fn append_audit(&self, record: &AuditRecord, capacity: usize) -> Result<()> {
        self.write(|state| {
            let next = state.audit.back().map_or(0, |(s, _)| s + 1);
            let mut changes = vec![Change::AppendAudit(next, record.clone())];
            let overflow = (state.audit.len() + 1).saturating_sub(capacity);
            changes.extend(state.audit.iter().take(overflow).map(|(s, _)| Change::DropAudit(*s)));
            Ok(((), changes))
        })
        .await
    }

    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.read(|s| {
            s.audit.iter().rev().map(|(_, r)| r).filter(|r| filter.matches(r)).take(filter.limit).cloned().collect()
        })
    }
}

impl EmbeddedStore {
    /// Reads collection `c` from the file into memory, the first time it is used. Under the
    /// writer lock, so that no write to it can slip in between the read and the insert.
    async fn loaded(&self, c: Collection) -> Result<()> {
        if self.read(|s| s.collections.contains_key(c.spec.table))? {
            return Ok(());
        }
        let _writer = self.inner.writer.lock().await;
        if self.read(|s| s.collections.contains_key(c.spec.table))? {
            return Ok(());
        }
        let inner = self.inner.clone();
        let table = tokio::task::spawn_blocking(move || -> Result<Table> {
            let db = &inner.db;
            // Expired rows are dropped here, not loaded: an expired record must never take a
            // unique key back from a live one that claimed it after the expiry.
            let now = OffsetDateTime::now_utc();
            let write = db.begin_write().map_err(storage_error)?;
            let mut table = Table::default();
            {
                let definition: TableDefinition<&str, &str> = TableDefinition::new(c.spec.table);
                let mut stored = write.open_table(definition).map_err(storage_error)?;
                let mut expired = Vec::new();
                for row in stored.iter().map_err(storage_error)? {
                    let (id, json) = row.map_err(storage_error)?;
                    let (id, json) = (id.value().to_owned(), json.value().to_owned());
                    let meta = (c.meta_of)(&json)?;
                    if meta.is_live(now) {
                        table.insert(id, json, meta);
                    } else {
                        expired.push(id);
                    }
                }
                for id in expired {
                    stored.remove(id.as_str()).map_err(storage_error)?;
                }
            }
            write.commit().map_err(storage_error)?;
            Ok(table)
        })
        .await
        .map_err(Error::internal)??;
        let mut state = self.inner.state.write().map_err(|_| Error::internal("state lock poisoned"))?;
        state.collections.insert(c.spec.table, table);
        Ok(())
    }

    async fn read_table<T>(&self, c: Collection, f: impl FnOnce(&Table, OffsetDateTime) -> T) -> Result<T> {
        self.loaded(c).await?;
        // Expiry to the instant, as Redis applies `PXAT` (the service's clock keeps seconds).
        let now = OffsetDateTime::now_utc();
        let empty = Table::default();
        self.read(|s| f(s.collections.get(c.spec.table).unwrap_or(&empty), now))
    }

    /// Plans a change to collection `c` against its current rows, then writes it.
    async fn write_table<T>(
        &self,
        c: Collection,
        plan: impl FnOnce(&Table, OffsetDateTime) -> Result<(T, Vec<Change>)>,
    ) -> Result<T> {
        self.loaded(c).await?;
        // Expiry to the instant, as Redis applies `PXAT` (the service's clock keeps seconds).
        let now = OffsetDateTime::now_utc();
        let empty = Table::default();
        self.write(|s| plan(s.collections.get(c.spec.table).unwrap_or(&empty), now)).await
    }
}

/// The embedded store has one copy: every change is durable once committed, whatever the
/// [`Durability`] asked.
#[async_trait]
impl Collections for EmbeddedStore {
    async fn get_row(&self, c: Collection, id: &str) -> Result<Option<String>> {
        self.read_table(c, |t, now| t.live(id, now).map(|(json, _)| json.clone())).await
    }

    async fn find_row(&self, c: Collection, index: &str, value: &str) -> Result<Option<String>> {
        self.read_table(c, |t, now| t.holder(index, value).and_then(|id| t.live(id, now)).map(|(json, _)| json.clone()))
            .await
    }

    async fn insert_row(&self, c: Collection, row: RecordRow) -> Result<()> {
        let table = c.spec.table;
        self.write_table(c, |t, now| {
            let taken = t.live(&row.id, now).is_some()
                || row.meta.unique_keys.iter().any(|(index, value)| {
                    t.holder(index, value).is_some_and(|id| id != &row.id && t.live(id, now).is_some())
                });
            if taken {
                return Err(Error::conflict(format!("{} {}", c.spec.name, row.id)));
            }
            Ok(((), vec![Change::PutRow(table, row)]))
        })
        .await
    }

    async fn put_row(&self, c: Collection, row: RecordRow, _durability: Durability) -> Result<()> {
        let table = c.spec.table;
        self.write_table(c, |_, _| Ok(((), vec![Change::PutRow(table, row)]))).await
    }

    async fn swap_row(&self, c: Collection, row: RecordRow, expected: &str, _durability: Durability) -> Result<bool> {
        let table = c.spec.table;
        self.write_table(c, |t, now| match t.live(&row.id, now) {
            Some((json, _)) if json == expected => Ok((true, vec![Change::PutRow(table, row)])),
            _ => Ok((false, Vec::new())),
        })
        .await
    }

    async fn delete_row(&self, c: Collection, id: &str, _durability: Durability) -> Result<Option<String>> {
        self.take_row(c, id).await
    }

    async fn take_row(&self, c: Collection, id: &str) -> Result<Option<String>> {
        let table = c.spec.table;
        self.write_table(c, |t, now| match t.rows.get(id) {
            Some((json, meta)) => {
                let live = meta.is_live(now).then(|| json.clone());
                Ok((live, vec![Change::DeleteRow(table, id.to_owned())]))
            }
            None => Ok((None, Vec::new())),
        })
        .await
    }

    async fn owned_rows(&self, c: Collection, owner: &str) -> Result<Vec<String>> {
        self.read_table(c, |t, now| {
            t.owned.get(owner).into_iter().flatten().filter_map(|id| t.live(id, now)).map(|(j, _)| j.clone()).collect()
        })
        .await
    }

    async fn all_rows(&self, c: Collection) -> Result<Vec<String>> {
        self.read_table(c, |t, now| {
            t.rows.values().filter(|(_, meta)| meta.is_live(now)).map(|(json, _)| json.clone()).collect()
        })
        .await
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::config("store", format!("cannot create {}: {e}", dir.display())))?;
    // An existing directory keeps whatever mode it had: tighten it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::config("store", format!("cannot restrict {}: {e}", dir.display())))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::config("store", format!("cannot open {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::config("store", format!("cannot restrict {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::config("store", format!("cannot create {}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn user(n: usize) -> UserRecord {
        UserRecord {
            id: format!("usr_{n}"),
            email: format!("u{n}@example.com"),
            name: format!("User {n}"),
            password_hash: None,
            roles: vec![],
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// Creates users 0..n at once; returns which creations were answered Ok.
    async fn create_concurrently(store: &Arc<EmbeddedStore>, users: std::ops::Range<usize>) -> Vec<bool> {
        let writes: Vec<_> = users
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.create_user(&user(i)).await })
            })
            .collect();
        let mut answered = Vec::new();
        for write in writes {
            answered.push(write.await.unwrap().is_ok());
        }
        answered
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_commits_and_every_answered_write_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let answered = create_concurrently(&store, 0..200).await;
        assert!(answered.iter().all(|ok| *ok));
        drop(store);
        // Reopened at once: the committer let go of the file before the last writer heard back.
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.list_users().await.unwrap().len(), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_loses_its_writes_and_those_planned_on_them_and_the_store_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        store.create_user(&user(1000)).await.unwrap();

        store.inner.failing_commits.store(1, Ordering::Release);
        let error = store.create_user(&user(1001)).await.unwrap_err();
        assert!(matches!(error, Error::StoreUnavailable(ref m) if m.contains("No space left")), "{error:?}");
        assert!(store.user_by_id("usr_1001").await.unwrap().is_none(), "memory read back from the file");
        assert!(store.user_by_id("usr_1000").await.unwrap().is_some());

        // A failure amid concurrent writers: whoever was answered Ok is there, in memory and
        // on disk; whoever was answered an error is in neither.
        store.inner.failing_commits.store(1, Ordering::Release);
        let answered = create_concurrently(&store, 0..100).await;
        assert!(answered.iter().any(|ok| !ok), "the injected failure reached some writers");
        let in_memory: Vec<bool> = users_in_order(&store, 100).await.into_iter().map(|found| found.is_some()).collect();
        assert_eq!(in_memory, answered);

        // It recovers by itself: the next writes commit as usual.
        assert!(create_concurrently(&store, 2000..2050).await.iter().all(|ok| *ok));
        drop(store);
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        for (i, ok) in answered.iter().enumerate() {
            assert_eq!(reopened.user_by_id(&format!("usr_{i}")).await.unwrap().is_some(), *ok, "user {i} on disk");
        }
        assert!(reopened.user_by_id("usr_1001").await.unwrap().is_none());
        assert_eq!(reopened.list_users().await.unwrap().len(), 1 + answered.iter().filter(|ok| **ok).count() + 50);
    }

    async fn users_in_order(store: &EmbeddedStore, n: usize) -> Vec<Option<UserRecord>> {
        let mut found = Vec::new();
        for i in 0..n {
            found.push(store.user_by_id(&format!("usr_{i}")).await.unwrap());
        }
        found
    }
}
