//! The session lifecycle against real airlock processes: cookies, sign-in and sign-out,
//! secrets at rest, several instances on one Redis, live role changes, and argon2 kept off the
//! async workers.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer, browser};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The attributes of a `Set-Cookie` header, lowercased names, for exact assertions.
struct SetCookie {
    name: String,
    value: String,
    attrs: Vec<(String, String)>,
}

impl SetCookie {
    fn parse(header: &str) -> Self {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next().and_then(|p| p.split_once('=')).expect("name=value");
        let attrs = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), v.to_owned()),
                None => (p.to_ascii_lowercase(), String::new()),
            })
            .collect();
        Self { name: name.into(), value: value.into(), attrs }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }
}

fn set_cookies(resp: &reqwest::Response) -> Vec<SetCookie> {
    resp.headers().get_all(SET_COOKIE).iter().map(|v| SetCookie::parse(v.to_str().unwrap())).collect()
}

async fn raw_sign_in(process: &AirlockProcess, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(process.at("/api/auth/sign-in"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The admin signed in: the `Cookie` header that carries the new session.
async fn signed_in_cookie(process: &AirlockProcess) -> String {
    let resp = raw_sign_in(process, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = &set_cookies(&resp)[0];
    format!("{}={}", cookie.name, cookie.value)
}

/// `GET /api/auth/session` with exactly this cookie header.
async fn check(process: &AirlockProcess, cookie: &str) -> reqwest::Response {
    reqwest::Client::new().get(process.at("/api/auth/session")).header(COOKIE, cookie).send().await.unwrap()
}

#[tokio::test]
async fn dev_cookie_attributes_and_a_new_token_at_every_sign_in() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let first = raw_sign_in(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(first.status(), 200);
    let cookies = set_cookies(&first);
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    assert_eq!(cookie.name, "airlock_session");
    assert!(cookie.value.len() >= 43, "at least 256 bits of base64url");
    assert!(cookie.has("httponly"));
    assert_eq!(cookie.attr("samesite"), Some("Lax"));
    assert_eq!(cookie.attr("path"), Some("/"));
    assert_eq!(cookie.attr("max-age"), Some("604800"));
    assert!(!cookie.has("secure"), "--dev on plain http has no Secure");
    assert!(!cookie.has("domain"), "--dev has no Domain");

    let body: Value = first.json().await.unwrap();
    assert!(!body.to_string().contains(&cookie.value), "the token never appears in a body");
    assert_eq!(body["auth"], json!({"method": "session", "scopes": ["*"]}));

    let second = raw_sign_in(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let second_cookie = &set_cookies(&second)[0];
    assert_ne!(second_cookie.value, cookie.value, "no session fixation: a new token every sign-in");
}

#[tokio::test]
async fn production_cookie_is_secure_prefixed_and_scoped_to_the_apex() {
    let airlock = AirlockProcess::start(AirlockOptions {
        dev: false,
        ..AirlockOptions::default()
            .env("AIRLOCK_PUBLIC_URL", "https://airlock.example.test")
            .env("AIRLOCK_COOKIE_DOMAIN", "example.test")
            .env("AIRLOCK_SECRET", "an-airlock-test-secret-of-32-chars!!")
            .env("AIRLOCK_SESSION_TTL", "12h")
            .env("AIRLOCK_SESSION_UPDATE_AGE", "1h")
    })
    .await;
    let resp = raw_sign_in(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 200);
    let cookie = &set_cookies(&resp)[0];
    assert_eq!(cookie.name, "__Secure-airlock_session");
    assert!(cookie.has("secure"));
    assert!(cookie.has("httponly"));
    assert_eq!(cookie.attr("domain"), Some("example.test"));
    assert_eq!(cookie.attr("path"), Some("/"));
    assert_eq!(cookie.attr("samesite"), Some("Lax"));
    assert_eq!(cookie.attr("max-age"), Some("43200"));

    // Sign-out expires it with the same Domain and Path, and the server forgets the session.
    let header = format!("{}={}", cookie.name, cookie.value);
    assert_eq!(check(&airlock, &header).await.status(), 200);
    let out =
        reqwest::Client::new().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &header).send().await.unwrap();
    assert_eq!(out.status(), 200);
    let cleared = &set_cookies(&out)[0];
    assert_eq!(cleared.name, "__Secure-airlock_session");
    assert_eq!(cleared.value, "");
    assert_eq!(cleared.attr("max-age"), Some("0"));
    assert_eq!(cleared.attr("domain"), Some("example.test"));
    assert_eq!(cleared.attr("path"), Some("/"));
    assert_eq!(check(&airlock, &header).await.status(), 401, "the server forgot the session");
}

#[tokio::test]
async fn sign_out_forgets_the_session_on_the_server() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let header = signed_in_cookie(&airlock).await;
    let out =
        reqwest::Client::new().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &header).send().await.unwrap();
    assert_eq!(out.status(), 200);
    let cleared = &set_cookies(&out)[0];
    assert_eq!((cleared.attr("max-age"), cleared.attr("path"), cleared.has("domain")), (Some("0"), Some("/"), false));
    // Replaying the old cookie (as a thief would) no longer works.
    let replay = check(&airlock, &header).await;
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
}

#[tokio::test]
async fn the_raw_token_is_absent_from_redis() {
    let redis = RedisServer::start();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let resp = raw_sign_in(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = set_cookies(&resp)[0].value.clone();
    let dump = redis.dump();
    assert!(dump.contains("airlock:session:"), "the dump is real:\n{dump}");
    assert!(!dump.contains(&token), "the raw token is stored in redis:\n{dump}");
    assert!(!dump.contains(ADMIN_PASSWORD), "the password is stored in redis");
}

#[tokio::test]
async fn the_raw_token_is_absent_from_the_embedded_files() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let resp = raw_sign_in(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = set_cookies(&resp)[0].value.clone();
    let view: Value = resp.json().await.unwrap();
    let session_id = view["session"]["id"].as_str().unwrap().to_owned();
    let dir = airlock.data_dir().unwrap().to_path_buf();
    let mut files = 0;
    let mut saw_session = false;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        files += 1;
        saw_session |= text.contains(&session_id);
        assert!(!text.contains(&token), "the raw token is in the embedded files");
        assert!(!text.contains(ADMIN_PASSWORD), "the password is in the embedded files");
    }
    assert!(files > 0 && saw_session, "the session was written to {}", dir.display());
}

#[tokio::test]
async fn two_instances_share_sessions_on_one_redis() {
    let redis = RedisServer::start();
    // A refresh is due one second after sign-in: less than ttl - update_age remains.
    let options =
        AirlockOptions::redis(&redis.url()).env("AIRLOCK_SESSION_TTL", "1h").env("AIRLOCK_SESSION_UPDATE_AGE", "1s");
    let a = AirlockProcess::start(options.clone()).await;
    let b = AirlockProcess::start(options).await;

    let resp = raw_sign_in(&a, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 200);
    let cookie = &set_cookies(&resp)[0];
    let header = format!("{}={}", cookie.name, cookie.value);
    let made: Value = resp.json().await.unwrap();

    // Valid on the other instance, without a refresh yet (and so without a Set-Cookie).
    let on_b = check(&b, &header).await;
    assert_eq!(on_b.status(), 200);
    assert!(set_cookies(&on_b).is_empty(), "a read that does not refresh sets nothing");
    let seen: Value = on_b.json().await.unwrap();
    assert_eq!(seen["session"]["id"], made["session"]["id"]);

    // Refreshed on B once due; A sees the new expiry.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refreshed = check(&b, &header).await;
    assert_eq!(refreshed.status(), 200);
    let reset = set_cookies(&refreshed);
    assert_eq!(reset.len(), 1, "the refresh sets the cookie again");
    assert_eq!(reset[0].value, cookie.value, "same token, new Max-Age");
    let after: Value = refreshed.json().await.unwrap();
    assert_ne!(after["session"]["expires_at"], made["session"]["expires_at"]);
    let on_a: Value = check(&a, &header).await.json().await.unwrap();
    assert_eq!(on_a["session"]["expires_at"], after["session"]["expires_at"]);

    // Revoked on B (sign-out): refused by A at once.
    let out = reqwest::Client::new().post(b.at("/api/auth/sign-out")).header(COOKIE, &header).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(check(&a, &header).await.status(), 401);
}

#[tokio::test]
async fn role_membership_and_disabling_show_on_the_next_check() {
    for redis in [None, Some(RedisServer::start())] {
        let options = redis.as_ref().map(|r| AirlockOptions::redis(&r.url())).unwrap_or_default();
        let airlock = AirlockProcess::start(options).await;
        let admin = airlock.admin().await;
        airlock.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
        let ada = browser();
        assert_eq!(airlock.sign_in(&ada, "ada@example.com", "ada-password-1").await.status(), 200);
        let view = || async { ada.get(airlock.at("/api/auth/session")).send().await.unwrap() };
        let first: Value = view().await.json().await.unwrap();
        assert_eq!(first["user"]["roles"], json!([]));
        assert_eq!(first["orgs"], json!([]));

        let ok = |r: reqwest::Response| async move {
            let status = r.status();
            assert!(status.is_success(), "{status}: {}", r.text().await.unwrap_or_default());
        };
        ok(admin
            .patch(airlock.at("/api/admin/users/ada@example.com"))
            .json(&json!({"roles": ["operator"]}))
            .send()
            .await
            .unwrap())
        .await;
        ok(admin
            .post(airlock.at("/api/admin/orgs"))
            .json(&json!({"slug": "acme", "name": "Acme"}))
            .send()
            .await
            .unwrap())
        .await;
        ok(admin
            .post(airlock.at("/api/admin/orgs/acme/members"))
            .json(&json!({"email": "ada@example.com", "role": "owner"}))
            .send()
            .await
            .unwrap())
        .await;
        let second: Value = view().await.json().await.unwrap();
        assert_eq!(second["user"]["roles"], json!(["operator"]));
        assert_eq!(second["orgs"][0]["slug"], "acme");
        assert_eq!(second["orgs"][0]["name"], "Acme");
        assert_eq!(second["orgs"][0]["role"], "owner");
        assert!(second["orgs"][0]["id"].as_str().unwrap().starts_with("org_"));

        ok(admin.delete(airlock.at("/api/admin/orgs/acme/members/ada@example.com")).send().await.unwrap()).await;
        let third: Value = view().await.json().await.unwrap();
        assert_eq!(third["orgs"], json!([]));

        ok(admin
            .patch(airlock.at("/api/admin/users/ada@example.com"))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap())
        .await;
        let disabled = view().await;
        assert_eq!(disabled.status(), 401);
        assert_eq!(airlock.sign_in(&browser(), "ada@example.com", "ada-password-1").await.status(), 401);
        // Enabling again does not bring the ended sessions back.
        ok(admin
            .patch(airlock.at("/api/admin/users/ada@example.com"))
            .json(&json!({"disabled": false}))
            .send()
            .await
            .unwrap())
        .await;
        assert_eq!(view().await.status(), 401);
    }
}

/// Each instance keeps users' principals in memory (under a version it checks on every call):
/// a change made through one instance must still show on the very next check at another.
#[tokio::test]
async fn changes_made_on_one_instance_show_on_the_next_check_at_another() {
    let redis = RedisServer::start();
    let a = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let b = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let admin = a.admin().await;
    a.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    let signed_in = raw_sign_in(&a, "ada@example.com", "ada-password-1").await;
    assert_eq!(signed_in.status(), 200);
    let cookie = set_cookies(&signed_in).into_iter().next().map(|c| format!("{}={}", c.name, c.value)).unwrap();
    let on_b = || async { check(&b, &cookie).await };
    let before: Value = on_b().await.json().await.unwrap();
    assert_eq!(before["orgs"], json!([]), "B has now read (and kept) ada's principal");
    // A second session of hers (another device), also known to B.
    let other_device = raw_sign_in(&a, "ada@example.com", "ada-password-1").await;
    let other_cookie =
        set_cookies(&other_device).into_iter().next().map(|c| format!("{}={}", c.name, c.value)).unwrap();
    assert_eq!(check(&b, &other_cookie).await.status(), 200);

    let created = admin.post(a.at("/api/admin/orgs")).json(&json!({"slug": "acme", "name": "Acme"})).send().await;
    assert!(created.unwrap().status().is_success());
    let added = admin
        .post(a.at("/api/admin/orgs/acme/members"))
        .json(&json!({"email": "ada@example.com", "role": "operator"}))
        .send()
        .await;
    assert!(added.unwrap().status().is_success());
    let after: Value = on_b().await.json().await.unwrap();
    assert_eq!(after["orgs"][0]["slug"], "acme", "B sees A's membership change at once");
    assert_eq!(after["orgs"][0]["role"], "operator");

    let removed = admin.delete(a.at("/api/admin/orgs/acme/members/ada@example.com")).send().await;
    assert!(removed.unwrap().status().is_success());
    let gone: Value = on_b().await.json().await.unwrap();
    assert_eq!(gone["orgs"], json!([]));
    assert_eq!(check(&b, &other_cookie).await.status(), 200);

    let promoted =
        admin.patch(a.at("/api/admin/users/ada@example.com")).json(&json!({"roles": ["operator"]})).send().await;
    assert!(promoted.unwrap().status().is_success());
    // The other device's check comes first: B holds her principal as of before the change, so a
    // session whose stamp was not moved would be answered from it.
    let on_other_device: Value = check(&b, &other_cookie).await.json().await.unwrap();
    assert_eq!(on_other_device["user"]["roles"], json!(["operator"]), "every session of hers sees the change");
    let promoted: Value = on_b().await.json().await.unwrap();
    assert_eq!(promoted["user"]["roles"], json!(["operator"]));

    let disabled = admin.patch(a.at("/api/admin/users/ada@example.com")).json(&json!({"disabled": true})).send().await;
    assert!(disabled.unwrap().status().is_success());
    assert_eq!(on_b().await.status(), 401, "a user disabled on A is refused by B on the next check");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_the_same() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let wrong_password = raw_sign_in(&airlock, ADMIN_EMAIL, "not-the-password").await;
    let unknown_email = raw_sign_in(&airlock, "nobody@example.com", "not-the-password").await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    assert!(set_cookies(&wrong_password).is_empty());
    let a: Value = wrong_password.json().await.unwrap();
    let b: Value = unknown_email.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["error"], "invalid_credentials");
}

#[tokio::test]
async fn session_checks_keep_answering_during_a_sign_in_storm() {
    // Throttling would stop the storm before it hashes: lift it for this test.
    let airlock = AirlockProcess::start(
        AirlockOptions::default()
            .env("AIRLOCK_PASSWORD_HASH_CONCURRENCY", "1")
            .env("AIRLOCK_LOGIN_MAX_FAILURES", "1000")
            .env("AIRLOCK_LOGIN_MAX_FAILURES_PER_IP", "1000"),
    )
    .await;
    let header = signed_in_cookie(&airlock).await;

    // 32 sign-ins in flight, each an argon2id verification of ~19 MiB: several seconds of
    // hashing queued on the blocking pool.
    let storm: Vec<_> = (0..32)
        .map(|i| {
            let url = airlock.at("/api/auth/sign-in");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({"email": format!("user{i}@example.com"), "password": "wrong-password"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Meanwhile session checks answer: if hashing ran on the async workers, these would queue
    // behind it for seconds.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut checks = 0;
    while !storm.iter().all(|h| h.is_finished()) && started.elapsed() < Duration::from_secs(60) {
        let t = Instant::now();
        assert_eq!(check(&airlock, &header).await.status(), 200);
        slowest = slowest.max(t.elapsed());
        checks += 1;
    }
    for handle in storm {
        assert_eq!(handle.await.unwrap().unwrap(), 401);
    }
    assert!(checks >= 5, "the storm ended before any check could run ({checks})");
    assert!(slowest < Duration::from_millis(1000), "a session check waited {slowest:?} behind the hashing");
}

#[tokio::test]
async fn airlock_restarted_on_the_embedded_store_keeps_sessions() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let client = airlock.admin().await;
    let before: Value = client.get(airlock.at("/api/auth/session")).send().await.unwrap().json().await.unwrap();
    airlock.restart().await;
    let after = client.get(airlock.at("/api/auth/session")).send().await.unwrap();
    assert_eq!(after.status(), 200);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["session"]["id"], before["session"]["id"]);
    // The bootstrap admin was created once, not again.
    assert_eq!(airlock.output().matches("created the bootstrap admin").count(), 1);
}

#[tokio::test]
async fn own_sessions_list_and_revoke() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let laptop = airlock.admin().await;
    let phone = airlock.admin().await;
    let tablet = airlock.admin().await;
    let list: Vec<Value> = laptop.get(airlock.at("/api/auth/sessions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(list.iter().all(|s| s["ip"] == "127.0.0.1" && s.get("token_hash").is_none()));

    let phone_view: Value = phone.get(airlock.at("/api/auth/session")).send().await.unwrap().json().await.unwrap();
    let phone_id = phone_view["session"]["id"].as_str().unwrap();
    let revoked = laptop.delete(airlock.at(&format!("/api/auth/sessions/{phone_id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(phone.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 401);
    assert_eq!(laptop.delete(airlock.at("/api/auth/sessions/ses_unknown")).send().await.unwrap().status(), 404);

    let others = laptop.post(airlock.at("/api/auth/sessions/revoke-others")).send().await.unwrap();
    assert_eq!(others.json::<Value>().await.unwrap()["revoked"], 1);
    assert_eq!(tablet.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 401);
    assert_eq!(laptop.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_login_page_works_without_javascript() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let client = browser();
    let page = client.get(airlock.at("/login?redirect=/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"/api/auth/sign-in\">"));
    assert!(!html.contains("<script"));

    let bad = client
        .post(airlock.at("/api/auth/sign-in"))
        .form(&[("email", ADMIN_EMAIL), ("password", "nope-nope"), ("redirect", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("That email and password do not match"), "{bad}");
    assert!(bad.contains(&format!(r#"value="{ADMIN_EMAIL}""#)), "the typed email is kept: {bad}");

    let good = client
        .post(airlock.at("/api/auth/sign-in"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("redirect", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 303);
    assert_eq!(good.headers()["location"], format!("{}/", airlock.url).as_str());
    let root = client.get(airlock.at("/")).send().await.unwrap();
    assert_eq!((root.status().as_u16(), root.headers()["location"].to_str().unwrap()), (303, "/account"));
    let home = client.get(airlock.at("/account")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains(ADMIN_EMAIL), "the account page shows who is signed in");
}

/// Counts of write commands Redis has executed (scripts' inner commands included).
fn redis_writes(redis: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut redis.connection()).unwrap();
    info.lines()
        .filter(|l| {
            ["cmdstat_set:", "cmdstat_pexpireat:", "cmdstat_del:", "cmdstat_sadd:"].iter().any(|c| l.starts_with(c))
        })
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_check_that_does_not_refresh_writes_nothing() {
    let redis = RedisServer::start();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let header = signed_in_cookie(&airlock).await;
    let before = redis_writes(&redis);
    assert!(before > 0, "the sign-in itself wrote");
    for _ in 0..10 {
        let resp = check(&airlock, &header).await;
        assert_eq!(resp.status(), 200);
        assert!(set_cookies(&resp).is_empty());
    }
    assert_eq!(redis_writes(&redis), before, "session checks wrote to the store");
}

/// `GET /api/auth/session` is answered ahead of the router (`airlock/src/http/session_route.rs`);
/// everything around it must behave as the router would.
#[tokio::test]
async fn the_session_check_ahead_of_the_router_answers_as_the_router_would() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let header = signed_in_cookie(&airlock).await;
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str| {
        client.request(method, airlock.at(path)).header(COOKIE, header.clone()).send()
    };

    // The direct route (GET) and the router (HEAD, which axum answers from the GET route).
    let get = send(reqwest::Method::GET, "/api/auth/session").await.unwrap();
    let head = send(reqwest::Method::HEAD, "/api/auth/session").await.unwrap();
    assert_eq!((get.status().as_u16(), head.status().as_u16()), (200, 200));
    for name in ["content-type", "cache-control"] {
        assert_eq!(get.headers().get(name), head.headers().get(name), "{name}");
    }
    let view: Value = get.json().await.unwrap();
    assert_eq!(view["user"]["email"], ADMIN_EMAIL);

    // A query string is still the session check; other spellings of the path are not.
    let with_query = send(reqwest::Method::GET, "/api/auth/session?x=1").await.unwrap();
    assert_eq!(with_query.status(), 200);
    for path in ["/api/auth/session/", "/api/auth/Session", "/api/auth/%73ession"] {
        let resp = send(reqwest::Method::GET, path).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    // Wrong methods still get the router's 405.
    let post = send(reqwest::Method::POST, "/api/auth/session").await.unwrap();
    assert_eq!(post.status(), 405);

    // Both are counted under the route's template.
    let metrics = client.get(airlock.at("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"airlock_http_requests_total{route="/api/auth/session",method="GET",status="200"} 2"#,
        r#"airlock_http_requests_total{route="/api/auth/session",method="HEAD",status="200"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing: {line}");
    }
}
