//! Grants and RFC 8693 token exchange for repository-scoped tokens, against a real airlock.

use airlock_system_tests::{AirlockOptions, AirlockProcess, browser};
use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

async fn exchange(airlock: &AirlockProcess, subject: &str, audience: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An API token for `email` (signed in with `password`), with `role`.
async fn api_token(airlock: &AirlockProcess, email: &str, password: &str, role: &str) -> String {
    let client = browser();
    assert_eq!(airlock.sign_in(&client, email, password).await.status(), 200);
    let made: Value = client
        .post(airlock.at("/api/tokens"))
        .json(&json!({"name": "repo", "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["token"].as_str().unwrap_or_else(|| panic!("no token: {made}")).to_owned()
}

async fn oauth_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

#[tokio::test]
async fn grants_decide_which_repositories_a_token_can_be_exchanged_for() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    airlock.add_user(&admin, "ada@example.com", "ada-password-1", &["operator"]).await;
    airlock.add_user(&admin, "bob@example.com", "bob-password-1", &[]).await;
    airlock.add_user(&admin, "carol@example.com", "carol-password-1", &[]).await;
    let post = |path: &str, body: Value| admin.post(airlock.at(path)).json(&body).send();
    assert_eq!(post("/api/admin/orgs", json!({"slug": "acme"})).await.unwrap().status(), 201);
    assert_eq!(
        post("/api/admin/orgs/acme/members", json!({"email": "bob@example.com", "role": "member"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let grant = post(
        "/api/admin/grants",
        json!({"user": "ada@example.com", "resource": "urc-42", "scopes": ["read", "write"]}),
    );
    assert_eq!(grant.await.unwrap().status(), 201);
    assert_eq!(post("/api/admin/grants", json!({"org": "acme", "resource": "urc-*"})).await.unwrap().status(), 201);
    for bad in [
        json!({"user": "ada@example.com", "resource": "42"}),
        json!({"resource": "urc-1"}),
        json!({"user": "ada@example.com", "org": "acme", "resource": "urc-1"}),
    ] {
        assert_eq!(post("/api/admin/grants", bad.clone()).await.unwrap().status(), 400, "{bad}");
    }

    // Ada: a direct grant on urc-42, with her operator token's write.
    let ada = api_token(&airlock, "ada@example.com", "ada-password-1", "operator").await;
    let resp = exchange(&airlock, &ada, "urc-42").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["resources"], json!(["urc-42"]));
    assert_eq!(c["scope"], "write read");
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() <= 15 * 60);
    let view: Value = reqwest::Client::new()
        .get(airlock.at("/api/auth/session"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["auth"]["method"], "access_token");
    assert_eq!(view["auth"]["resources"], json!(["urc-42"]));
    assert_eq!(view["user"]["email"], "ada@example.com");
    // A repository-scoped token is not a key to airlock's own APIs.
    let tokens = reqwest::Client::new().get(airlock.at("/api/tokens")).header(AUTHORIZATION, format!("Bearer {token}"));
    assert_eq!(tokens.send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // Authenticated, not authorized: invalid_target, in RFC 6749's error format.
    let denied = oauth_error(exchange(&airlock, &ada, "urc-7").await, StatusCode::BAD_REQUEST, "invalid_target").await;
    assert!(denied["error_description"].as_str().unwrap().contains("not authorized"));

    // Bob: through his org's urc-* grant, read only (the grant's default).
    let bob = api_token(&airlock, "bob@example.com", "bob-password-1", "viewer").await;
    let resp = exchange(&airlock, &bob, "urc-99").await;
    assert_eq!(resp.status(), 200);
    let c = claims(resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!((c["resources"].clone(), c["scope"].clone()), (json!(["urc-99"]), json!("read")));

    // Carol has no grant; garbage subjects and requests get their RFC codes.
    let carol = api_token(&airlock, "carol@example.com", "carol-password-1", "viewer").await;
    oauth_error(exchange(&airlock, &carol, "urc-42").await, StatusCode::BAD_REQUEST, "invalid_target").await;
    oauth_error(exchange(&airlock, "alk_forged", "urc-42").await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    oauth_error(exchange(&airlock, &ada, "not-a-repo").await, StatusCode::BAD_REQUEST, "invalid_target").await;
    let client = reqwest::Client::new();
    let unsupported = client.post(airlock.at("/oauth/token")).form(&[("grant_type", "password")]).send().await.unwrap();
    oauth_error(unsupported, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let missing = client.post(airlock.at("/oauth/token")).form(&[("subject_token", "x")]).send().await.unwrap();
    oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let not_form = client.post(airlock.at("/oauth/token")).json(&json!({"grant_type": EXCHANGE})).send().await.unwrap();
    oauth_error(not_form, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn only_admins_grant_and_the_cli_grants_too() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    airlock.add_user(&admin, "vera@example.com", "vera-password-1", &[]).await;
    let vera = browser();
    airlock.sign_in(&vera, "vera@example.com", "vera-password-1").await;
    let grab = vera
        .post(airlock.at("/api/admin/grants"))
        .json(&json!({"user": "vera@example.com", "resource": "urc-*", "scopes": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(grab.status(), StatusCode::FORBIDDEN, "a viewer granting itself");

    airlock.stop();
    let out = airlock.cli(&["grant", "add", "--user", "vera@example.com", "urc-5", "--scopes", "read"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = airlock.cli(&["grant", "list", "--json"], None);
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["resource"], "urc-5");
    airlock.start_again().await;
    let token = api_token(&airlock, "vera@example.com", "vera-password-1", "viewer").await;
    assert_eq!(exchange(&airlock, &token, "urc-5").await.status(), 200);
}
