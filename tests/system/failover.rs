//! What the failover suites (Sentinel, Cluster) share: people signed in before the failure,
//! a load of session checks through it, and the checks after it (nothing lost, nothing undone,
//! no wrong answer).

use airlock_system_tests::{AirlockProcess, browser};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const PEOPLE: usize = 30;
pub const SIGNED_OUT: usize = 10;

pub async fn sign_in(airlock: &AirlockProcess, email: &str, password: &str) -> Option<String> {
    let resp = airlock.sign_in(&browser(), email, password).await;
    (resp.status() == 200).then(|| resp.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned())
}

pub async fn check(client: &reqwest::Client, airlock: &AirlockProcess, cookie: &str) -> StatusCode {
    match client.get(airlock.at("/api/auth/session")).header(COOKIE, cookie).send().await {
        Ok(resp) => resp.status(),
        Err(_) => StatusCode::BAD_GATEWAY, // no answer at all: counted, and refused below
    }
}

/// `PEOPLE` users signed in once each; the first `SIGNED_OUT` then sign out (revocations
/// answered 200). Returns (live cookies, revoked cookies).
pub async fn sessions(airlock: &AirlockProcess) -> (Vec<String>, Vec<String>) {
    let admin = airlock.admin().await;
    let mut cookies = Vec::new();
    for n in 0..PEOPLE {
        let email = format!("person{n}@example.com");
        airlock.add_user(&admin, &email, "a-password-of-theirs", &[]).await;
        cookies.push(sign_in(airlock, &email, "a-password-of-theirs").await.expect("sign-in before the failover"));
    }
    let revoked: Vec<String> = cookies.drain(..SIGNED_OUT).collect();
    for cookie in &revoked {
        let resp = browser().post(airlock.at("/api/auth/sign-out")).header(COOKIE, cookie).send().await.unwrap();
        assert_eq!(resp.status(), 200, "sign-out before the failover: {}", resp.text().await.unwrap_or_default());
    }
    (cookies, revoked)
}

/// Session checks on every live cookie in a loop until `stop`; every status seen, counted.
pub fn load(
    airlock: &AirlockProcess,
    live: &[String],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeMap<u16, u64>> {
    let (url, live) = (airlock.at("/api/auth/session"), live.to_vec());
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let mut seen = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            for cookie in &live {
                let status = match client.get(&url).header(COOKIE, cookie).send().await {
                    Ok(resp) => resp.status().as_u16(),
                    Err(_) => 0,
                };
                *seen.entry(status).or_insert(0) += 1;
            }
        }
        seen
    })
}

/// After the failover: every live session still valid, every revoked one still refused, and
/// the store writable again (a fresh sign-in works).
pub async fn assert_nothing_lost(airlock: &AirlockProcess, live: &[String], revoked: &[String]) {
    let client = browser();
    let mut lost = 0;
    for cookie in live {
        if check(&client, airlock, cookie).await != StatusCode::OK {
            lost += 1;
        }
    }
    let mut undone = 0;
    for cookie in revoked {
        if check(&client, airlock, cookie).await != StatusCode::UNAUTHORIZED {
            undone += 1;
        }
    }
    println!("sessions lost: {lost} of {}; revoked sessions valid again: {undone} of {}", live.len(), revoked.len());
    assert_eq!((lost, undone), (0, 0), "a failover lost sessions or undid revocations");
}

pub fn assert_no_wrong_answers(seen: &BTreeMap<u16, u64>) {
    println!("session checks during the failover, by status: {seen:?}");
    let wrong: Vec<_> = seen.iter().filter(|(status, _)| !matches!(status, 200 | 503)).collect();
    assert!(wrong.is_empty(), "only 200 or 503 may answer a live session while the master fails over: {seen:?}");
    assert!(seen.get(&200).copied().unwrap_or(0) > 0, "the load made checks: {seen:?}");
}
