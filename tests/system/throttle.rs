//! Sign-in throttling against real airlock processes: per account, per client IP, shared by
//! instances on one Redis, no bypass with the right password, forwarded addresses only from
//! trusted proxies.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};

async fn attempt(
    airlock: &AirlockProcess,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(airlock.at("/api/auth/sign-in"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn assert_limited(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "rate_limited");
}

#[tokio::test]
async fn three_failures_ban_the_account_even_for_the_right_password() {
    for redis in [None, Some(RedisServer::start())] {
        let options = redis.as_ref().map(|r| AirlockOptions::redis(&r.url())).unwrap_or_default();
        let airlock = AirlockProcess::start(options).await;
        for _ in 0..3 {
            assert_eq!(attempt(&airlock, ADMIN_EMAIL, "wrong-password-1", None).await.status(), 401);
        }
        assert_limited(attempt(&airlock, ADMIN_EMAIL, ADMIN_PASSWORD, None).await).await;
        // An unknown email is throttled the same way: no enumeration through the limiter.
        for _ in 0..3 {
            assert_eq!(attempt(&airlock, "nobody@example.com", "wrong-password-1", None).await.status(), 401);
        }
        assert_limited(attempt(&airlock, "nobody@example.com", "wrong-password-1", None).await).await;
        // The login page says so too, with Retry-After.
        let page = reqwest::Client::new()
            .post(airlock.at("/api/auth/sign-in"))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(page.headers().contains_key(RETRY_AFTER));
    }
}

#[tokio::test]
async fn instances_on_one_redis_share_the_counts() {
    let redis = RedisServer::start();
    let a = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let b = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    assert_eq!(attempt(&a, ADMIN_EMAIL, "wrong-password-1", None).await.status(), 401);
    assert_eq!(attempt(&b, ADMIN_EMAIL, "wrong-password-1", None).await.status(), 401);
    assert_eq!(attempt(&a, ADMIN_EMAIL, "wrong-password-1", None).await.status(), 401);
    assert_limited(attempt(&b, ADMIN_EMAIL, ADMIN_PASSWORD, None).await).await;
}

#[tokio::test]
async fn an_address_is_limited_across_accounts_and_forwarded_for_counts_only_from_trusted_proxies() {
    let limits = |proxies: &str| {
        AirlockOptions::default()
            .env("AIRLOCK_LOGIN_MAX_FAILURES_PER_IP", "5")
            .env("AIRLOCK_LOGIN_BAN", "1m")
            .env("AIRLOCK_TRUSTED_PROXIES", proxies)
    };
    // Loopback is a trusted proxy: each forwarded client is counted on its own.
    let behind_proxy = AirlockProcess::start(limits("127.0.0.1/32")).await;
    for i in 0..5 {
        let email = format!("user{i}@example.com");
        assert_eq!(attempt(&behind_proxy, &email, "wrong-password-1", Some("198.51.100.7")).await.status(), 401);
    }
    assert_limited(attempt(&behind_proxy, ADMIN_EMAIL, ADMIN_PASSWORD, Some("198.51.100.7")).await).await;
    // Another client behind the same proxy is not affected; a client cannot escape by prepending.
    assert_eq!(attempt(&behind_proxy, ADMIN_EMAIL, ADMIN_PASSWORD, Some("198.51.100.8")).await.status(), 200);
    assert_limited(attempt(&behind_proxy, ADMIN_EMAIL, ADMIN_PASSWORD, Some("203.0.113.1, 198.51.100.7")).await).await;

    // Loopback is not trusted: X-Forwarded-For is ignored and every attempt counts against the peer.
    let direct = AirlockProcess::start(limits("10.9.9.9/32")).await;
    for i in 0..5 {
        let spoofed = format!("203.0.113.{i}");
        let email = format!("user{i}@example.com");
        assert_eq!(attempt(&direct, &email, "wrong-password-1", Some(&spoofed)).await.status(), 401);
    }
    assert_limited(attempt(&direct, ADMIN_EMAIL, ADMIN_PASSWORD, Some("203.0.113.200")).await).await;
}
