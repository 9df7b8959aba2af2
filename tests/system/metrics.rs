//! `GET /metrics` in Prometheus text, from a real airlock on a real Redis.

use airlock_system_tests::{ADMIN_EMAIL, AirlockOptions, AirlockProcess, RedisServer, browser};

#[tokio::test]
async fn metrics_count_requests_checks_failures_and_store_errors_without_leaking_paths() {
    let mut redis = RedisServer::start();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&redis.url()).env("AIRLOCK_STORE_TIMEOUT", "1s")).await;
    let admin = airlock.admin().await;
    assert_eq!(admin.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 200);
    assert_eq!(airlock.sign_in(&browser(), ADMIN_EMAIL, "not-the-password").await.status(), 401);
    let secret_query = "redirect=/secret-query-value-7f3a";
    browser().get(airlock.at(&format!("/login?{secret_query}"))).send().await.unwrap();
    admin.delete(airlock.at("/api/tokens/secret-path-name-9c1d")).send().await.unwrap();
    redis.kill();
    assert_eq!(admin.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 503);

    let resp = reqwest::get(airlock.at("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|l| l.contains(needle));
    for needle in [
        r#"airlock_http_requests_total{route="/api/auth/session",method="GET",status="200"}"#,
        r#"airlock_http_requests_total{route="/api/auth/session",method="GET",status="503"}"#,
        r#"airlock_http_requests_total{route="/api/tokens/{token}",method="DELETE",status="404"}"#,
        r#"airlock_http_request_duration_seconds_bucket{route="/api/auth/session""#,
        r#"airlock_session_checks_total{outcome="valid"}"#,
        r#"airlock_session_checks_total{outcome="store_unavailable"}"#,
        r#"airlock_sign_in_failures_total{reason="invalid_credentials"}"#,
        "airlock_store_errors_total",
        "airlock_store_call_duration_seconds_bucket",
    ] {
        assert!(has(needle), "missing {needle} in:\n{text}");
    }
    assert!(!text.contains("secret-query-value") && !text.contains("secret-path-name"), "a raw path or query leaked");
}
