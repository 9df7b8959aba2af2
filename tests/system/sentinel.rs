//! Redis Sentinel for real (contract section 9): one master, one replica and three sentinels
//! (`redis-server --sentinel`), airlock on `redis+sentinel://…`. The master is killed (-9) or
//! stalled under load; airlock must find the new master by itself, lose no session that existed
//! a second before, let no revoked session come back, and never answer 500 or a 401 for a live
//! session meanwhile.

use crate::failover::{assert_no_wrong_answers, assert_nothing_lost, check, load, sessions, sign_in};
use airlock_system_tests::{AirlockOptions, AirlockProcess, RedisServer, Sentinels, browser, eventually};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The master is judged down after this long (Redis's default is 30 s).
const DOWN_AFTER: Duration = Duration::from_millis(2000);
fn sentinel_deployment() -> (RedisServer, RedisServer, Sentinels) {
    Sentinels::deployment(DOWN_AFTER)
}

#[tokio::test]
async fn a_killed_master_is_replaced_without_losing_or_resurrecting_a_session() {
    let (mut master, replica, sentinels) = sentinel_deployment();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&sentinels.url())).await;
    let (live, revoked) = sessions(&airlock).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let checks = load(&airlock, &live, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    master.kill();

    // Back: the sentinels promoted the replica and airlock found it (a write: a new sign-in).
    let writable = eventually(Duration::from_secs(30), async || {
        sign_in(&airlock, "person10@example.com", "a-password-of-theirs").await.is_some()
    })
    .await;
    let recovered = killed.elapsed();
    assert!(writable, "airlock did not write to the new master within 30 s of the kill:\n{}", airlock.output());
    assert_eq!(sentinels.master_port(), Some(replica.port), "the sentinels promoted the replica");
    println!(
        "sentinel failover after kill -9: writable again {recovered:?} after the kill (down-after {DOWN_AFTER:?})"
    );

    stop.store(true, Ordering::Relaxed);
    assert_no_wrong_answers(&checks.await.unwrap());
    assert_nothing_lost(&airlock, &live, &revoked).await;
}

#[tokio::test]
async fn a_stalled_master_that_returns_as_a_replica_is_left_for_the_new_one() {
    let (master, replica, sentinels) = sentinel_deployment();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&sentinels.url())).await;
    let (live, revoked) = sessions(&airlock).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let checks = load(&airlock, &live, stop.clone());
    // The master freezes for longer than the sentinels wait: they promote the replica, and the
    // old master, when it wakes up, is turned into a replica of the new one (writes to it answer
    // READONLY).
    let stalled = Instant::now();
    let port = master.port;
    std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut conn = client.get_connection().unwrap();
        let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(6).query(&mut conn);
    });
    let promoted = eventually(Duration::from_secs(30), async || sentinels.master_port() == Some(replica.port)).await;
    assert!(promoted, "the sentinels did not promote the replica");
    let promoted_after = stalled.elapsed();
    let demoted = eventually(Duration::from_secs(30), async || master.info("replication").contains("role:slave")).await;
    assert!(demoted, "the old master did not come back as a replica");
    let demoted_at = Instant::now();

    // A sign-in and a revocation both write: they must reach the new master, although the
    // connection airlock had is to the old one, alive again.
    let mut fresh = None;
    let writable = eventually(Duration::from_secs(30), async || {
        fresh = sign_in(&airlock, "person10@example.com", "a-password-of-theirs").await;
        fresh.is_some()
    })
    .await;
    println!(
        "sentinel failover after a stall: promoted {promoted_after:?} after the stall began; \
         airlock writable {:?} after the old master came back as a replica",
        demoted_at.elapsed()
    );
    assert!(writable, "airlock did not write to the new master:\n{}", airlock.output());
    stop.store(true, Ordering::Relaxed);
    assert_no_wrong_answers(&checks.await.unwrap());
    // A revocation waits for a replica: the old master, resyncing from the new one, acknowledges
    // once it has caught up. Until then the answer is 503 and the client tries again.
    let last = live.last().unwrap();
    let revoking = Instant::now();
    let signed_out = eventually(Duration::from_secs(30), async || {
        let resp = browser().post(airlock.at("/api/auth/sign-out")).header(COOKIE, last).send().await;
        resp.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(signed_out, "a sign-out was never answered 200 after the failover:\n{}", airlock.output());
    println!("a revocation was durable again {:?} later", revoking.elapsed());

    let mut still_live = live[..live.len() - 1].to_vec();
    still_live.extend(fresh);
    let revoked: Vec<String> = revoked.iter().chain([last]).cloned().collect();
    assert_nothing_lost(&airlock, &still_live, &revoked).await;
}
/// While no replica can acknowledge, a revocation is not answered as done (503, within the
/// store timeout), and the session checks going on meanwhile are not held up by it (the
/// revocation waits on a connection of its own). Once the replica answers, the retried
/// sign-out is answered 200.
#[tokio::test]
async fn a_revocation_no_replica_acknowledges_is_answered_503_and_holds_up_nothing() {
    let (_master, replica, sentinels) = sentinel_deployment();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&sentinels.url())).await;
    let admin = airlock.admin().await;
    airlock.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    airlock.add_user(&admin, "bob@example.com", "bob-password-1", &[]).await;
    let ada = sign_in(&airlock, "ada@example.com", "ada-password-1").await.unwrap();
    let bob = sign_in(&airlock, "bob@example.com", "bob-password-1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The replica hangs: the master still lists it, but nothing acknowledges.
    replica.pause();
    let checks = {
        let (url, bob) = (airlock.at("/api/auth/session"), bob.clone());
        tokio::spawn(async move {
            let client = browser();
            let mut finished = Vec::new();
            let mut statuses = BTreeMap::new();
            let until = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < until {
                let status = client.get(&url).header(COOKIE, &bob).send().await.map_or(0, |r| r.status().as_u16());
                finished.push(Instant::now());
                *statuses.entry(status).or_insert(0u64) += 1;
            }
            (finished, statuses)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let resp = browser().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await.unwrap();
    let ended = Instant::now();
    let took = ended - started;
    assert_eq!(resp.status(), 503, "a revocation without a replica's acknowledgement is not answered as done");
    assert!(took < Duration::from_secs(3), "answered within the store timeout, not hung: {took:?}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable", "{body}");
    // The client tries again while the replica still hangs: the session is gone from the
    // master already, but that is not yet safe, so this is no 200 either.
    let retry = browser().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await.unwrap();
    assert_eq!(retry.status(), 503, "a retry is not answered as done before a replica has the first attempt's write");
    let (finished, statuses) = checks.await.unwrap();
    let during = finished.iter().filter(|at| **at > started && **at < ended).count();
    println!("session checks while a revocation waited for a replica: {statuses:?}, {during} finished during it");
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), [200], "the checks all answered: {statuses:?}");
    // Behind the revocation's WAIT on a shared connection, none would finish until it returned.
    assert!(during >= 3, "checks went on while the revocation waited: {during} finished during it");

    // Once the replica answers again, the retried sign-out is answered 200, and holds.
    replica.resume();
    let signed_out = eventually(Duration::from_secs(10), async || {
        let resp = browser().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await;
        resp.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(signed_out, "the retried sign-out was never answered 200");
    assert_eq!(check(&browser(), &airlock, &ada).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(&browser(), &airlock, &bob).await, StatusCode::OK);
}
