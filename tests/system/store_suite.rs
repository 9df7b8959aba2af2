//! One suite, every backend: the embedded store and Redis must behave the same.

use airlock::Error;
use airlock::audit::{AuditFilter, AuditRecord};
use airlock::secrets::hash_secret;
use airlock::store::embedded::EmbeddedStore;
use airlock::store::redis::RedisStore;
use airlock::store::shard;
use airlock::store::{Durability, DynStore, OrgRecord, Record, Records, SessionRecord, Spec, Store, UserRecord};
use airlock_system_tests::{RedisCluster, RedisServer, Sentinels};
use serde::{Deserialize, Serialize};
use shared::{GlobalRole, OrgRole};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn user(id: &str, email: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        email: email.into(),
        name: id.into(),
        password_hash: None,
        roles: vec![],
        disabled: false,
        created_at: now(),
    }
}

/// Session `n` of `user_id`: its id and token hash name the user's shard, as airlock makes them.
fn session(n: &str, user_id: &str, lives: time::Duration) -> SessionRecord {
    let shard = shard::of_user(user_id);
    SessionRecord {
        id: format!("ses_{shard}{n}"),
        token_hash: format!("{shard}{}", hash_secret(n)),
        user_id: user_id.into(),
        created_at: now(),
        expires_at: now() + lives,
        last_seen_at: now(),
        user_agent: Some("test".into()),
        ip: Some("127.0.0.1".into()),
    }
}

/// The contract of `Store`, for any backend.
async fn store_contract(store: DynStore) {
    store.ping().await.unwrap();

    // Users: unique emails, lookups, updates.
    let ada = user("usr_ada", "ada@example.com");
    store.create_user(&ada).await.unwrap();
    assert!(matches!(store.create_user(&user("usr_other", "ada@example.com")).await, Err(Error::Conflict(_))));
    assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user_by_id("usr_ada").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user_by_id("usr_nobody").await.unwrap(), None);
    let mut changed = ada.clone();
    changed.roles = vec![GlobalRole::Operator];
    store.update_user(&changed).await.unwrap();
    assert_eq!(store.user_by_id("usr_ada").await.unwrap().unwrap().roles, vec![GlobalRole::Operator]);
    assert!(matches!(store.update_user(&user("usr_ghost", "ghost@example.com")).await, Err(Error::NotFound(_))));
    store.create_user(&user("usr_bob", "bob@example.com")).await.unwrap();
    let emails: Vec<_> = store.list_users().await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);

    // Orgs and memberships.
    let acme = OrgRecord { id: "org_acme".into(), slug: "acme".into(), name: "Acme".into(), created_at: now() };
    let beta = OrgRecord { id: "org_beta".into(), slug: "beta".into(), name: "Beta".into(), created_at: now() };
    store.create_org(&acme).await.unwrap();
    store.create_org(&beta).await.unwrap();
    assert!(matches!(store.create_org(&acme).await, Err(Error::Conflict(_))));
    assert_eq!(store.org_by_slug("acme").await.unwrap(), Some(acme.clone()));
    assert_eq!(store.list_orgs().await.unwrap().len(), 2);
    store.put_membership("org_beta", "usr_ada", OrgRole::Viewer).await.unwrap();
    store.put_membership("org_acme", "usr_ada", OrgRole::Member).await.unwrap();
    store.put_membership("org_acme", "usr_ada", OrgRole::Operator).await.unwrap();
    let roles: Vec<_> =
        store.memberships_of("usr_ada").await.unwrap().into_iter().map(|m| (m.org.slug, m.role)).collect();
    assert_eq!(roles, [("acme".to_owned(), OrgRole::Operator), ("beta".to_owned(), OrgRole::Viewer)]);
    assert!(store.remove_membership("org_beta", "usr_ada").await.unwrap());
    assert!(!store.remove_membership("org_beta", "usr_ada").await.unwrap());

    // Sessions: by hash, by id, refresh, expiry, deletion.
    let day = time::Duration::days(1);
    let s1 = session("1", "usr_ada", day);
    let s2 = session("2", "usr_ada", day);
    let s3 = session("3", "usr_bob", day);
    for s in [&s1, &s2, &s3] {
        store.create_session(s).await.unwrap();
    }
    let bundle = store.load_session(&s1.token_hash, now()).await.unwrap().expect("live session");
    assert_eq!(*bundle.session, s1);
    assert_eq!(bundle.principal.user.roles, vec![GlobalRole::Operator]);
    assert_eq!(bundle.principal.memberships.len(), 1);
    assert_eq!(bundle.principal.memberships[0].org, acme);
    assert!(store.load_session("nohash", now()).await.unwrap().is_none());
    assert!(store.load_session(&session("9", "usr_ada", day).token_hash, now()).await.unwrap().is_none());
    // A session past its expiry is absent even before any sweep.
    assert!(store.load_session(&s1.token_hash, now() + day * 2).await.unwrap().is_none());

    let mut refreshed = s1.clone();
    refreshed.expires_at = now() + day * 7;
    assert!(store.refresh_session(&refreshed).await.unwrap());
    assert_eq!(store.session_by_id(&s1.id, now()).await.unwrap().unwrap().expires_at, refreshed.expires_at);
    assert!(store.session_by_id("ses_nobody", now()).await.unwrap().is_none());
    // A check sees every change, however often the same session was checked before it (the Redis
    // store reuses its decoding of an index only while Redis answers the same bytes).
    let loaded = store.load_session(&s1.token_hash, now()).await.unwrap().expect("live session");
    assert_eq!(loaded.session.expires_at, refreshed.expires_at, "a check after a refresh sees it");
    let original = store.user_by_id("usr_ada").await.unwrap().unwrap();
    let promoted = UserRecord { roles: vec![GlobalRole::Admin], ..original.clone() };
    store.update_user(&promoted).await.unwrap();
    let loaded = store.load_session(&s1.token_hash, now()).await.unwrap().expect("live session");
    assert_eq!(loaded.principal.user.roles, vec![GlobalRole::Admin], "a check after a user change sees it");
    store.update_user(&original).await.unwrap();
    assert_eq!(store.load_session(&s1.token_hash, now()).await.unwrap().unwrap().principal.user.roles, original.roles);
    // So does a check after a membership change.
    store.put_membership("org_beta", "usr_ada", OrgRole::Admin).await.unwrap();
    let loaded = store.load_session(&s1.token_hash, now()).await.unwrap().expect("live session");
    assert_eq!(loaded.principal.memberships.len(), 2, "a check after a membership change sees it");
    assert!(store.remove_membership("org_beta", "usr_ada").await.unwrap());
    assert_eq!(store.load_session(&s1.token_hash, now()).await.unwrap().unwrap().principal.memberships.len(), 1);

    let ids: Vec<_> = store.sessions_of("usr_ada", now()).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(store.delete_session(&s2.id).await.unwrap());
    assert!(!store.delete_session(&s2.id).await.unwrap());
    assert!(!store.delete_session("ses_nobody").await.unwrap());
    assert!(store.load_session(&s2.token_hash, now()).await.unwrap().is_none());
    // A refresh never resurrects a deleted session.
    assert!(!store.refresh_session(&s2).await.unwrap());
    assert!(store.load_session(&s2.token_hash, now()).await.unwrap().is_none());

    let s4 = session("4", "usr_ada", day);
    store.create_session(&s4).await.unwrap();
    assert_eq!(store.delete_sessions_of("usr_ada", Some(&s1.id)).await.unwrap(), 1);
    assert!(store.load_session(&s1.token_hash, now()).await.unwrap().is_some());
    assert!(store.load_session(&s4.token_hash, now()).await.unwrap().is_none());
    assert_eq!(store.delete_sessions_of("usr_ada", None).await.unwrap(), 1);
    assert!(store.sessions_of("usr_ada", now()).await.unwrap().is_empty());
    assert_eq!(store.sessions_of("usr_bob", now()).await.unwrap().len(), 1);
    assert!(store.load_session(&s3.token_hash, now()).await.unwrap().is_some());

    // The audit log is bounded: the oldest records go first.
    for i in 0..5 {
        let record = AuditRecord {
            time: now(),
            event: if i % 2 == 0 { "auth.login.fail".into() } else { "auth.login.success".into() },
            actor: Some(format!("user{i}@example.com")),
            subject: None,
            ip: Some("127.0.0.1".into()),
            outcome: "success".into(),
        };
        store.append_audit(&record, 3).await.unwrap();
    }
    let all = store.audit_log(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    let actors: Vec<_> = all.iter().map(|r| r.actor.clone().unwrap()).collect();
    assert_eq!(actors, ["user4@example.com", "user3@example.com", "user2@example.com"], "newest first, capped at 3");
    let fails = store
        .audit_log(&AuditFilter { event: Some("auth.login.fail".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(fails.len(), 2);
}

#[tokio::test]
async fn embedded_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("data")).unwrap());
    store_contract(store).await;
}

#[tokio::test]
async fn redis_store_meets_the_contract() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_sessions_expire_by_ttl() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
    let s1 = session("1", "usr_ada", time::Duration::days(1));
    store.create_session(&s1).await.unwrap();
    let mut conn = redis.connection();
    let ttl: i64 = redis::cmd("PTTL").arg(format!("airlock:session:{}", s1.id)).query(&mut conn).unwrap();
    assert!(ttl > 86_000_000 && ttl <= 86_400_000, "ttl {ttl}");
    let ttl: i64 = redis::cmd("PTTL").arg(format!("airlock:session_token:{}", s1.token_hash)).query(&mut conn).unwrap();
    assert!(ttl > 86_000_000, "token index ttl {ttl}");
}

#[tokio::test]
async fn redis_reads_session_indexes_written_before_version_stamps() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
    // A session as airlock made them before shards (the standalone layout ignores shards).
    let old = SessionRecord {
        id: "ses_1".into(),
        token_hash: "hash1".into(),
        ..session("1", "usr_ada", time::Duration::days(1))
    };
    store.create_session(&old).await.unwrap();
    // The index as an earlier airlock wrote it: `{session id} {user id}`.
    let mut conn = redis.connection();
    let _: () = redis::cmd("SET").arg("airlock:session_token:hash1").arg("ses_1 usr_ada").query(&mut conn).unwrap();
    let bundle = store.load_session("hash1", now()).await.unwrap().expect("the old index still finds its session");
    assert_eq!((bundle.session.id.as_str(), bundle.principal.user.email.as_str()), ("ses_1", "ada@example.com"));
    // A refresh rewrites it in the current form, which the check reads in one GET.
    assert!(store.refresh_session(&bundle.session).await.unwrap());
    let index: String = redis::cmd("GET").arg("airlock:session_token:hash1").query(&mut conn).unwrap();
    assert!(index.starts_with("0 {"), "{index}");
    assert!(store.load_session("hash1", now()).await.unwrap().is_some());
}

#[tokio::test]
async fn embedded_store_is_private_durable_and_swept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let live = session("live", "usr_ada", time::Duration::days(1));
    let old = session("old", "usr_ada", time::Duration::seconds(1));
    {
        let store = EmbeddedStore::open(&data).unwrap();
        store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
        store.create_session(&live).await.unwrap();
        store.create_session(&old).await.unwrap();
        // A second handle on the same files is refused, not allowed to corrupt them.
        assert!(matches!(EmbeddedStore::open(&data), Err(Error::StoreUnavailable(_))));
        assert_eq!(store.sweep(now() + time::Duration::seconds(5)).await.unwrap(), 1);
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    let reopened = EmbeddedStore::open(&data).unwrap();
    assert!(reopened.load_session(&live.token_hash, now()).await.unwrap().is_some());
    assert!(reopened.session_by_id(&old.id, now() - time::Duration::hours(1)).await.unwrap().is_none());
}

/// A kind of record made up for the suite, using every part of a [`Spec`]: a unique key, an
/// owner, an expiry, listed whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Note {
    id: String,
    slug: String,
    owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    body: String,
}

impl Record for Note {
    const SPEC: Spec = Spec { name: "note", table: "notes", all: Some("notes"), owned: Some("{owner}_notes") };

    fn id(&self) -> &str {
        &self.id
    }

    fn unique_keys(&self) -> Vec<(&'static str, String)> {
        vec![("slug", self.slug.clone())]
    }

    fn owner(&self) -> Option<String> {
        self.owner.clone()
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
}

fn note(id: &str, slug: &str, owner: Option<&str>) -> Note {
    Note { id: id.into(), slug: slug.into(), owner: owner.map(Into::into), expires_at: None, body: "first".into() }
}

fn ids(mut notes: Vec<Note>) -> Vec<String> {
    notes.sort_by(|a, b| a.id.cmp(&b.id));
    notes.into_iter().map(|n| n.id).collect()
}

/// The contract of the record collections, for any backend: what a new kind of record can rely
/// on without a line of backend code.
async fn collections_contract(store: DynStore) {
    let stored = Durability::Stored;
    // Insert-if-absent, by id and by unique key.
    store.insert(&note("n1", "alpha", Some("ada"))).await.unwrap();
    assert!(matches!(store.insert(&note("n1", "other", None)).await, Err(Error::Conflict(_))), "id taken");
    assert!(matches!(store.insert(&note("n2", "alpha", None)).await, Err(Error::Conflict(_))), "unique key taken");
    assert_eq!(store.get::<Note>("n1").await.unwrap(), Some(note("n1", "alpha", Some("ada"))));
    assert_eq!(store.find::<Note>("slug", "alpha").await.unwrap().map(|n| n.id), Some("n1".into()));
    assert_eq!(store.find::<Note>("slug", "nothing").await.unwrap(), None);
    assert_eq!(store.get::<Note>("n0").await.unwrap(), None);

    // Put replaces; an owner can be given later.
    let mut changed = note("n1", "alpha", Some("ada"));
    changed.body = "second".into();
    store.put(&changed, stored).await.unwrap();
    assert_eq!(store.get::<Note>("n1").await.unwrap().unwrap().body, "second");
    store.insert(&note("n2", "beta", Some("ada"))).await.unwrap();
    store.insert(&note("n3", "gamma", Some("bob"))).await.unwrap();
    store.insert(&note("n4", "delta", None)).await.unwrap();
    assert_eq!(ids(store.owned_by::<Note>("ada").await.unwrap()), ["n1", "n2"]);
    store.put(&note("n4", "delta", Some("ada")), Durability::Replicated).await.unwrap();
    assert_eq!(ids(store.owned_by::<Note>("ada").await.unwrap()), ["n1", "n2", "n4"]);
    assert_eq!(ids(store.owned_by::<Note>("nobody").await.unwrap()), Vec::<String>::new());
    assert_eq!(ids(store.all::<Note>().await.unwrap()), ["n1", "n2", "n3", "n4"]);

    // Compare-and-set: a change made since the read wins over the stale writer.
    let read = store.get_versioned::<Note>("n2").await.unwrap().unwrap();
    let mut first = read.record.clone();
    first.body = "by the first writer".into();
    assert!(store.swap(&first, &read, stored).await.unwrap());
    let mut second = read.record.clone();
    second.body = "by a stale writer".into();
    assert!(!store.swap(&second, &read, stored).await.unwrap(), "the record changed since it was read");
    assert_eq!(store.get::<Note>("n2").await.unwrap().unwrap().body, "by the first writer");

    // Delete frees the id and the unique key, and unlists it.
    assert_eq!(store.delete::<Note>("n3", Durability::Replicated).await.unwrap().map(|n| n.id), Some("n3".into()));
    assert_eq!(store.delete::<Note>("n3", stored).await.unwrap(), None);
    assert_eq!(store.find::<Note>("slug", "gamma").await.unwrap(), None);
    assert!(store.owned_by::<Note>("bob").await.unwrap().is_empty());
    store.insert(&note("n5", "gamma", None)).await.unwrap();

    // Take-once: of many concurrent takes, exactly one gets the record.
    store.insert(&note("code", "one-use", Some("ada"))).await.unwrap();
    let takes = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.take::<Note>("code").await.unwrap() })
    });
    let taken: Vec<Note> = futures::future::join_all(takes).await.into_iter().filter_map(|t| t.unwrap()).collect();
    assert_eq!(taken.len(), 1, "one take got the code");
    assert_eq!(store.find::<Note>("slug", "one-use").await.unwrap(), None);

    // An expired record is absent everywhere, swept or not, and its unique key is free again.
    let mut brief = note("n6", "brief", Some("ada"));
    brief.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::milliseconds(800));
    store.insert(&brief).await.unwrap();
    assert!(store.get::<Note>("n6").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(store.get::<Note>("n6").await.unwrap(), None);
    assert_eq!(store.find::<Note>("slug", "brief").await.unwrap(), None);
    assert!(!ids(store.owned_by::<Note>("ada").await.unwrap()).contains(&"n6".to_owned()));
    assert!(!ids(store.all::<Note>().await.unwrap()).contains(&"n6".to_owned()));
    store.insert(&note("n7", "brief", None)).await.unwrap();
}

#[tokio::test]
async fn embedded_collections_meet_the_contract_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Arc::new(EmbeddedStore::open(&data).unwrap());
        collections_contract(store.clone()).await;
        // An expired record whose id sorts after the live one that took its unique key since:
        // it must not take the key back when the file is read again.
        let mut gone = note("z1", "reused", None);
        gone.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::milliseconds(500));
        store.insert(&gone).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        store.insert(&note("a2", "reused", None)).await.unwrap();
    }
    // Records and their indexes come back from the file.
    let store = EmbeddedStore::open(&data).unwrap();
    assert_eq!(store.find::<Note>("slug", "alpha").await.unwrap().map(|n| n.body), Some("second".into()));
    assert_eq!(ids(store.owned_by::<Note>("ada").await.unwrap()), ["n1", "n2", "n4"]);
    assert!(matches!(store.insert(&note("n9", "beta", None)).await, Err(Error::Conflict(_))));
    assert_eq!(store.find::<Note>("slug", "reused").await.unwrap().map(|n| n.id), Some("a2".into()));
    assert!(matches!(store.insert(&note("n10", "reused", None)).await, Err(Error::Conflict(_))));
}

/// Every case of the suite on a real Cluster (three masters, three replicas), each under a
/// prefix of its own.
#[tokio::test]
async fn cluster_store_and_collections_meet_the_contract() {
    let cluster = RedisCluster::start(3);
    let connect =
        async |prefix: &str| RedisStore::connect(&cluster.url(), prefix, Duration::from_secs(2)).await.unwrap();
    store_contract(Arc::new(connect("suite:").await)).await;
    collections_contract(Arc::new(connect("notes:").await)).await;

    // Keys spread: a user's records are in their shard's slot, each user's slot their own.
    let dump = cluster.dump();
    for user in ["usr_ada", "usr_bob"] {
        let key = format!("suite:{{{}}}user:{user}", shard::of_user(user));
        assert!(dump.contains(&key), "{key} in\n{dump}");
    }

    // A session whose id does not name its user's shard could not be found by its id: refused.
    let store = connect("shards:").await;
    store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
    let stray = SessionRecord { id: "ses_1".into(), ..session("1", "usr_ada", time::Duration::days(1)) };
    assert!(matches!(store.create_session(&stray).await, Err(Error::Internal(_))));
}

#[tokio::test]
async fn redis_collections_meet_the_contract() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    collections_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn sentinel_collections_meet_the_contract() {
    let (_master, _replica, sentinels) = Sentinels::deployment(Duration::from_secs(5));
    let store = RedisStore::connect(&sentinels.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    collections_contract(Arc::new(store)).await;
}

/// Keys, grants and service tokens moved onto the collections with the layout they had: data an
/// earlier airlock wrote reads in place.
#[tokio::test]
async fn redis_reads_service_tokens_grants_and_keys_as_the_previous_layout_wrote_them() {
    use airlock::tokens::grants::GrantRecord;
    use airlock::tokens::service_tokens::ServiceTokenRecord;
    let redis = RedisServer::start();
    let mut conn = redis.connection();
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let token = ServiceTokenRecord {
        id: "svc_old".into(),
        tenant_id: "acme".into(),
        scopes: vec!["read:repo".into()],
        resource_id: None,
        issued_by: "admin@example.com".into(),
        created_at: now(),
        expires_at: expires,
        revoked_at: Some(now()),
    };
    let millis = (expires.unix_timestamp_nanos() / 1_000_000) as i64;
    // As the store before the collections wrote them (one SET with PXAT, one ZADD; SET + SADD).
    let _: () = redis::cmd("SET")
        .arg("airlock:service_token:svc_old")
        .arg(serde_json::to_string(&token).unwrap())
        .arg("PXAT")
        .arg(millis)
        .query(&mut conn)
        .unwrap();
    let _: () =
        redis::cmd("ZADD").arg("airlock:revoked_service_tokens").arg(millis).arg("svc_old").query(&mut conn).unwrap();
    let grant: GrantRecord = serde_json::from_value(serde_json::json!({
        "id": "grt_old", "grantee": {"kind": "user", "id": "usr_ada"}, "resource": "urc-42", "scopes": ["read"],
        "created_at": "2026-11-30T10:00:00Z"
    }))
    .unwrap();
    let _: () = redis::cmd("SET")
        .arg("airlock:grant:grt_old")
        .arg(serde_json::to_string(&grant).unwrap())
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("SADD").arg("airlock:grants").arg("grt_old").query(&mut conn).unwrap();

    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    let revoked: Vec<ServiceTokenRecord> = store.owned_by("revoked").await.unwrap();
    assert_eq!(revoked, vec![token.clone()]);
    assert_eq!(store.get::<ServiceTokenRecord>("svc_old").await.unwrap(), Some(token));
    assert_eq!(store.all::<GrantRecord>().await.unwrap(), vec![grant]);
}

/// API tokens too: written as the store before the collections wrote them (the owner list a
/// plain set), they authenticate, list, and take a revocation, the list converted in place.
#[tokio::test]
async fn redis_reads_api_tokens_as_the_previous_layout_wrote_them() {
    use airlock::store::Collection;
    use airlock::tokens::TokenRecord;
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
    let token: TokenRecord = serde_json::from_value(serde_json::json!({
        "id": "tok_old", "name": "ci", "user_id": "usr_ada", "token_hash": "hash-of-the-secret",
        "scopes": ["read"], "role": null, "created_at": "2026-11-30T10:00:00Z"
    }))
    .unwrap();
    let mut conn = redis.connection();
    let json = serde_json::to_string(&token).unwrap();
    let _: () = redis::cmd("SET").arg("airlock:token:tok_old").arg(&json).query(&mut conn).unwrap();
    let _: () =
        redis::cmd("SET").arg("airlock:token_token:hash-of-the-secret").arg("tok_old").query(&mut conn).unwrap();
    let _: () = redis::cmd("SADD").arg("airlock:user_tokens:usr_ada").arg("tok_old").query(&mut conn).unwrap();

    let found = store.load_credential(Collection::of::<TokenRecord>(), "token", "hash-of-the-secret").await.unwrap();
    let found = found.expect("the old token authenticates");
    assert_eq!((found.record.as_str(), found.user.email.as_str()), (json.as_str(), "ada@example.com"));
    assert_eq!(store.owned_by::<TokenRecord>("usr_ada").await.unwrap(), vec![token.clone()]);
    let kind: String = redis::cmd("TYPE").arg("airlock:user_tokens:usr_ada").query(&mut conn).unwrap();
    assert_eq!(kind, "zset", "the owner list was converted in place");
    let mut revoked = token.clone();
    revoked.revoked_at = Some(now());
    store.put(&revoked, Durability::Replicated).await.unwrap();
    assert_eq!(store.owned_by::<TokenRecord>("usr_ada").await.unwrap(), vec![revoked.clone()]);

    // A new token for a user whose list is still the old set: the write converts it.
    let _: () = redis::cmd("DEL").arg("airlock:user_tokens:usr_ada").query(&mut conn).unwrap();
    let _: () = redis::cmd("SADD").arg("airlock:user_tokens:usr_ada").arg("tok_old").query(&mut conn).unwrap();
    let mut newer = token.clone();
    (newer.id, newer.token_hash, newer.name) = ("tok_new".into(), "hash-of-another".into(), "deploy".into());
    store.insert(&newer).await.unwrap();
    let mut listed: Vec<String> =
        store.owned_by::<TokenRecord>("usr_ada").await.unwrap().into_iter().map(|t| t.id).collect();
    listed.sort();
    assert_eq!(listed, ["tok_new", "tok_old"]);
}
