//! edge-mw against a real airlock: every row of contract section 4, through the LORE demo app.

use airlock_system_tests::{AirlockOptions, AirlockProcess, LoreProcess, browser};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Signs `email` in at airlock and returns the `Cookie` header a browser would send to LORE.
async fn session_cookie(airlock: &AirlockProcess, email: &str, password: &str) -> String {
    let resp = airlock.sign_in(&browser(), email, password).await;
    assert_eq!(resp.status(), 200);
    let set = resp.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// An airlock with a viewer (ada, member of acme) and an operator (olga, operator of acme).
async fn airlock_with_people() -> AirlockProcess {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    airlock.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    airlock.add_user(&admin, "olga@example.com", "olga-password-1", &[]).await;
    let post = |path: &str, body: Value| admin.post(airlock.at(path)).json(&body).send();
    assert_eq!(post("/api/admin/orgs", json!({"slug": "acme", "name": "Acme"})).await.unwrap().status(), 201);
    for (email, role) in [("ada@example.com", "member"), ("olga@example.com", "operator")] {
        let resp = post("/api/admin/orgs/acme/members", json!({"email": email, "role": role})).await.unwrap();
        assert_eq!(resp.status(), 201);
    }
    airlock
}

async fn whoami(lore: &LoreProcess, cookie: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(lore.at("/api/whoami"));
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn identity_headers_reach_the_app_and_spoofed_ones_never_do() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[]).await;
    let spoof = [
        ("x-lore-user-role", "admin"),
        ("X-Lore-User-Id", "usr_spoofed"),
        ("x_lore_user_email", "boss@example.com"),
        ("X-LORE-USER-ORGS", "everything"),
        ("x-lore-auth-degraded", "0"),
        ("x-lore-user-extra", "x"),
    ];

    // Without a session the spoofed headers buy nothing.
    let anonymous = whoami(&lore, None, &spoof).await;
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");

    // With a session the app sees airlock's answer only.
    let cookie = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    let seen: Value =
        whoami(&lore, Some(&format!("theme=dark; {cookie}; app_pref=1")), &spoof).await.json().await.unwrap();
    let user: Value = reqwest::Client::new()
        .get(airlock.at("/api/auth/session"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen,
        json!({
            "x-lore-user-id": user["user"]["id"],
            "x-lore-user-email": "ada@example.com",
            "x-lore-user-role": "viewer",
            "x-lore-user-orgs": "acme",
        })
    );
    let olga = session_cookie(&airlock, "olga@example.com", "olga-password-1").await;
    let seen: Value = whoami(&lore, Some(&olga), &[]).await.json().await.unwrap();
    assert_eq!(seen["x-lore-user-role"], "operator");
    let admin = session_cookie(&airlock, "admin@example.com", "correct-horse-battery-staple").await;
    let seen: Value = whoami(&lore, Some(&admin), &[]).await.json().await.unwrap();
    assert_eq!(seen["x-lore-user-role"], "admin");
    assert_eq!(seen["x-lore-user-orgs"], "");
}

#[tokio::test]
async fn browsers_go_to_login_and_api_callers_get_401() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_PUBLIC_URL", "http://127.0.0.1:7999")]).await;
    let page = browser().get(lore.at("/notes?id=7")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    let location = page.headers()[LOCATION].to_str().unwrap();
    assert_eq!(location, format!("{}/login?redirect=http%3A%2F%2F127.0.0.1%3A7999%2Fnotes%3Fid%3D7", airlock.url));
    // A forged or garbage cookie is no session either.
    for cookie in ["airlock_session=forged", "airlock_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let api = reqwest::Client::new().get(lore.at("/api/whoami")).header(COOKIE, cookie).send().await.unwrap();
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert!(api.headers().get(SET_COOKIE).is_none());
    }
    // Public paths pass without identity.
    assert_eq!(reqwest::get(lore.at("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn role_gates_answer_403_below_the_role() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    let olga = session_cookie(&airlock, "olga@example.com", "olga-password-1").await;
    let get = |cookie: String, accept: &'static str| {
        reqwest::Client::new().get(lore.at("/ops")).header(COOKIE, cookie).header(ACCEPT, accept).send()
    };
    let denied = get(ada.clone(), "application/json").await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(denied.json::<Value>().await.unwrap()["error"], "forbidden");
    let denied_page = get(ada, HTML).await.unwrap();
    assert_eq!(denied_page.status(), StatusCode::FORBIDDEN);
    assert!(denied_page.text().await.unwrap().contains("operator"));
    assert_eq!(get(olga, HTML).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn revocation_and_role_changes_show_on_the_next_request() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), 200);

    let admin = airlock.admin().await;
    let resp = admin
        .patch(airlock.at("/api/admin/users/ada@example.com"))
        .json(&json!({"roles": ["operator"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = whoami(&lore, Some(&ada), &[]).await.json().await.unwrap();
    assert_eq!(seen["x-lore-user-role"], "operator");

    let out = reqwest::Client::new().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), StatusCode::UNAUTHORIZED);
}

/// The banner: 502, Retry-After, `x-lore-auth-degraded: 1`, HTML or JSON; never a redirect to
/// the login page, never a cookie cleared.
async fn assert_degraded(lore: &LoreProcess, cookie: &str, bound: Duration) {
    for accept in [HTML, "application/json"] {
        let started = Instant::now();
        let resp = reqwest::Client::new()
            .get(lore.at("/"))
            .header(COOKIE, cookie)
            .header(ACCEPT, accept)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "{accept}");
        assert!(elapsed < bound, "the banner took {elapsed:?}");
        assert!(resp.headers().get(LOCATION).is_none(), "an outage is not a sign-out");
        assert!(resp.headers().get(SET_COOKIE).is_none(), "no cookie cleared");
        assert_eq!(resp.headers()["x-lore-auth-degraded"], "1");
        assert!(resp.headers()[RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        let body = resp.text().await.unwrap();
        if accept == HTML {
            assert!(body.contains("Sign-in is temporarily unavailable"), "{body}");
        } else {
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "auth_unavailable");
        }
    }
}

#[tokio::test]
async fn an_airlock_outage_shows_the_banner_and_recovers() {
    let mut airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_TIMEOUT", "1s"), ("LORE_BREAKER_OPEN", "1s")]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), 200);

    airlock.kill();
    assert_degraded(&lore, &ada, Duration::from_secs(2)).await;
    // Anonymous visitors get the banner too: an outage is never mistaken for "signed out".
    let anonymous = reqwest::Client::new().get(lore.at("/api/whoami")).header(COOKIE, "airlock_session=x").send().await;
    assert_eq!(anonymous.unwrap().status(), StatusCode::BAD_GATEWAY);

    airlock.start_again().await;
    let mut recovered = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if whoami(&lore, Some(&ada), &[]).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "lore did not recover after airlock came back");
}

#[tokio::test]
async fn a_hung_airlock_is_answered_within_the_timeout_and_then_fails_fast() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_TIMEOUT", "1s"), ("LORE_BREAKER_OPEN", "30s")]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), 200);

    airlock.pause();
    // The first failures wait for the 1 s timeout (plus scheduling margin)...
    assert_degraded(&lore, &ada, Duration::from_millis(2500)).await;
    assert_degraded(&lore, &ada, Duration::from_millis(2500)).await;
    // ...then the breaker is open and answers at once, without waiting on airlock.
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), StatusCode::BAD_GATEWAY);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "the open breaker still waited: {:?}", started.elapsed());
    airlock.resume();
}

#[tokio::test]
async fn the_html_page_shows_who_is_signed_in() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[]).await;
    let olga = session_cookie(&airlock, "olga@example.com", "olga-password-1").await;
    let page =
        reqwest::Client::new().get(lore.at("/")).header(COOKIE, &olga).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("olga@example.com") && html.contains(r#"<span class="badge" id="role">operator</span>"#),
        "{html}"
    );
    assert!(
        html.contains("<strong>Acme</strong>")
            && html.contains(r#"<span class="badge">operator</span> you may operate"#),
        "{html}"
    );
}

/// Airlock's count of valid session checks, from `GET /metrics`.
async fn valid_checks(airlock: &AirlockProcess) -> u64 {
    let text = reqwest::get(airlock.at("/metrics")).await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(r#"airlock_session_checks_total{outcome="valid"}"#));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn concurrent_checks_of_one_session_are_one_call_to_airlock() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_TIMEOUT", "10s")]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), 200);
    let before = valid_checks(&airlock).await;

    // With airlock stopped, the first check waits on it and the other 19 arrive meanwhile.
    airlock.pause();
    let requests: Vec<_> = (0..20).map(|_| tokio::spawn(whoami_status(lore.at("/api/whoami"), ada.clone()))).collect();
    // Long enough for all of them to reach LORE on a loaded machine; LORE waits up to 10 s.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    airlock.resume();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(valid_checks(&airlock).await - before, 1, "20 concurrent checks of one cookie were not one call");
}

async fn whoami_status(url: String, cookie: String) -> StatusCode {
    reqwest::Client::new().get(url).header(COOKIE, cookie).send().await.unwrap().status()
}

#[tokio::test]
async fn the_optional_cache_answers_for_its_time_to_live_and_no_longer() {
    let airlock = airlock_with_people().await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_CACHE", "2s")]).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    let before = valid_checks(&airlock).await;
    let cached_at = Instant::now();
    for _ in 0..10 {
        assert_eq!(whoami(&lore, Some(&ada), &[]).await.status(), 200);
    }
    assert_eq!(valid_checks(&airlock).await - before, 1, "the cache did not answer repeats");

    // The trade the cache makes (README): a sign-out shows once the cached verdict expires.
    let out = reqwest::Client::new().post(airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await.unwrap();
    assert_eq!(out.status(), 200);
    let mut seen_at = None;
    while cached_at.elapsed() < Duration::from_secs(8) {
        if whoami(&lore, Some(&ada), &[]).await.status() == StatusCode::UNAUTHORIZED {
            seen_at = Some(cached_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen_at = seen_at.expect("the sign-out never showed through the cache");
    // Cached at the first request, for 2 s; a second more for the polling and a loaded machine.
    assert!(seen_at <= Duration::from_secs(3), "the cache outlived its time to live: {seen_at:?}");
}
