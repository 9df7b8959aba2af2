//! Upgrading keeps the data (issue 15): stores written by an earlier airlock, through its HTTP
//! API (`tests/fixtures/previous-release/make.sh`, at the commit their `.env` names), read by
//! this one in place: sessions, API tokens, service tokens and their revocations, grants,
//! signing keys, users, orgs and memberships. Then a write on each of the old records.

use airlock_system_tests::{AirlockOptions, AirlockProcess, browser, free_port, repo_root};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> std::path::PathBuf {
    repo_root().join("tests/fixtures/previous-release").join(name)
}

/// `KEY=value` lines of a fixture's `.env`.
fn credentials(store: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixture(&format!("{store}.env"))).expect("fixture .env");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The public URL the fixtures were written with (their JWTs' issuer).
const FIXTURE_PUBLIC_URL: &str = "http://127.0.0.1:7070";

async fn start_airlock(store: String) -> AirlockProcess {
    AirlockProcess::start(
        AirlockOptions { store: Some(store), ..AirlockOptions::default() }
            .env("AIRLOCK_PUBLIC_URL", FIXTURE_PUBLIC_URL),
    )
    .await
}

async fn get(
    airlock: &AirlockProcess,
    path: &str,
    header: (reqwest::header::HeaderName, String),
) -> (StatusCode, Value) {
    let resp = browser().get(airlock.at(path)).header(header.0, header.1).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Everything the earlier airlock handed out still works, and can still be changed.
async fn assert_reads_in_place(airlock: &AirlockProcess, creds: &BTreeMap<String, String>) {
    let cookie = (COOKIE, format!("airlock_session={}", creds["ADA_COOKIE"]));
    let (status, view) = get(airlock, "/api/auth/session", cookie.clone()).await;
    assert_eq!(status, 200, "the session cookie: {view}");
    assert_eq!(view["user"]["email"], "ada@example.com");
    assert_eq!(view["orgs"][0]["slug"], "acme", "{view}");
    assert_eq!(view["orgs"][0]["role"], "operator", "{view}");

    let api_token = (AUTHORIZATION, format!("Bearer {}", creds["ADA_API_TOKEN"]));
    let (status, view) = get(airlock, "/api/auth/session", api_token.clone()).await;
    assert_eq!((status, view["auth"]["method"].as_str()), (StatusCode::OK, Some("api_token")), "{view}");

    let service = (AUTHORIZATION, format!("Bearer {}", creds["ACTIVE_SERVICE_TOKEN"]));
    let (status, view) = get(airlock, "/api/auth/session", service).await;
    assert_eq!((status, view["auth"]["method"].as_str()), (StatusCode::OK, Some("service_token")), "{view}");

    let revoked: Value =
        browser().get(airlock.at("/api/service-tokens/revoked")).send().await.unwrap().json().await.unwrap();
    assert!(revoked.to_string().contains(&creds["REVOKED_SERVICE_TOKEN_ID"]), "the revocation is kept: {revoked}");

    let jwks: Value = browser().get(airlock.at("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    for kid in creds["KEY_IDS"].split(',') {
        assert!(jwks.to_string().contains(kid), "key {kid} still published: {jwks}");
    }

    // The grant of urc-42 still authorises an exchange.
    let exchanged = browser()
        .post(airlock.at("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", creds["ADA_API_TOKEN"].as_str()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", "urc-42"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), 200, "the grant reads in place: {}", exchanged.text().await.unwrap_or_default());

    // Writes on the old records: a new token next to the old one, then the old one revoked.
    let ada = browser();
    let resp = airlock.sign_in(&ada, "ada@example.com", "ada-password-of-the-fixture").await;
    assert_eq!(resp.status(), 200, "the password hash reads in place");
    let resp = ada.post(airlock.at("/api/tokens")).json(&serde_json::json!({"name": "deploy"})).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap_or_default());
    let listed: Value = ada.get(airlock.at("/api/tokens")).send().await.unwrap().json().await.unwrap();
    let mut names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["ci", "deploy"], "{listed}");
    assert_eq!(ada.delete(airlock.at("/api/tokens/ci")).send().await.unwrap().status(), 200);
    assert_eq!(get(airlock, "/api/auth/session", api_token).await.0, StatusCode::UNAUTHORIZED);
    let resp = browser().post(airlock.at("/api/auth/sign-out")).header(cookie.0.clone(), cookie.1.clone()).send();
    assert_eq!(resp.await.unwrap().status(), 200);
    assert_eq!(get(airlock, "/api/auth/session", cookie).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_embedded_store_written_by_the_previous_release_reads_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture("embedded"), &data);
    let airlock = start_airlock(format!("embedded:{}", data.display())).await;
    assert_reads_in_place(&airlock, &credentials("embedded")).await;
}

/// A redis-server loading the fixture's dump.
struct LoadedRedis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for LoadedRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_from_dump() -> LoadedRedis {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("redis"), dir.path());
    let port = free_port();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--dir", &dir.path().display().to_string(), "--dbfilename", "dump.rdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = format!("redis://127.0.0.1:{port}/");
    loop {
        let loaded = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("DBSIZE").query::<i64>(&mut c));
        if loaded.is_ok_and(|keys| keys > 0) {
            break;
        }
        if let Some(status) = child.try_wait().expect("poll redis-server") {
            panic!("redis-server exited ({status}) before loading the fixture's dump (needs Redis 7 or later)");
        }
        assert!(Instant::now() < deadline, "redis-server did not load the fixture's dump");
        std::thread::sleep(Duration::from_millis(50));
    }
    LoadedRedis { port, child, _dir: dir }
}

#[tokio::test]
async fn a_redis_store_written_by_the_previous_release_reads_in_place() {
    let redis = redis_from_dump();
    let airlock = start_airlock(format!("redis://127.0.0.1:{}/0", redis.port)).await;
    assert_reads_in_place(&airlock, &credentials("redis")).await;
}
