//! edge-mw verifying airlock JWTs locally (JWKS, issuer, audience, key algorithm), refusing
//! revoked service tokens within its refresh interval, and guarding repositories.

use airlock_system_tests::{AirlockOptions, AirlockProcess, LoreProcess};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn service_token(airlock: &AirlockProcess, admin: &reqwest::Client, alg: &str, resource: &str) -> Value {
    let body = json!({"tenant_id": "acme-ci", "scopes": ["read:repo"], "resource_id": resource, "ttl_seconds": 600, "alg": alg});
    let resp = admin.post(airlock.at("/api/service-tokens")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn get(lore: &LoreProcess, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(lore.at(path)).header(AUTHORIZATION, format!("Bearer {token}")).send().await.unwrap()
}

fn jwt(t: &Value) -> &str {
    t["service_token"].as_str().unwrap()
}

async fn lore_verifying_locally(airlock: &AirlockProcess, audience: &str) -> LoreProcess {
    LoreProcess::start(
        &airlock.url,
        &[("LORE_JWT_ISSUER", &airlock.url), ("LORE_JWT_AUDIENCE", audience), ("LORE_REVOCATION_REFRESH", "1s")],
    )
    .await
}

#[tokio::test]
async fn service_tokens_are_verified_locally_and_guard_repositories() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let lore = lore_verifying_locally(&airlock, "airlock").await;
    for alg in ["RS256", "EdDSA"] {
        let token = service_token(&airlock, &admin, alg, "42").await;
        let seen: Value = get(&lore, "/api/whoami", jwt(&token)).await.json().await.unwrap();
        assert_eq!(seen["x-lore-user-id"], "svc:acme-ci", "{alg}");
        assert_eq!(seen["x-lore-user-role"], "viewer");
        assert_eq!(get(&lore, "/api/repos/42", jwt(&token)).await.status(), 200, "{alg}");
        let other = get(&lore, "/api/repos/7", jwt(&token)).await;
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        assert_eq!(other.json::<Value>().await.unwrap()["error"], "forbidden");
    }

    // Forgeries: a tampered payload, alg none, HS256 keyed with the public JWK.
    let token = jwt(&service_token(&airlock, &admin, "RS256", "42").await).to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["resources"] = json!(["urc-*"]);
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let none =
        format!("{}.{}.", URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": header["kid"]}).to_string()), parts[1]);
    // HS256 "signed" with the RSA key's public JWK as the shared secret (the confusion attack).
    let jwks: Value = reqwest::get(airlock.at("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let public = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap().to_string();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = header["kid"].as_str().map(str::to_owned);
    let hs256 = jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(public.as_bytes())).unwrap();
    for forged in [tampered, none, hs256] {
        assert_eq!(get(&lore, "/api/whoami", &forged).await.status(), StatusCode::UNAUTHORIZED);
    }

    // Verified locally: the keys are cached, so airlock being down does not matter for JWTs.
    airlock.kill();
    assert_eq!(get(&lore, "/api/repos/42", &token).await.status(), 200);
    airlock.start_again().await;
}

#[tokio::test]
async fn a_wrong_audience_or_issuer_or_an_expired_token_is_refused_by_edge_mw() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let token = service_token(&airlock, &admin, "RS256", "42").await;
    let body = json!({"tenant_id": "acme-ci", "scopes": ["read"], "ttl_seconds": 1, "alg": "EdDSA"});
    let short: Value =
        admin.post(airlock.at("/api/service-tokens")).json(&body).send().await.unwrap().json().await.unwrap();
    let same_audience = lore_verifying_locally(&airlock, "airlock").await;
    assert_eq!(get(&same_audience, "/api/whoami", jwt(&short)).await.status(), 200);
    // Past its expiry and the 5 s leeway, even the verified-token cache refuses it.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    assert_eq!(get(&same_audience, "/api/whoami", jwt(&short)).await.status(), StatusCode::UNAUTHORIZED);
    let other_audience = lore_verifying_locally(&airlock, "lore-service").await;
    assert_eq!(get(&other_audience, "/api/whoami", jwt(&token)).await.status(), StatusCode::UNAUTHORIZED);
    let other_issuer = LoreProcess::start(&airlock.url, &[("LORE_JWT_ISSUER", "https://accounts.example.com")]).await;
    assert_eq!(get(&other_issuer, "/api/whoami", jwt(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_service_tokens_are_refused_within_the_refresh_interval() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let lore = lore_verifying_locally(&airlock, "airlock").await;
    let token = service_token(&airlock, &admin, "EdDSA", "42").await;
    assert_eq!(get(&lore, "/api/whoami", jwt(&token)).await.status(), 200);
    let id = token["id"].as_str().unwrap();
    assert_eq!(admin.delete(airlock.at(&format!("/api/service-tokens/{id}"))).send().await.unwrap().status(), 200);
    let revoked_at = Instant::now();
    loop {
        if get(&lore, "/api/whoami", jwt(&token)).await.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(4), "still accepted 4 s after revocation (refresh: 1 s)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tokens_survive_a_key_rotation_at_the_edge() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let lore = lore_verifying_locally(&airlock, "airlock").await;
    let before = service_token(&airlock, &admin, "RS256", "42").await;
    assert_eq!(get(&lore, "/api/whoami", jwt(&before)).await.status(), 200);
    assert_eq!(admin.post(airlock.at("/api/admin/keys/rotate")).send().await.unwrap().status(), 200);
    let after = service_token(&airlock, &admin, "RS256", "42").await;
    // The JWKS is refetched for an unknown kid at most every 5 s.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert_eq!(get(&lore, "/api/whoami", jwt(&after)).await.status(), 200, "the new key is fetched");
    assert_eq!(get(&lore, "/api/whoami", jwt(&before)).await.status(), 200, "the retired key still verifies");
}
