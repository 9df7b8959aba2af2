//! No secret in any log line or list output: a full run with every kind of credential, logs
//! captured at debug level (as JSON), then grepped for every secret it handled.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, browser};
use reqwest::header::{AUTHORIZATION, SET_COOKIE};
use serde_json::{Value, json};

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_a_listing() {
    let mut airlock =
        AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_LOG", "debug").env("AIRLOCK_LOG_FORMAT", "json"))
            .await;
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.to_owned()];

    // Sessions.
    let admin = browser();
    let resp = airlock.sign_in(&admin, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    let wrong = airlock.sign_in(&browser(), ADMIN_EMAIL, "a-wrong-password-123").await;
    assert_eq!(wrong.status(), 401);
    secrets.push("a-wrong-password-123".to_owned());

    // A user with a password, an API token, a service token, a grant and an exchange.
    let password = "ada-secret-password-9";
    airlock.add_user(&admin, "ada@example.com", password, &["operator"]).await;
    secrets.push(password.to_owned());
    let token: Value =
        admin.post(airlock.at("/api/tokens")).json(&json!({"name": "ci"})).send().await.unwrap().json().await.unwrap();
    let api_token = token["token"].as_str().unwrap().to_owned();
    secrets.push(api_token.clone());
    let svc: Value = admin
        .post(airlock.at("/api/service-tokens"))
        .json(&json!({"tenant_id": "t", "scopes": ["read"], "ttl_seconds": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service_token = svc["service_token"].as_str().unwrap().to_owned();
    secrets.push(service_token.clone());
    let grant = admin.post(airlock.at("/api/admin/grants")).json(&json!({"user": ADMIN_EMAIL, "resource": "urc-1"}));
    assert_eq!(grant.send().await.unwrap().status(), 201);
    let exchanged: Value = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", api_token.as_str()),
            ("audience", "urc-1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(exchanged["access_token"].as_str().unwrap().to_owned());
    for bearer in [&api_token, &service_token, &format!("{api_token}x")] {
        reqwest::Client::new()
            .get(airlock.at("/api/auth/session"))
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .send()
            .await
            .unwrap();
    }
    let forged_cookie = "airlock_session=forged-cookie-value-that-must-not-be-logged";
    reqwest::Client::new().get(airlock.at("/api/auth/session")).header("cookie", forged_cookie).send().await.unwrap();
    secrets.push("forged-cookie-value-that-must-not-be-logged".to_owned());

    // Listings, over HTTP and from the CLI.
    let mut listings = String::new();
    for path in
        ["/api/tokens?all=true", "/api/admin/users", "/api/admin/users/ada@example.com/sessions", "/api/admin/keys"]
    {
        listings.push_str(&admin.get(airlock.at(path)).send().await.unwrap().text().await.unwrap());
    }
    airlock.stop();
    for args in [
        &["user", "list", "--json"][..],
        &["token", "list", "--all", "--json", "--user", ADMIN_EMAIL],
        &["session", "list", ADMIN_EMAIL, "--json"],
        &["keys", "list", "--json"],
    ] {
        let out = airlock.cli(args, None);
        listings.push_str(&String::from_utf8_lossy(&out.stdout));
        listings.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    let logs = airlock.output();
    assert!(logs.lines().count() > 20 && logs.contains("/api/auth/session"), "request traces were captured:\n{logs}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret}");
        assert!(!listings.contains(secret.as_str()), "a secret reached a listing: {secret}");
    }
    for marker in ["PRIVATE KEY", "password_hash", "$argon2id$", "token_hash", "private_sealed"] {
        assert!(!logs.contains(marker), "{marker} in the logs");
        assert!(!listings.contains(marker), "{marker} in a listing");
    }
}
