//! Redis Cluster for real (contract section 9): six `redis-server` nodes (three masters, three
//! replicas, made by `redis-cli --cluster create`) and two airlock instances on
//! `redis+cluster://…`. Sessions of 30 people spread over the slots and every master, valid on
//! both instances; then the master holding the users' email index is killed (-9) under load:
//! no 500, service back without restarting airlock, no session lost that existed a second
//! before the kill, and no revoked session valid again.

use crate::failover::{
    PEOPLE, SIGNED_OUT, assert_no_wrong_answers, assert_nothing_lost, check, load, sessions, sign_in,
};
use airlock_system_tests::{AirlockOptions, AirlockProcess, CLUSTER_NODE_TIMEOUT, RedisCluster, browser, eventually};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The shard a session cookie names (`airlock_session=<shard><random>`): its slot's hash tag.
fn shard_of(cookie: &str) -> &str {
    let token = cookie.split_once('=').map(|(_, token)| token).unwrap_or(cookie);
    &token[..4]
}

#[tokio::test]
async fn sessions_spread_over_the_masters_and_survive_a_killed_master_on_both_instances() {
    let mut cluster = RedisCluster::start(3);
    let one = AirlockProcess::start(AirlockOptions::redis(&cluster.url())).await;
    let two = AirlockProcess::start(AirlockOptions::redis(&cluster.url())).await;
    let (live, revoked) = sessions(&one).await;
    assert_eq!((live.len(), revoked.len()), (PEOPLE - SIGNED_OUT, SIGNED_OUT));

    // Spread: the sessions are in many slots, on every master.
    let slots: BTreeSet<&str> = live.iter().chain(&revoked).map(|cookie| shard_of(cookie)).collect();
    let masters: BTreeSet<usize> = slots.iter().map(|shard| cluster.master_of(&format!("{{{shard}}}"))).collect();
    println!("{PEOPLE} people's sessions: {} shards on {} masters", slots.len(), masters.len());
    assert!(slots.len() >= PEOPLE - 2, "one shard per person, give or take a collision: {slots:?}");
    assert_eq!(masters.len(), 3, "sessions on every master");

    // Valid on both instances; revoked on both.
    let client = browser();
    for airlock in [&one, &two] {
        for cookie in &live {
            assert_eq!(check(&client, airlock, cookie).await, StatusCode::OK, "a live session on either instance");
        }
        for cookie in &revoked {
            assert_eq!(check(&client, airlock, cookie).await, StatusCode::UNAUTHORIZED, "revoked on either instance");
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let checks = [load(&one, &live, stop.clone()), load(&two, &live, stop.clone())];
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The master of the email index: no one signs in until its replica takes over.
    let victim = cluster.master_of("airlock:{users}users");
    let killed = Instant::now();
    cluster.nodes[victim].kill();

    let writable = eventually(Duration::from_secs(30), async || {
        sign_in(&two, "person10@example.com", "a-password-of-theirs").await.is_some()
    })
    .await;
    let recovered = killed.elapsed();
    assert!(writable, "airlock did not write to the new master within 30 s of the kill:\n{}", two.output());
    assert_ne!(cluster.master_of("airlock:{users}users"), victim, "a replica took the killed master's slots");
    println!(
        "cluster failover after kill -9: writable again {recovered:?} after the kill (node timeout {CLUSTER_NODE_TIMEOUT:?})"
    );

    stop.store(true, Ordering::Relaxed);
    for handle in checks {
        assert_no_wrong_answers(&handle.await.unwrap());
    }
    for airlock in [&one, &two] {
        assert_nothing_lost(airlock, &live, &revoked).await;
    }

    // A promoted replica may have an empty script cache (`NOSCRIPT`): with every node's cache
    // flushed, sign-ins, checks and sign-outs still work (scripts are loaded again on demand).
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut node.connection()).expect("SCRIPT FLUSH");
    }
    let fresh =
        sign_in(&one, "person11@example.com", "a-password-of-theirs").await.expect("a sign-in after SCRIPT FLUSH");
    assert_eq!(check(&client, &two, &fresh).await, StatusCode::OK);

    // Revocations still work, everywhere, on the promoted master too (it has no replica now:
    // the killed one was its only peer).
    for cookie in &live {
        let resp = browser().post(one.at("/api/auth/sign-out")).header(COOKIE, cookie).send().await.unwrap();
        assert_eq!(resp.status(), 200, "sign-out after the failover: {}", resp.text().await.unwrap_or_default());
        assert_eq!(check(&client, &two, cookie).await, StatusCode::UNAUTHORIZED, "signed out on the other instance");
    }
    // A sign-out found already done (a retry after a 503) waits for every master's replicas
    // before it answers (the fence), the promoted master included.
    let resp = browser().post(two.at("/api/auth/sign-out")).header(COOKIE, &revoked[0]).send().await.unwrap();
    assert_eq!(resp.status(), 200, "a repeated sign-out: {}", resp.text().await.unwrap_or_default());
}
