//! One suite, every backend: the embedded store and Redis must behave the same.

use airlock::Error;
use airlock::audit::{AuditFilter, AuditRecord};
use airlock::store::embedded::EmbeddedStore;
use airlock::store::redis::RedisStore;
use airlock::store::{DynStore, OrgRecord, SessionRecord, Store, UserRecord};
use airlock_system_tests::RedisServer;
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

fn session(id: &str, user_id: &str, token_hash: &str, lives: time::Duration) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        token_hash: token_hash.into(),
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
    let s1 = session("ses_1", "usr_ada", "hash1", day);
    let s2 = session("ses_2", "usr_ada", "hash2", day);
    let s3 = session("ses_3", "usr_bob", "hash3", day);
    for s in [&s1, &s2, &s3] {
        store.create_session(s).await.unwrap();
    }
    let bundle = store.load_session("hash1", now()).await.unwrap().expect("live session");
    assert_eq!(*bundle.session, s1);
    assert_eq!(bundle.principal.user.roles, vec![GlobalRole::Operator]);
    assert_eq!(bundle.principal.memberships.len(), 1);
    assert_eq!(bundle.principal.memberships[0].org, acme);
    assert!(store.load_session("nohash", now()).await.unwrap().is_none());
    // A session past its expiry is absent even before any sweep.
    assert!(store.load_session("hash1", now() + day * 2).await.unwrap().is_none());

    let mut refreshed = s1.clone();
    refreshed.expires_at = now() + day * 7;
    assert!(store.refresh_session(&refreshed).await.unwrap());
    assert_eq!(store.session_by_id("ses_1", now()).await.unwrap().unwrap().expires_at, refreshed.expires_at);
    // A check sees every change, however often the same session was checked before it (the Redis
    // store reuses its decoding of an index only while Redis answers the same bytes).
    let loaded = store.load_session("hash1", now()).await.unwrap().expect("live session");
    assert_eq!(loaded.session.expires_at, refreshed.expires_at, "a check after a refresh sees it");
    let original = store.user_by_id("usr_ada").await.unwrap().unwrap();
    let promoted = UserRecord { roles: vec![GlobalRole::Admin], ..original.clone() };
    store.update_user(&promoted).await.unwrap();
    let loaded = store.load_session("hash1", now()).await.unwrap().expect("live session");
    assert_eq!(loaded.principal.user.roles, vec![GlobalRole::Admin], "a check after a user change sees it");
    store.update_user(&original).await.unwrap();
    assert_eq!(store.load_session("hash1", now()).await.unwrap().unwrap().principal.user.roles, original.roles);

    let ids: Vec<_> = store.sessions_of("usr_ada", now()).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(store.delete_session("ses_2").await.unwrap());
    assert!(!store.delete_session("ses_2").await.unwrap());
    assert!(store.load_session("hash2", now()).await.unwrap().is_none());
    // A refresh never resurrects a deleted session.
    assert!(!store.refresh_session(&s2).await.unwrap());
    assert!(store.load_session("hash2", now()).await.unwrap().is_none());

    store.create_session(&session("ses_4", "usr_ada", "hash4", day)).await.unwrap();
    assert_eq!(store.delete_sessions_of("usr_ada", Some("ses_1")).await.unwrap(), 1);
    assert!(store.load_session("hash1", now()).await.unwrap().is_some());
    assert!(store.load_session("hash4", now()).await.unwrap().is_none());
    assert_eq!(store.delete_sessions_of("usr_ada", None).await.unwrap(), 1);
    assert!(store.sessions_of("usr_ada", now()).await.unwrap().is_empty());
    assert_eq!(store.sessions_of("usr_bob", now()).await.unwrap().len(), 1);

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
    store.create_session(&session("ses_1", "usr_ada", "hash1", time::Duration::days(1))).await.unwrap();
    let mut conn = redis.connection();
    let ttl: i64 = redis::cmd("PTTL").arg("airlock:session:ses_1").query(&mut conn).unwrap();
    assert!(ttl > 86_000_000 && ttl <= 86_400_000, "ttl {ttl}");
    let ttl: i64 = redis::cmd("PTTL").arg("airlock:session_token:hash1").query(&mut conn).unwrap();
    assert!(ttl > 86_000_000, "token index ttl {ttl}");
}

#[tokio::test]
async fn redis_reads_session_indexes_written_before_version_stamps() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "airlock:", Duration::from_secs(2)).await.unwrap();
    store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
    store.create_session(&session("ses_1", "usr_ada", "hash1", time::Duration::days(1))).await.unwrap();
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
    {
        let store = EmbeddedStore::open(&data).unwrap();
        store.create_user(&user("usr_ada", "ada@example.com")).await.unwrap();
        store.create_session(&session("ses_live", "usr_ada", "hash1", time::Duration::days(1))).await.unwrap();
        store.create_session(&session("ses_old", "usr_ada", "hash2", time::Duration::seconds(1))).await.unwrap();
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
    assert!(reopened.load_session("hash1", now()).await.unwrap().is_some());
    assert!(reopened.session_by_id("ses_old", now() - time::Duration::hours(1)).await.unwrap().is_none());
}
