//! LORE's `POST /mcp` behind edge-mw as an OAuth protected resource (RFC 9728), used by the two
//! official MCP SDKs, unmodified: TypeScript `@modelcontextprotocol/sdk` (tests/node) and
//! Python `mcp` (tests/python). Each connects, gets the 401, discovers airlock through LORE's
//! metadata, registers, runs the code flow (the test plays the person: session cookie, consent,
//! "Allow") and calls `whoami`. And the refusals a resource owes: a token for airlock or for
//! another resource, a token without the scope, a cookie, an ID token.

use airlock_system_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, LoreProcess, browser, free_port, repo_root,
    venv_python,
};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

/// The redirect URI of the SDKs' native-app registrations: a loopback one, whose port airlock
/// does not pin (RFC 8252 §7.3); nothing listens there, the test reads the code off the redirect.
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Airlock trusting LORE's origin (so `<lore>/mcp` is a resource it issues tokens for), LORE,
/// and a person's session cookie.
async fn airlock_and_lore() -> (AirlockProcess, LoreProcess, String) {
    let lore_port = free_port();
    let lore_origin = format!("http://127.0.0.1:{lore_port}");
    let airlock =
        AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_TRUSTED_ORIGINS", &format!("lore={lore_origin}")))
            .await;
    let lore = LoreProcess::start_at(lore_port, &airlock.url, &[("LORE_PUBLIC_URL", &lore_origin)]).await;
    let person = browser();
    let resp = airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    (airlock, lore, cookie)
}

async fn user_id(airlock: &AirlockProcess, cookie: &str) -> String {
    let resp = reqwest::Client::new()
        .get(airlock.at("/api/auth/session"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let view: Value = resp.json().await.unwrap();
    view["user"]["id"].as_str().unwrap().to_owned()
}

/// Asserts every check a client script printed passed, and that each of `expected` was run.
fn assert_checks(name: &str, out: &std::process::Output, expected: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in expected {
        let passed = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|line| line["check"] == *check && line["ok"] == true);
        assert!(passed, "{name}: check {check} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn the_mcp_typescript_sdk_discovers_airlock_from_lore_registers_authorizes_and_calls_whoami() {
    let (airlock, lore, cookie) = airlock_and_lore().await;
    let out = std::process::Command::new("node")
        .arg(repo_root().join("tests/node/mcp_client.mjs"))
        .env("MCP_URL", lore.at("/mcp"))
        .env("ISSUER", &airlock.url)
        .env("SESSION_COOKIE", &cookie)
        .env("REDIRECT_URI", REDIRECT)
        .env("USER_ID", user_id(&airlock, &cookie).await)
        .output()
        .expect("run node");
    assert_checks(
        "the MCP TypeScript SDK",
        &out,
        &[
            "unauthorized-first",
            "registered",
            "authorize-at-airlock",
            "resource-is-mcp",
            "pkce-s256",
            "consent-page",
            "iss-in-response",
            "token",
            "tools-listed",
            "whoami",
            "whoami-method",
        ],
    );
}

#[tokio::test]
async fn the_python_mcp_sdk_discovers_airlock_from_lore_registers_authorizes_and_calls_whoami() {
    let (airlock, lore, cookie) = airlock_and_lore().await;
    let out = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/python/mcp_client.py"))
        .env("MCP_URL", lore.at("/mcp"))
        .env("ISSUER", &airlock.url)
        .env("SESSION_COOKIE", &cookie)
        .env("REDIRECT_URI", REDIRECT)
        .env("USER_ID", user_id(&airlock, &cookie).await)
        .output()
        .expect("run python");
    assert_checks(
        "the Python MCP SDK",
        &out,
        &["authorize-at-airlock", "resource-is-mcp", "consent-page", "approved", "tools-listed", "whoami"],
    );
}

/// A client-credentials token from airlock, asked for `resource` (none: airlock's own audience).
async fn service_token(airlock: &AirlockProcess, scopes: &str, resource: Option<&str>) -> String {
    let admin = airlock.admin().await;
    let body = json!({"name": "MCP script", "grant_types": ["client_credentials"], "scopes": scopes});
    let client: Value =
        admin.post(airlock.at("/api/admin/clients")).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scopes)];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a token for {resource:?}");
    resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// An MCP `initialize` request to LORE's `/mcp`, with these extra headers.
async fn initialize(lore: &LoreProcess, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(lore.at("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn lore_mcp_takes_only_access_tokens_for_itself_with_its_scope() {
    let (airlock, lore, cookie) = airlock_and_lore().await;
    let mcp = lore.at("/mcp");
    let metadata_url = lore.at("/.well-known/oauth-protected-resource/mcp");

    // The metadata: this resource, airlock as its server, the scope it needs.
    let metadata: Value = reqwest::get(&metadata_url).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["resource"], mcp.as_str());
    assert_eq!(metadata["authorization_servers"], json!([airlock.url]));
    assert_eq!(metadata["scopes_supported"], json!(["read"]));
    let challenge = format!("Bearer resource_metadata=\"{metadata_url}\", scope=\"read\"");

    // Nothing, a session cookie, a made-up token: 401 with the challenge that leads to airlock.
    let resp = initialize(&lore, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[WWW_AUTHENTICATE], challenge.as_str());
    let resp = initialize(&lore, &[("cookie", &cookie)]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a session cookie is no access token");
    let resp = initialize(&lore, &[("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()[WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer error=\"invalid_token\", "));

    // Tokens airlock really issued, for airlock itself and for another resource of LORE's origin:
    // their audience is not this resource.
    for resource in [None, Some(lore.at("/api"))] {
        let token = service_token(&airlock, "read", resource.as_deref()).await;
        let resp = initialize(&lore, &[("authorization", &format!("Bearer {token}"))]).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a token for {resource:?}");
        assert!(resp.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("error=\"invalid_token\""));
    }
    // For this resource but without `read`: 403 insufficient_scope.
    let token = service_token(&airlock, "write", Some(&mcp)).await;
    let resp = initialize(&lore, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let header = resp.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(
        header.starts_with("Bearer error=\"insufficient_scope\", ") && header.contains("scope=\"read\""),
        "{header}"
    );

    // For this resource with `read`: the MCP server answers, and LORE's other pages are untouched.
    let token = service_token(&airlock, "read", Some(&mcp)).await;
    let resp = initialize(&lore, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(body.contains("\"serverInfo\""), "an initialize result: {body}");
    let page = reqwest::Client::new().get(lore.at("/api/whoami")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the cookie still works on LORE's own pages");
    let page = reqwest::Client::new()
        .get(lore.at("/api/whoami"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED, "a token for /mcp is not a token for LORE's API");
}
