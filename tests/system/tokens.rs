//! API tokens against real airlock processes: issue, use, scope hierarchy, escalation attempts,
//! revocation, limits, the CLI, secrets at rest, and bearer auth through edge-mw.

use airlock_system_tests::{ADMIN_EMAIL, AirlockOptions, AirlockProcess, LoreProcess, RedisServer, browser};
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

async fn create(process: &AirlockProcess, client: &reqwest::Client, body: Value) -> reqwest::Response {
    client.post(process.at("/api/tokens")).json(&body).send().await.unwrap()
}

/// A token made by `client`; panics unless created.
async fn token(process: &AirlockProcess, client: &reqwest::Client, body: Value) -> Value {
    let resp = create(process, client, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    resp.json().await.unwrap()
}

fn bearer(token: &Value) -> String {
    format!("Bearer {}", token["token"].as_str().unwrap())
}

/// A cookie-less client presenting `token`.
fn with_token(token: &Value) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(token).parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

#[tokio::test]
async fn a_token_is_shown_once_and_authenticates_as_api_token() {
    let redis = RedisServer::start();
    let airlock = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let admin = airlock.admin().await;
    let made =
        token(&airlock, &admin, json!({"name": "ci-bot", "scopes": ["read", "write"], "expires_days": 30})).await;
    let secret = made["token"].as_str().unwrap();
    assert!(secret.starts_with("alk_") && secret.len() >= 4 + 43, "{secret}");
    assert_eq!(made["scopes"], json!(["write", "read"]));
    assert!(made["id"].as_str().unwrap().starts_with("tok_"));
    assert!(made["expires_at"].is_string());

    let view: Value =
        with_token(&made).get(airlock.at("/api/auth/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["user"]["email"], ADMIN_EMAIL);
    assert_eq!(view["auth"], json!({"method": "api_token", "scopes": ["write", "read"]}));
    assert!(view.get("session").is_none());

    // Listed without its secret; the store holds only its hash.
    let list: Vec<Value> = admin.get(airlock.at("/api/tokens")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].get("token").is_none() && !list[0].to_string().contains(secret));
    let dump = redis.dump();
    assert!(dump.contains("airlock:token:"), "{dump}");
    assert!(!dump.contains(secret) && !dump.contains(&secret[4..]), "the raw token is stored in redis");
}

#[tokio::test]
async fn tokens_never_mint_more_power_than_they_hold() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let read = with_token(&token(&airlock, &admin, json!({"name": "reader", "role": "viewer"})).await);
    let write = with_token(&token(&airlock, &admin, json!({"name": "writer", "scopes": ["write"]})).await);
    let control = with_token(&token(&airlock, &admin, json!({"name": "ops", "role": "operator"})).await);

    // (who, requested scopes, expected status)
    let attempts: [(&reqwest::Client, Value, StatusCode); 7] = [
        (&read, json!({"name": "x1", "scopes": ["*"]}), StatusCode::FORBIDDEN),
        (&read, json!({"name": "x2", "scopes": ["read"]}), StatusCode::FORBIDDEN), // read cannot create at all
        (&write, json!({"name": "x3", "scopes": ["control"]}), StatusCode::FORBIDDEN),
        (&write, json!({"name": "x4", "role": "admin"}), StatusCode::FORBIDDEN),
        (&write, json!({"name": "x5", "scopes": ["read"]}), StatusCode::CREATED),
        (&control, json!({"name": "x6", "scopes": ["audit"]}), StatusCode::FORBIDDEN),
        (&control, json!({"name": "x7", "scopes": ["write", "read"]}), StatusCode::CREATED),
    ];
    for (client, body, expected) in attempts {
        let resp = create(&airlock, client, body.clone()).await;
        assert_eq!(resp.status(), expected, "{body}: {}", resp.text().await.unwrap_or_default());
    }

    // A viewer user cannot grant itself anything.
    airlock.add_user(&admin, "vera@example.com", "vera-password-1", &[]).await;
    let vera = browser();
    assert_eq!(airlock.sign_in(&vera, "vera@example.com", "vera-password-1").await.status(), 200);
    let escalate = vera
        .patch(airlock.at("/api/admin/users/vera@example.com"))
        .json(&json!({"roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(escalate.status(), StatusCode::FORBIDDEN);
    assert_eq!(create(&airlock, &vera, json!({"name": "mine", "role": "admin"})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(create(&airlock, &vera, json!({"name": "mine", "role": "viewer"})).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_admin_api_takes_tokens_with_the_needed_scope() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let read = with_token(&token(&airlock, &admin, json!({"name": "reader", "role": "viewer"})).await);
    let control = with_token(&token(&airlock, &admin, json!({"name": "ops", "role": "operator"})).await);
    assert_eq!(read.get(airlock.at("/api/admin/users")).send().await.unwrap().status(), StatusCode::OK);
    let body = json!({"slug": "acme"});
    let denied = read.post(airlock.at("/api/admin/orgs")).json(&body).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(denied.json::<Value>().await.unwrap()["error"], "forbidden");
    assert_eq!(control.post(airlock.at("/api/admin/orgs")).json(&body).send().await.unwrap().status(), 201);
    // Garbage and unknown bearer tokens are 401, never 500.
    for header in ["Bearer alk_nope", "Bearer ", "Basic abc", "Bearer alk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
    {
        let resp = reqwest::Client::new().get(airlock.at("/api/auth/session")).header(AUTHORIZATION, header).send();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthenticated");
    }
}

#[tokio::test]
async fn revoked_expired_and_disabled_tokens_are_refused_at_once() {
    let airlock = AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_MAX_TOKENS_PER_USER", "3")).await;
    let admin = airlock.admin().await;
    let by_name = token(&airlock, &admin, json!({"name": "by-name"})).await;
    let by_id = token(&airlock, &admin, json!({"name": "by-id"})).await;
    let session = |t: &Value| with_token(t).get(airlock.at("/api/auth/session")).send();
    assert_eq!(session(&by_name).await.unwrap().status(), 200);

    assert_eq!(admin.delete(airlock.at("/api/tokens/by-name")).send().await.unwrap().status(), 200);
    assert_eq!(session(&by_name).await.unwrap().status(), 401);
    let id = by_id["id"].as_str().unwrap();
    assert_eq!(admin.delete(airlock.at(&format!("/api/tokens/{id}"))).send().await.unwrap().status(), 200);
    assert_eq!(session(&by_id).await.unwrap().status(), 401);
    assert_eq!(admin.delete(airlock.at("/api/tokens/no-such")).send().await.unwrap().status(), 404);

    let active: Vec<Value> = admin.get(airlock.at("/api/tokens")).send().await.unwrap().json().await.unwrap();
    assert!(active.is_empty());
    let all: Vec<Value> = admin.get(airlock.at("/api/tokens?all=true")).send().await.unwrap().json().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|t| t["active"] == false && t["revoked_at"].is_string()));

    // The cap on active tokens, and validation.
    for name in ["a", "b", "c"] {
        token(&airlock, &admin, json!({"name": name})).await;
    }
    let over = create(&airlock, &admin, json!({"name": "d"})).await;
    assert_eq!(over.status(), StatusCode::BAD_REQUEST);
    assert!(over.text().await.unwrap().contains("maximum"));
    assert_eq!(create(&airlock, &admin, json!({"name": "a"})).await.status(), StatusCode::CONFLICT);
    assert_eq!(create(&airlock, &admin, json!({"name": "e", "expires_days": 0})).await.status(), 400);
    assert_eq!(create(&airlock, &admin, json!({"name": "e", "scopes": ["root"]})).await.status(), 400);
    assert_eq!(
        create(&airlock, &admin, json!({"name": "e", "scopes": ["read"], "role": "viewer"})).await.status(),
        400
    );

    // Disabling a user ends their tokens too.
    airlock.add_user(&admin, "tom@example.com", "tom-password-1", &[]).await;
    let tom = browser();
    airlock.sign_in(&tom, "tom@example.com", "tom-password-1").await;
    let toms = token(&airlock, &tom, json!({"name": "toms"})).await;
    assert_eq!(session(&toms).await.unwrap().status(), 200);
    let resp = admin.patch(airlock.at("/api/admin/users/tom@example.com")).json(&json!({"disabled": true})).send();
    assert_eq!(resp.await.unwrap().status(), 200);
    assert_eq!(session(&toms).await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_cli_generates_lists_and_revokes_tokens() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    airlock.stop();
    let out = airlock.cli(
        &["token", "generate", "ci-bot", "--scopes", "read,write", "--expires", "30", "--user", ADMIN_EMAIL],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for label in [
        "Name:    ci-bot",
        "ID:      tok_",
        "Token:   alk_",
        "Scopes:  write, read",
        "Expires: ",
        "will not be shown again",
    ] {
        assert!(stdout.contains(label), "missing {label:?} in:\n{stdout}");
    }
    let secret = stdout.lines().find_map(|l| l.strip_prefix("Token:   ")).unwrap().trim().to_owned();

    let listed = airlock.cli(&["token", "list", "--user", ADMIN_EMAIL], None);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("ci-bot") && listed.contains("active"), "{listed}");
    assert!(!listed.contains(&secret), "the list shows the secret");

    airlock.start_again().await;
    let made = json!({"token": secret});
    let view: Value =
        with_token(&made).get(airlock.at("/api/auth/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["auth"]["method"], "api_token");
    airlock.stop();

    let revoked = airlock.cli(&["token", "revoke", "ci-bot", "--user", ADMIN_EMAIL], None);
    assert!(revoked.status.success());
    let all = airlock.cli(&["token", "list", "--all", "--json", "--user", ADMIN_EMAIL], None);
    let all: Vec<Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["active"], false);
    let escalate = airlock.cli(&["token", "generate", "x", "--role", "admin", "--user", "nobody@example.com"], None);
    assert!(!escalate.status.success());
}

#[tokio::test]
async fn edge_mw_accepts_api_tokens_through_airlock() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let made = token(&airlock, &admin, json!({"name": "lore-bot"})).await;
    let lore = LoreProcess::start(&airlock.url, &[]).await;
    let seen: Value = with_token(&made).get(lore.at("/api/whoami")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["x-lore-user-email"], ADMIN_EMAIL);
    assert_eq!(seen["x-lore-user-role"], "admin");
    admin.delete(airlock.at("/api/tokens/lore-bot")).send().await.unwrap();
    assert_eq!(with_token(&made).get(lore.at("/api/whoami")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_cli_drives_a_running_airlock_with_url_and_token() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let control = token(&airlock, &admin, json!({"name": "cli", "role": "admin"})).await;
    let read = token(&airlock, &admin, json!({"name": "cli-read", "role": "viewer"})).await;
    let url = airlock.url.clone();
    let run = |token: &Value, args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["--url", url.as_str(), "--token", token["token"].as_str().unwrap()];
        full.extend_from_slice(args);
        airlock.cli(&full, stdin)
    };
    let ok = |out: std::process::Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };

    // The embedded store is held by the server: --url is the way in.
    ok(run(&control, &["user", "add", "--email", "ada@example.com", "--password-stdin"], Some("ada-password-1\n")));
    ok(run(&control, &["org", "add", "acme", "--name", "Acme"], None));
    ok(run(&control, &["member", "add", "acme", "ada@example.com", "--role", "operator"], None));
    let users: Vec<Value> = serde_json::from_str(&ok(run(&control, &["user", "list", "--json"], None))).unwrap();
    assert!(users.iter().any(|u| u["email"] == "ada@example.com"));
    assert!(ok(run(&control, &["org", "list"], None)).contains("acme"));
    let ada = browser();
    assert_eq!(airlock.sign_in(&ada, "ada@example.com", "ada-password-1").await.status(), 200);
    let view: Value = ada.get(airlock.at("/api/auth/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["orgs"][0]["role"], "operator");
    let sessions: Vec<Value> =
        serde_json::from_str(&ok(run(&control, &["session", "list", "ada@example.com", "--json"], None))).unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(ok(run(&control, &["session", "revoke-all", "ada@example.com"], None)).contains("revoked 1"));
    assert_eq!(ada.get(airlock.at("/api/auth/session")).send().await.unwrap().status(), 401);
    let listed = ok(run(&control, &["token", "list", "--user", ADMIN_EMAIL], None));
    assert!(listed.contains("cli-read") && !listed.contains(read["token"].as_str().unwrap()));

    // A read token reads, and is told clearly that it cannot change anything.
    assert!(run(&read, &["user", "list"], None).status.success());
    let denied = run(&read, &["org", "add", "beta"], None);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("control"), "{}", String::from_utf8_lossy(&denied.stderr));
    // Without a token --url is a configuration error (exit 2).
    let missing = airlock.cli(&["--url", &url, "user", "list"], None);
    assert_eq!(missing.status.code(), Some(2));
    // And a store-backed command beside the running server says, in one line, to use --url.
    let busy = airlock.cli(&["user", "list"], None);
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(!busy.status.success() && stderr.lines().count() == 1 && stderr.contains("--url"), "{stderr}");
}
