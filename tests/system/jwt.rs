//! JWTs, the JWKS and service tokens against real airlock processes, verified independently by
//! PyJWT and python-jose (tests/python/verify_jwt.py).

use airlock_system_tests::{AirlockOptions, AirlockProcess, RedisServer, repo_root, venv_python};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use std::time::Duration;

async fn issue(airlock: &AirlockProcess, admin: &reqwest::Client, body: Value) -> reqwest::Response {
    admin.post(airlock.at("/api/service-tokens")).json(&body).send().await.unwrap()
}

async fn service_token(airlock: &AirlockProcess, admin: &reqwest::Client, body: Value) -> Value {
    let resp = issue(airlock, admin, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

async fn whoami(airlock: &AirlockProcess, jwt: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(airlock.at("/api/auth/session"))
        .header(AUTHORIZATION, format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap()
}

fn jwt(value: &Value) -> &str {
    value["service_token"].as_str().unwrap()
}

#[tokio::test]
async fn the_jwks_publishes_an_rs256_and_an_ed25519_key_and_nothing_private() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let resp = reqwest::get(airlock.at("/.well-known/jwks.json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let jwks: Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"EdDSA"), "{jwks}");
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "private parameter {private} published");
        }
    }
}

#[tokio::test]
async fn service_tokens_verify_with_pyjwt_and_python_jose_and_forgeries_are_refused() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let body = |alg: &str| json!({"tenant_id": "acme-ci", "scopes": ["read:repo", "read:blob"], "resource_id": "42", "ttl_seconds": 600, "alg": alg});
    let rs = service_token(&airlock, &admin, body("RS256")).await;
    let ed = service_token(&airlock, &admin, body("EdDSA")).await;
    let view: Value = whoami(&airlock, jwt(&rs)).await.json().await.unwrap();
    assert_eq!(
        view["auth"],
        json!({"method": "service_token", "scopes": ["read:repo", "read:blob"], "resources": ["urc-42"]})
    );
    assert_eq!(view["user"]["id"], "svc:acme-ci");

    let out = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/python/verify_jwt.py"))
        .env("AIRLOCK_URL", &airlock.url)
        .env("ISSUER", &airlock.url)
        .env("AUDIENCE", "airlock")
        .env("TOKEN_RS256", jwt(&rs))
        .env("TOKEN_EDDSA", jwt(&ed))
        .output()
        .expect("run the Python verifiers");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python verifiers failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "pyjwt-RS256",
        "pyjwt-EdDSA",
        "python-jose-RS256",
        "refused-alg-none",
        "refused-hs256-with-public-key",
        "refused-tampered",
    ] {
        assert!(stdout.contains(&format!("\"check\": \"{check}\", \"ok\": true")), "{check} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn service_tokens_are_read_only_capped_and_revocable() {
    let airlock = AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_SERVICE_TOKEN_MAX_TTL", "1h")).await;
    let admin = airlock.admin().await;
    let base = json!({"tenant_id": "acme-ci", "scopes": ["read:repo"], "ttl_seconds": 60});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, status) in [
        (with("scopes", json!(["write:repo"])), 400),
        (with("scopes", json!(["*"])), 400),
        (with("scopes", json!([])), 400),
        (with("ttl_seconds", json!(7200)), 400),
        (with("ttl_seconds", json!(0)), 400),
        (with("tenant_id", json!("a b")), 400),
        (with("alg", json!("HS256")), 400),
    ] {
        let resp = issue(&airlock, &admin, body.clone()).await;
        assert_eq!(resp.status().as_u16(), status, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    // Only a `control` credential issues them.
    airlock.add_user(&admin, "vic@example.com", "vic-password-1", &[]).await;
    let vic = airlock_system_tests::browser();
    airlock.sign_in(&vic, "vic@example.com", "vic-password-1").await;
    assert_eq!(issue(&airlock, &vic, base.clone()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(issue(&airlock, &reqwest::Client::new(), base.clone()).await.status(), StatusCode::UNAUTHORIZED);

    let made = service_token(&airlock, &admin, base.clone()).await;
    assert_eq!(whoami(&airlock, jwt(&made)).await.status(), 200);
    // A service token is no user: it cannot use the user APIs.
    let tokens =
        reqwest::Client::new().get(airlock.at("/api/tokens")).header(AUTHORIZATION, format!("Bearer {}", jwt(&made)));
    assert_eq!(tokens.send().await.unwrap().status(), StatusCode::FORBIDDEN);

    let id = made["id"].as_str().unwrap();
    assert_eq!(admin.delete(airlock.at(&format!("/api/service-tokens/{id}"))).send().await.unwrap().status(), 200);
    let refused = whoami(&airlock, jwt(&made)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "revoked: refused at once");
    let revoked: Value = reqwest::get(airlock.at("/api/service-tokens/revoked")).await.unwrap().json().await.unwrap();
    assert_eq!(revoked["revoked"][0]["jti"], id);
    assert_eq!(admin.delete(airlock.at("/api/service-tokens/svc_nope")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn tokens_signed_before_a_rotation_still_verify_and_expired_ones_do_not() {
    let redis = RedisServer::start();
    // Two instances of one deployment: one issuer, one store.
    let options = AirlockOptions::redis(&redis.url()).env("AIRLOCK_PUBLIC_URL", "http://airlock.localtest");
    let a = AirlockProcess::start(options.clone()).await;
    let b = AirlockProcess::start(options).await;
    let admin = a.admin().await;
    let before = service_token(&a, &admin, json!({"tenant_id": "t", "scopes": ["read"], "ttl_seconds": 600})).await;
    let short = service_token(&a, &admin, json!({"tenant_id": "t", "scopes": ["read"], "ttl_seconds": 1})).await;

    let fresh: Vec<Value> = admin.post(a.at("/api/admin/keys/rotate")).send().await.unwrap().json().await.unwrap();
    assert_eq!(fresh.len(), 2);
    let jwks: Value = reqwest::get(a.at("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4, "retired keys stay published");

    let after = service_token(&a, &admin, json!({"tenant_id": "t", "scopes": ["read"], "ttl_seconds": 600})).await;
    let kid = |t: &Value| {
        let header = jwt(t).split('.').next().unwrap().to_owned();
        let header: Value = serde_json::from_slice(&base64_decode(&header)).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert_ne!(kid(&before), kid(&after), "new tokens use the new key");
    for instance in [&a, &b] {
        // B has not reloaded yet: an unknown kid makes it reread the keys from the store.
        let resp = whoami(instance, jwt(&before)).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
        assert_eq!(whoami(instance, jwt(&after)).await.status(), 200);
    }
    // Past its expiry (and the 5 s leeway) a token is refused.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(whoami(&a, jwt(&short)).await.status(), StatusCode::UNAUTHORIZED);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

#[tokio::test]
async fn the_cli_issues_and_revokes_service_tokens_and_rotates_keys() {
    // The CLI and the server share one configuration (store, public_url: the issuer).
    let options = AirlockOptions::default().env("AIRLOCK_PUBLIC_URL", "http://airlock.localtest");
    let mut airlock = AirlockProcess::start(options).await;
    airlock.stop();
    let issued = airlock.cli(
        &[
            "service-token",
            "issue",
            "--tenant",
            "acme-ci",
            "--scopes",
            "read:repo,read:blob",
            "--resource",
            "7",
            "--ttl",
            "600",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&issued.stdout).into_owned();
    assert!(issued.status.success(), "{stdout}{}", String::from_utf8_lossy(&issued.stderr));
    let token = stdout.lines().find_map(|l| l.strip_prefix("Token:   ")).expect("a token line").trim().to_owned();
    let id = stdout.lines().find_map(|l| l.strip_prefix("ID:      ")).expect("an id line").trim().to_owned();
    assert!(stdout.contains("will not be shown again"));
    let rotated = airlock.cli(&["keys", "rotate"], None);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let listed = String::from_utf8_lossy(&airlock.cli(&["keys", "list"], None).stdout).into_owned();
    assert_eq!(listed.matches("retired").count(), 2, "{listed}");
    assert_eq!(listed.matches("active").count(), 2, "{listed}");

    airlock.start_again().await;
    let view: Value = whoami(&airlock, &token).await.json().await.unwrap();
    assert_eq!(view["user"]["id"], "svc:acme-ci", "a token issued before the rotation still verifies: {view}");

    // With --url, through the running server.
    let admin = airlock.admin().await;
    let cli_token: Value = admin
        .post(airlock.at("/api/tokens"))
        .json(&json!({"name": "cli", "role": "admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = cli_token["token"].as_str().unwrap();
    let revoked = airlock.cli(&["--url", &airlock.url, "--token", secret, "service-token", "revoke", &id], None);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    assert_eq!(whoami(&airlock, &token).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn airlock_refuses_a_token_for_another_audience_or_issuer() {
    // Three instances on one store (so one set of keys): tokens are genuinely signed, but B's
    // carry another audience and C's another issuer.
    let redis = RedisServer::start();
    let shared = |aud: &str, url: &str| {
        AirlockOptions::redis(&redis.url()).env("AIRLOCK_JWT_AUDIENCE", aud).env("AIRLOCK_PUBLIC_URL", url)
    };
    let a = AirlockProcess::start(shared("airlock", "http://airlock.localtest")).await;
    let b = AirlockProcess::start(shared("lore-service", "http://airlock.localtest")).await;
    let c = AirlockProcess::start(shared("airlock", "http://other-issuer.localtest")).await;
    let body = json!({"tenant_id": "t", "scopes": ["read"], "ttl_seconds": 600});
    let mut tokens = Vec::new();
    for instance in [&a, &b, &c] {
        let admin = instance.admin().await;
        tokens.push(service_token(instance, &admin, body.clone()).await);
    }
    assert_eq!(whoami(&a, jwt(&tokens[0])).await.status(), 200);
    assert_eq!(whoami(&a, jwt(&tokens[1])).await.status(), StatusCode::UNAUTHORIZED, "wrong audience");
    assert_eq!(whoami(&a, jwt(&tokens[2])).await.status(), StatusCode::UNAUTHORIZED, "wrong issuer");
    assert_eq!(whoami(&b, jwt(&tokens[1])).await.status(), 200);
}
