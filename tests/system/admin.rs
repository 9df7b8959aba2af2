//! Administration (contract section 8) against real processes: the `/api/admin/*` HTTP API, and
//! the `airlock` CLI working on the store, embedded (with the server stopped) and Redis (live).

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer, browser};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::process::Output;

/// Sends `request` and checks its status; returns the JSON body.
async fn call(what: &str, request: RequestBuilder, status: u16) -> Value {
    let resp = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let got = resp.status();
    let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.unwrap();
    assert_eq!(got, StatusCode::from_u16(status).unwrap(), "{what}: {text}");
    assert!(content_type.starts_with("application/json"), "{what}: content-type {content_type:?}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// Sends `request` and expects the error `error` with `status`.
async fn call_err(what: &str, request: RequestBuilder, status: u16, error: &str) {
    let body = call(what, request, status).await;
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no message: {body}");
}

/// `GET /api/auth/session` for `client`: the status and the body.
async fn whoami(process: &AirlockProcess, client: &Client) -> (u16, Value) {
    let resp = client.get(process.at("/api/auth/session")).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// A client signed in as `email`.
async fn signed_in(process: &AirlockProcess, email: &str, password: &str) -> Client {
    let client = browser();
    let resp = process.sign_in(&client, email, password).await;
    assert_eq!(resp.status(), 200, "sign-in of {email}: {}", resp.text().await.unwrap_or_default());
    client
}

async fn sign_in_status(process: &AirlockProcess, email: &str, password: &str) -> (u16, Value) {
    let resp = process.sign_in(&browser(), email, password).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn users_by_email(list: &Value) -> Vec<(String, Value)> {
    list.as_array()
        .expect("a list of users")
        .iter()
        .map(|u| (u["email"].as_str().expect("email").to_owned(), u.clone()))
        .collect()
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key}={value} in {list}"))
}

#[tokio::test]
async fn admin_api_manages_users() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    let users = process.at("/api/admin/users");

    // Create: 201, the user as stored, never a password or its hash.
    let ada = call(
        "create ada",
        admin.post(&users).json(
            &json!({"email": " Ada@Example.com ", "name": "Ada", "password": "ada-password-1", "roles": ["operator"]}),
        ),
        201,
    )
    .await;
    let ada_id = ada["id"].as_str().expect("id").to_owned();
    assert!(ada_id.starts_with("usr_"), "{ada}");
    assert_eq!(ada["email"], "ada@example.com", "emails are normalised");
    assert_eq!(ada["name"], "Ada");
    assert_eq!(ada["roles"], json!(["operator"]));
    assert_eq!(ada["disabled"], false);
    assert_eq!(ada["has_password"], true);
    assert!(ada.get("password").is_none() && ada.get("password_hash").is_none(), "{ada}");
    // Without a password or a name: a user that cannot sign in yet, named after the email.
    let bob = call("create bob", admin.post(&users).json(&json!({"email": "bob@example.com"})), 201).await;
    assert_eq!(bob["has_password"], false);
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["roles"], json!([]));

    // Duplicates, whatever the case of the email.
    for email in ["ada@example.com", "ADA@example.COM"] {
        call_err(&format!("duplicate {email}"), admin.post(&users).json(&json!({"email": email})), 409, "conflict")
            .await;
    }

    // List.
    let list = call("list", admin.get(&users), 200).await;
    let emails: Vec<String> = users_by_email(&list).into_iter().map(|(e, _)| e).collect();
    assert_eq!(emails.len(), 3, "{list}");
    for email in [ADMIN_EMAIL, "ada@example.com", "bob@example.com"] {
        assert!(emails.iter().any(|e| e == email), "{email} missing from {list}");
    }
    assert!(!list.to_string().contains("argon2"), "a password hash leaked: {list}");
    assert_eq!(find(&list, "email", ADMIN_EMAIL)["roles"], json!(["admin"]));

    // One user, by email or by id.
    let by_email = call("get by email", admin.get(process.at("/api/admin/users/ada@example.com")), 200).await;
    let by_id = call("get by id", admin.get(process.at(&format!("/api/admin/users/{ada_id}"))), 200).await;
    assert_eq!(by_email, by_id);
    assert_eq!(by_email["orgs"], json!([]));

    // PATCH roles and name: the change shows on Ada's very next call.
    let ada_client = signed_in(&process, "ada@example.com", "ada-password-1").await;
    let (status, view) = whoami(&process, &ada_client).await;
    assert_eq!((status, &view["user"]["roles"]), (200, &json!(["operator"])));
    let ada_url = process.at(&format!("/api/admin/users/{ada_id}"));
    let patched = call(
        "patch roles and name",
        admin.patch(&ada_url).json(&json!({"roles": ["auditor", "admin", "admin"], "name": "Ada Lovelace"})),
        200,
    )
    .await;
    assert_eq!(patched["roles"], json!(["admin", "auditor"]), "sorted, without duplicates");
    assert_eq!(patched["name"], "Ada Lovelace");
    assert_eq!(patched["email"], "ada@example.com");
    let (_, view) = whoami(&process, &ada_client).await;
    assert_eq!(view["user"]["roles"], json!(["admin", "auditor"]));
    assert_eq!(view["user"]["name"], "Ada Lovelace");
    // An empty PATCH changes nothing; an empty role list removes every role.
    let same = call("empty patch", admin.patch(&ada_url).json(&json!({})), 200).await;
    assert_eq!(same["roles"], json!(["admin", "auditor"]));
    call("drop roles", admin.patch(process.at("/api/admin/users/ada@example.com")).json(&json!({"roles": []})), 200)
        .await;
    let (_, view) = whoami(&process, &ada_client).await;
    assert_eq!(view["user"]["roles"], json!([]));

    // A password set by PATCH is the one that works.
    call(
        "set bob's password",
        admin.patch(process.at("/api/admin/users/bob@example.com")).json(&json!({"password": "bob-password-1"})),
        200,
    )
    .await;
    signed_in(&process, "bob@example.com", "bob-password-1").await;

    // Disabled: the live session ends at once, and sign-in fails like a wrong password.
    let disabled = call("disable", admin.patch(&ada_url).json(&json!({"disabled": true})), 200).await;
    assert_eq!(disabled["disabled"], true);
    let (status, body) = whoami(&process, &ada_client).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{body}");
    let (status, body) = sign_in_status(&process, "ada@example.com", "ada-password-1").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_credentials")), "{body}");
    let sessions = call("sessions of a disabled user", admin.get(format!("{ada_url}/sessions")), 200).await;
    assert_eq!(sessions, json!([]));
    let list = call("list", admin.get(&users), 200).await;
    assert_eq!(find(&list, "email", "ada@example.com")["disabled"], true);
    // Enabled again: sign-in works (the old session stays ended).
    call("enable", admin.patch(&ada_url).json(&json!({"disabled": false})), 200).await;
    assert_eq!(whoami(&process, &ada_client).await.0, 401);
    signed_in(&process, "ada@example.com", "ada-password-1").await;

    // Unknown users: 404 not_found, by email and by id, for every verb.
    for path in ["/api/admin/users/nobody@example.com", "/api/admin/users/usr_000000000000000000000000"] {
        call_err(&format!("get {path}"), admin.get(process.at(path)), 404, "not_found").await;
        call_err(&format!("patch {path}"), admin.patch(process.at(path)).json(&json!({"name": "x"})), 404, "not_found")
            .await;
        call_err(&format!("sessions {path}"), admin.get(process.at(&format!("{path}/sessions"))), 404, "not_found")
            .await;
    }
    let list = call("list", admin.get(&users), 200).await;
    assert_eq!(list.as_array().map(Vec::len), Some(3), "a failed call created a user: {list}");
}

#[tokio::test]
async fn admin_api_manages_orgs_and_members() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    let ada_id = process.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    let ada = signed_in(&process, "ada@example.com", "ada-password-1").await;
    let orgs = process.at("/api/admin/orgs");

    let acme = call("create acme", admin.post(&orgs).json(&json!({"slug": "acme", "name": "Acme Corp"})), 201).await;
    assert!(acme["id"].as_str().is_some_and(|id| id.starts_with("org_")), "{acme}");
    assert_eq!((&acme["slug"], &acme["name"]), (&json!("acme"), &json!("Acme Corp")));
    let beta = call("create beta without a name", admin.post(&orgs).json(&json!({"slug": "Beta-2"})), 201).await;
    assert_eq!((&beta["slug"], &beta["name"]), (&json!("beta-2"), &json!("beta-2")), "slugs are lowercased");
    for slug in ["acme", "ACME", " acme "] {
        call_err(&format!("duplicate {slug:?}"), admin.post(&orgs).json(&json!({"slug": slug})), 409, "conflict").await;
    }
    let list = call("list orgs", admin.get(&orgs), 200).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(find(&list, "slug", "acme")["id"], acme["id"]);

    // Members: the membership shows on the member's very next call.
    let members = process.at("/api/admin/orgs/acme/members");
    let added =
        call("add ada", admin.post(&members).json(&json!({"email": "Ada@Example.com", "role": "operator"})), 201).await;
    assert_eq!(added, json!({"org": "acme", "email": "ada@example.com", "role": "operator"}));
    let (_, view) = whoami(&process, &ada).await;
    assert_eq!(view["orgs"], json!([{"id": acme["id"], "slug": "acme", "name": "Acme Corp", "role": "operator"}]));
    // Adding again changes the role.
    call("re-add as viewer", admin.post(&members).json(&json!({"email": "ada@example.com", "role": "viewer"})), 201)
        .await;
    let (_, view) = whoami(&process, &ada).await;
    assert_eq!(view["orgs"][0]["role"], "viewer");
    let user = call("get ada", admin.get(process.at(&format!("/api/admin/users/{ada_id}"))), 200).await;
    assert_eq!(user["orgs"][0]["slug"], "acme");
    assert_eq!(user["orgs"][0]["role"], "viewer");

    // Unknown org or user: 404.
    call_err(
        "member of unknown org",
        admin
            .post(process.at("/api/admin/orgs/nope/members"))
            .json(&json!({"email": "ada@example.com", "role": "viewer"})),
        404,
        "not_found",
    )
    .await;
    call_err(
        "unknown member",
        admin.post(&members).json(&json!({"email": "nobody@example.com", "role": "viewer"})),
        404,
        "not_found",
    )
    .await;
    call_err(
        "remove from unknown org",
        admin.delete(process.at("/api/admin/orgs/nope/members/ada@example.com")),
        404,
        "not_found",
    )
    .await;
    call_err(
        "remove unknown user",
        admin.delete(process.at("/api/admin/orgs/acme/members/nobody@example.com")),
        404,
        "not_found",
    )
    .await;
    call_err(
        "remove a non-member",
        admin.delete(process.at("/api/admin/orgs/beta-2/members/ada@example.com")),
        404,
        "not_found",
    )
    .await;

    // Remove.
    let removed =
        call("remove ada", admin.delete(process.at("/api/admin/orgs/acme/members/ada@example.com")), 200).await;
    assert_eq!(removed["removed"], true);
    let (_, view) = whoami(&process, &ada).await;
    assert_eq!(view["orgs"], json!([]));
    call_err(
        "remove twice",
        admin.delete(process.at("/api/admin/orgs/acme/members/ada@example.com")),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn admin_api_is_for_admins_only() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    process.add_user(&admin, "op@example.com", "op-password-1", &["operator", "auditor"]).await;
    let op = signed_in(&process, "op@example.com", "op-password-1").await;
    let anonymous = browser();

    let attempts = |client: &Client| {
        vec![
            ("list users", client.get(process.at("/api/admin/users"))),
            (
                "create user",
                client
                    .post(process.at("/api/admin/users"))
                    .json(&json!({"email": "mallory@example.com", "roles": ["admin"]})),
            ),
            ("get user", client.get(process.at("/api/admin/users/op@example.com"))),
            (
                "escalate",
                client.patch(process.at("/api/admin/users/op@example.com")).json(&json!({"roles": ["admin"]})),
            ),
            ("list orgs", client.get(process.at("/api/admin/orgs"))),
            ("create org", client.post(process.at("/api/admin/orgs")).json(&json!({"slug": "mallory"}))),
            ("sessions", client.get(process.at(&format!("/api/admin/users/{ADMIN_EMAIL}/sessions")))),
            ("revoke a session", client.delete(process.at("/api/admin/sessions/ses_000000000000000000000000"))),
        ]
    };
    for (what, request) in attempts(&op) {
        call_err(&format!("operator: {what}"), request, 403, "forbidden").await;
    }
    for (what, request) in attempts(&anonymous) {
        call_err(&format!("anonymous: {what}"), request, 401, "unauthenticated").await;
    }
    // A garbage or stale cookie is anonymous too.
    let forged =
        Client::new().get(process.at("/api/admin/users")).header(COOKIE, format!("airlock_session={}", "A".repeat(43)));
    call_err("forged cookie", forged, 401, "unauthenticated").await;

    // Nothing changed.
    let list = call("list", admin.get(process.at("/api/admin/users")), 200).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(find(&list, "email", "op@example.com")["roles"], json!(["operator", "auditor"]));
    assert_eq!(call("orgs", admin.get(process.at("/api/admin/orgs")), 200).await, json!([]));
    // The admin role, granted, opens the API at once; taken away, closes it at once.
    call(
        "grant admin",
        admin.patch(process.at("/api/admin/users/op@example.com")).json(&json!({"roles": ["admin"]})),
        200,
    )
    .await;
    call("now an admin", op.get(process.at("/api/admin/users")), 200).await;
    call("revoke admin", admin.patch(process.at("/api/admin/users/op@example.com")).json(&json!({"roles": []})), 200)
        .await;
    call_err("no longer an admin", op.get(process.at("/api/admin/users")), 403, "forbidden").await;
}

/// Signs in with a client without a cookie jar; returns the session token from `Set-Cookie`.
async fn sign_in_token(process: &AirlockProcess, email: &str, password: &str, user_agent: &str) -> String {
    let resp = Client::new()
        .post(process.at("/api/auth/sign-in"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers().get(SET_COOKIE).expect("Set-Cookie").to_str().unwrap().to_owned();
    let value =
        set_cookie.split(';').next().and_then(|kv| kv.strip_prefix("airlock_session=")).expect("session cookie");
    value.to_owned()
}

/// `GET /api/auth/session` with `token` as the cookie.
async fn check_token(process: &AirlockProcess, token: &str) -> (u16, Value) {
    let resp = Client::new()
        .get(process.at("/api/auth/session"))
        .header(COOKIE, format!("airlock_session={token}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn admin_api_lists_and_revokes_sessions() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    let ada_id = process.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    let laptop = sign_in_token(&process, "ada@example.com", "ada-password-1", "laptop-browser/1.0").await;
    let phone = sign_in_token(&process, "ada@example.com", "ada-password-1", "phone-browser/2.0").await;
    let (_, laptop_view) = check_token(&process, &laptop).await;
    let (_, phone_view) = check_token(&process, &phone).await;
    let laptop_id = laptop_view["session"]["id"].as_str().unwrap().to_owned();
    let phone_id = phone_view["session"]["id"].as_str().unwrap().to_owned();
    assert_ne!(laptop_id, phone_id);

    let sessions_url = process.at("/api/admin/users/ada@example.com/sessions");
    let sessions = call("list sessions", admin.get(&sessions_url), 200).await;
    let text = sessions.to_string();
    assert!(!text.contains(&laptop) && !text.contains(&phone), "a session token leaked: {text}");
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");
    let listed = find(&sessions, "id", &laptop_id);
    assert_eq!(listed["user_agent"], "laptop-browser/1.0");
    assert_eq!(listed["ip"], "127.0.0.1");
    assert_eq!(listed["expires_at"], laptop_view["session"]["expires_at"]);
    for key in ["created_at", "last_seen_at"] {
        assert!(listed[key].is_string(), "{key}: {listed}");
    }
    assert_eq!(find(&sessions, "id", &phone_id)["user_agent"], "phone-browser/2.0");
    // By id as well as by email; the admin's own sessions are not in Ada's list.
    assert_eq!(
        call("by id", admin.get(process.at(&format!("/api/admin/users/{ada_id}/sessions"))), 200).await,
        sessions
    );

    // Revoke one: that cookie is refused at once, the other lives on.
    let revoked =
        call("revoke laptop", admin.delete(process.at(&format!("/api/admin/sessions/{laptop_id}"))), 200).await;
    assert_eq!(revoked, json!({"revoked": laptop_id}));
    let (status, body) = check_token(&process, &laptop).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{body}");
    assert_eq!(check_token(&process, &phone).await.0, 200);
    let sessions = call("list after revoke", admin.get(&sessions_url), 200).await;
    assert_eq!(
        sessions.as_array().map(|s| s.iter().map(|s| s["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(phone_id)])
    );
    call_err("revoke twice", admin.delete(process.at(&format!("/api/admin/sessions/{laptop_id}"))), 404, "not_found")
        .await;
    call_err(
        "revoke unknown",
        admin.delete(process.at("/api/admin/sessions/ses_000000000000000000000000")),
        404,
        "not_found",
    )
    .await;

    // Revoke all of a user's sessions.
    let revoked = call("revoke all", admin.delete(&sessions_url), 200).await;
    assert_eq!(revoked, json!({"revoked": 1}));
    assert_eq!(check_token(&process, &phone).await.0, 401);
    assert_eq!(call("none left", admin.get(&sessions_url), 200).await, json!([]));
    // The admin's own session was never touched.
    assert_eq!(whoami(&process, &admin).await.0, 200);
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the CLI and expects success; returns stdout.
fn cli_ok(process: &AirlockProcess, args: &[&str], stdin: Option<&str>) -> String {
    let out = process.cli(args, stdin);
    assert!(out.status.success(), "airlock {args:?} failed ({}):\n{}{}", out.status, stdout(&out), stderr(&out));
    stdout(&out)
}

/// Runs the CLI and expects failure with one line on stderr containing `needle`.
fn cli_fails(process: &AirlockProcess, args: &[&str], stdin: Option<&str>, needle: &str) -> Output {
    let out = process.cli(args, stdin);
    let err = stderr(&out);
    assert!(!out.status.success(), "airlock {args:?} succeeded:\n{}", stdout(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "airlock {args:?}: one line expected, got:\n{err}");
    assert!(err.contains(needle), "airlock {args:?}: expected {needle:?} in: {err}");
    out
}

fn cli_json(process: &AirlockProcess, args: &[&str]) -> Value {
    let out = cli_ok(process, args, None);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("airlock {args:?}: not JSON ({e}):\n{out}"))
}

#[tokio::test]
async fn cli_manages_the_embedded_store() {
    let mut process = AirlockProcess::start(AirlockOptions::default()).await;
    process.stop();

    // Users.
    let out = cli_ok(
        &process,
        &["user", "add", "--email", "x@example.com", "--name", "X Ample", "--password-stdin"],
        Some("password123\n"),
    );
    assert!(out.contains("created user x@example.com"), "{out}");
    assert!(!out.contains("password123"), "the password was echoed: {out}");
    cli_fails(
        &process,
        &["user", "add", "--email", "X@example.com", "--password-stdin"],
        Some("password123\n"),
        "already exists",
    );
    cli_fails(
        &process,
        &["user", "add", "--email", "not-an-email", "--password-stdin"],
        Some("password123\n"),
        "email",
    );
    // Without --password-stdin, a generated password is shown once, and works.
    let out = cli_ok(&process, &["user", "add", "--email", "gen@example.com", "--role", "operator"], None);
    let generated = out.lines().find_map(|l| l.strip_prefix("password: ")).expect("a generated password").to_owned();
    assert!(generated.len() >= 16, "{out}");

    let users = cli_json(&process, &["user", "list", "--json"]);
    assert_eq!(users.as_array().map(Vec::len), Some(3), "{users}");
    let x = find(&users, "email", "x@example.com");
    assert_eq!((&x["name"], &x["roles"], &x["disabled"]), (&json!("X Ample"), &json!([]), &json!(false)), "{x}");
    assert!(x["id"].as_str().is_some_and(|id| id.starts_with("usr_")), "{x}");
    assert_eq!(find(&users, "email", ADMIN_EMAIL)["roles"], json!(["admin"]));
    assert!(!users.to_string().contains("argon2") && !users.to_string().contains("password123"), "{users}");
    let table = cli_ok(&process, &["user", "list"], None);
    assert!(table.starts_with("EMAIL") && table.contains("x@example.com") && table.contains("X Ample"), "{table}");

    // Orgs and members.
    let out = cli_ok(&process, &["org", "add", "acme", "--name", "Acme"], None);
    assert!(out.contains("created org acme"), "{out}");
    cli_fails(&process, &["org", "add", "ACME"], None, "already exists");
    cli_fails(&process, &["org", "add", "not a slug"], None, "slug");
    let orgs = cli_json(&process, &["org", "list", "--json"]);
    assert_eq!(orgs.as_array().map(Vec::len), Some(1), "{orgs}");
    assert_eq!((&orgs[0]["slug"], &orgs[0]["name"]), (&json!("acme"), &json!("Acme")));
    let out = cli_ok(&process, &["member", "add", "acme", "x@example.com", "--role", "operator"], None);
    assert!(out.contains("x@example.com is now operator of acme"), "{out}");
    cli_fails(&process, &["member", "add", "nope", "x@example.com", "--role", "operator"], None, "not found");
    cli_fails(&process, &["member", "add", "acme", "nobody@example.com", "--role", "operator"], None, "not found");
    let bad_role = process.cli(&["member", "add", "acme", "x@example.com", "--role", "emperor"], None);
    assert!(!bad_role.status.success() && stderr(&bad_role).contains("emperor"), "{}", stderr(&bad_role));

    let out = cli_ok(&process, &["user", "set-role", "x@example.com", "operator", "auditor"], None);
    assert!(out.contains("operator,auditor"), "{out}");
    cli_fails(&process, &["user", "set-role", "nobody@example.com", "operator"], None, "not found");

    // What the CLI wrote is what the server serves.
    process.restart().await;
    let x_client = signed_in(&process, "x@example.com", "password123").await;
    signed_in(&process, "gen@example.com", &generated).await;
    let (_, view) = whoami(&process, &x_client).await;
    assert_eq!(view["user"]["name"], "X Ample");
    assert_eq!(view["user"]["roles"], json!(["operator", "auditor"]));
    assert_eq!(view["orgs"], json!([{"id": orgs[0]["id"], "slug": "acme", "name": "Acme", "role": "operator"}]));
    let session_id = view["session"]["id"].as_str().unwrap().to_owned();
    process.stop();

    // Sessions.
    let sessions = cli_json(&process, &["session", "list", "x@example.com", "--json"]);
    assert_eq!(
        sessions.as_array().map(|s| s.iter().map(|s| s["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(session_id)])
    );
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let out = cli_ok(&process, &["session", "revoke-all", "x@example.com"], None);
    assert!(out.contains("revoked 1 session(s) of x@example.com"), "{out}");
    assert_eq!(cli_json(&process, &["session", "list", "x@example.com", "--json"]), json!([]));
    cli_fails(&process, &["session", "revoke", &session_id], None, "not found");

    // Disable: sign-in fails; membership removal.
    let out = cli_ok(&process, &["user", "disable", "x@example.com"], None);
    assert!(out.contains("disabled x@example.com"), "{out}");
    cli_ok(&process, &["member", "remove", "acme", "x@example.com"], None);
    cli_fails(&process, &["member", "remove", "acme", "x@example.com"], None, "not found");
    assert_eq!(find(&cli_json(&process, &["user", "list", "--json"]), "email", "x@example.com")["disabled"], true);
    process.restart().await;
    assert_eq!(whoami(&process, &x_client).await.0, 401, "the revoked session still works");
    let (status, body) = sign_in_status(&process, "x@example.com", "password123").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_credentials")), "{body}");
    process.stop();

    cli_ok(&process, &["user", "enable", "x@example.com"], None);
    process.restart().await;
    let x_client = signed_in(&process, "x@example.com", "password123").await;
    let (_, view) = whoami(&process, &x_client).await;
    assert_eq!(view["orgs"], json!([]));
}

#[tokio::test]
async fn cli_says_so_when_a_running_airlock_holds_the_embedded_store() {
    let mut process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    process.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;

    for args in [
        &["user", "list"][..],
        &["user", "add", "--email", "y@example.com", "--password-stdin"],
        &["org", "add", "acme"],
        &["session", "revoke-all", "ada@example.com"],
    ] {
        let out = cli_fails(&process, args, Some("password123\n"), "in use");
        assert!(stdout(&out).is_empty(), "airlock {args:?}: {}", stdout(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }

    // The running server is unharmed, and nothing was written.
    assert_eq!(whoami(&process, &admin).await.0, 200);
    signed_in(&process, "ada@example.com", "ada-password-1").await;
    let users = call("list", admin.get(process.at("/api/admin/users")), 200).await;
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{users}");
    assert_eq!(call("orgs", admin.get(process.at("/api/admin/orgs")), 200).await, json!([]));

    // Stopped, the same store is the CLI's, intact.
    process.stop();
    let users = cli_json(&process, &["user", "list", "--json"]);
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{users}");
    assert_eq!(cli_json(&process, &["session", "list", "ada@example.com", "--json"]).as_array().map(Vec::len), Some(1));
    process.restart().await;
    assert_eq!(whoami(&process, &admin).await.0, 200, "the admin session did not survive the restart");
}

#[tokio::test]
async fn cli_works_live_against_redis() {
    let redis = RedisServer::start();
    let process = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let admin = process.admin().await;

    cli_ok(&process, &["user", "add", "--email", "r@example.com", "--password-stdin"], Some("password123\n"));
    let laptop = signed_in(&process, "r@example.com", "password123").await;
    let phone = signed_in(&process, "r@example.com", "password123").await;

    // Every change shows on the very next call of the running server.
    cli_ok(&process, &["org", "add", "acme", "--name", "Acme"], None);
    cli_ok(&process, &["member", "add", "acme", "r@example.com", "--role", "viewer"], None);
    cli_ok(&process, &["user", "set-role", "r@example.com", "operator"], None);
    let (_, view) = whoami(&process, &laptop).await;
    assert_eq!(view["user"]["roles"], json!(["operator"]));
    assert_eq!(view["orgs"][0]["slug"], "acme");
    assert_eq!(view["orgs"][0]["role"], "viewer");
    let orgs = call("orgs over HTTP", admin.get(process.at("/api/admin/orgs")), 200).await;
    assert_eq!(orgs, cli_json(&process, &["org", "list", "--json"]));

    let sessions = cli_json(&process, &["session", "list", "r@example.com", "--json"]);
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");
    let laptop_id = view["session"]["id"].as_str().unwrap().to_owned();
    find(&sessions, "id", &laptop_id);
    let out = cli_ok(&process, &["session", "revoke", &laptop_id], None);
    assert!(out.contains(&laptop_id), "{out}");
    assert_eq!(whoami(&process, &laptop).await.0, 401);
    assert_eq!(whoami(&process, &phone).await.0, 200);
    cli_fails(&process, &["session", "revoke", &laptop_id], None, "not found");
    let out = cli_ok(&process, &["session", "revoke-all", "r@example.com"], None);
    assert!(out.contains("revoked 1 session(s)"), "{out}");
    assert_eq!(whoami(&process, &phone).await.0, 401);

    // Disabling ends a live session at once and refuses sign-in.
    let tablet = signed_in(&process, "r@example.com", "password123").await;
    cli_ok(&process, &["user", "disable", "r@example.com"], None);
    let (status, body) = whoami(&process, &tablet).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{body}");
    let (status, body) = sign_in_status(&process, "r@example.com", "password123").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_credentials")), "{body}");
    let user = call("disabled over HTTP", admin.get(process.at("/api/admin/users/r@example.com")), 200).await;
    assert_eq!(user["disabled"], true);
    cli_ok(&process, &["user", "enable", "r@example.com"], None);
    signed_in(&process, "r@example.com", "password123").await;

    // The admin's session and password were never involved.
    assert_eq!(whoami(&process, &admin).await.0, 200);
    signed_in(&process, ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
