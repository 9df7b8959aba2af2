//! The device authorization grant (RFC 8628, contract section 7): a device asks for codes, a
//! signed-in person types the user code on `/device`, sees the client and approves or denies,
//! and the device's polls hear `authorization_pending`, `slow_down`, `access_denied`,
//! `expired_token` or its tokens, once. The page is driven through its own HTML forms, with the
//! session cookie, as a browser without JavaScript would.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer, browser};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, LOCATION};
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A client registered through the admin API: (client id, secret).
async fn register(airlock: &AirlockProcess, admin: &reqwest::Client, body: Value) -> (String, Option<String>) {
    let resp = admin.post(airlock.at("/api/admin/clients")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "register a client");
    let client: Value = resp.json().await.unwrap();
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().map(str::to_owned))
}

/// A public client of the device grant (a TV app, a CLI).
async fn device_client(airlock: &AirlockProcess, admin: &reqwest::Client) -> String {
    let body = json!({
        "name": "Living-room TV", "public": true, "grant_types": [DEVICE_GRANT, "refresh_token"],
        "scopes": "openid profile email offline_access",
    });
    register(airlock, admin, body).await.0
}

/// `POST /oauth/device_authorization` as `client_id` (public): status and body.
async fn device_authorization(airlock: &AirlockProcess, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = reqwest::Client::new().post(airlock.at("/oauth/device_authorization")).form(form).send().await.unwrap();
    let status = resp.status();
    assert_eq!(resp.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    (status, resp.json().await.unwrap())
}

/// Codes for a public client: the whole answer.
async fn codes(airlock: &AirlockProcess, client_id: &str, scope: &str) -> Value {
    let (status, body) = device_authorization(airlock, &[("client_id", client_id), ("scope", scope)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// One poll of the token endpoint by the device: status and body.
async fn poll(airlock: &AirlockProcess, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", client_id), ("device_code", device_code)])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(resp.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    (status, resp.json().await.unwrap())
}

fn error_of(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("<none>"))
}

/// A pending poll: `authorization_pending`, or its variant `slow_down` for a fast poller.
fn is_pending(answer: &(StatusCode, Value)) -> bool {
    matches!(error_of(answer), (StatusCode::BAD_REQUEST, "authorization_pending" | "slow_down"))
}

async fn signed_in(airlock: &AirlockProcess) -> reqwest::Client {
    let person = browser();
    assert_eq!(airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    person
}

/// The person posts the device page's form: status and the page.
async fn post_device(
    person: &reqwest::Client,
    airlock: &AirlockProcess,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let resp = person.post(airlock.at("/device")).form(form).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// An access token verified against the JWKS (RS256, `typ: at+jwt`, the issuer): its claims.
async fn verified_claims(airlock: &AirlockProcess, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(airlock.at("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&airlock.url]);
    validation.set_audience(&["airlock"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the access token verifies").claims
}

#[tokio::test]
async fn a_device_is_approved_on_the_page_and_gets_its_tokens_once_on_both_stores() {
    for redis in [None, Some(RedisServer::start())] {
        let options = redis.as_ref().map_or_else(AirlockOptions::default, |r| AirlockOptions::redis(&r.url()));
        let airlock = AirlockProcess::start(options).await;
        let admin = airlock.admin().await;
        let client_id = device_client(&airlock, &admin).await;

        let answer = codes(&airlock, &client_id, "openid email offline_access").await;
        let user_code = answer["user_code"].as_str().unwrap().to_owned();
        let device_code = answer["device_code"].as_str().unwrap().to_owned();
        assert!(device_code.len() >= 43, "a device code has high entropy: {device_code}");
        assert!(
            user_code.len() == 9 && user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
            "a user code is short and unambiguous: {user_code}"
        );
        assert_eq!(answer["verification_uri"], format!("{}/device", airlock.url));
        assert_eq!(answer["verification_uri_complete"], format!("{}/device?user_code={}", airlock.url, user_code));
        assert_eq!((answer["expires_in"].as_u64(), answer["interval"].as_u64()), (Some(600), Some(5)));

        // The device polls: pending; polled again at once, slow down, by 5 more seconds.
        assert_eq!(
            error_of(&poll(&airlock, &client_id, &device_code).await),
            (StatusCode::BAD_REQUEST, "authorization_pending")
        );
        let fast = poll(&airlock, &client_id, &device_code).await;
        assert_eq!(error_of(&fast), (StatusCode::BAD_REQUEST, "slow_down"));
        assert!(fast.1["error_description"].as_str().unwrap().contains("10 seconds"), "{}", fast.1);

        // Without a session, the page sends the person to sign in and back with the code.
        let anonymous = browser();
        let complete = answer["verification_uri_complete"].as_str().unwrap();
        let resp = anonymous.get(complete).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        let login = resp.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(login.starts_with("/login?redirect=%2Fdevice%3Fuser_code%3D"), "{login}");

        // The link fills the code in and approves nothing (RFC 8628 section 5.4).
        let person = signed_in(&airlock).await;
        let resp = person.get(complete).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let page = resp.text().await.unwrap();
        assert!(page.contains(&format!("value=\"{user_code}\"")), "the code is filled in: {page}");
        assert!(!page.contains("id=\"approve\""), "no approval on the link alone");
        assert!(is_pending(&poll(&airlock, &client_id, &device_code).await), "still pending after the link");

        // Typed (any case, no dash), the page names the client and the scopes in words.
        let typed = user_code.replace('-', " ").to_lowercase();
        let (status, page) = post_device(&person, &airlock, &[("user_code", &typed)]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Connect Living-room TV?"), "{page}");
        assert!(page.contains("See your email address") && page.contains("Stay signed in when you are away"), "{page}");
        assert!(page.contains("id=\"approve\"") && page.contains("id=\"deny\""), "{page}");
        assert!(is_pending(&poll(&airlock, &client_id, &device_code).await), "seeing the client approves nothing");

        let (status, page) =
            post_device(&person, &airlock, &[("user_code", &user_code), ("decision", "approve")]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Living-room TV is connected"), "{page}");

        let (status, tokens) = poll(&airlock, &client_id, &device_code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "email offline_access openid");
        assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string(), "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let claims = verified_claims(&airlock, access).await;
        assert_eq!(claims["client_id"], client_id.as_str());
        let view: Value = reqwest::Client::new()
            .get(airlock.at("/api/auth/session"))
            .header(AUTHORIZATION, format!("Bearer {access}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["auth"]["method"], "access_token", "{view}");
        assert_eq!(view["auth"]["client_id"], client_id.as_str(), "{view}");
        assert_eq!(view["user"]["email"], ADMIN_EMAIL);

        // Single use: the device code again is invalid_grant; the refresh token refreshes.
        assert_eq!(
            error_of(&poll(&airlock, &client_id, &device_code).await),
            (StatusCode::BAD_REQUEST, "invalid_grant")
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let resp = reqwest::Client::new()
            .post(airlock.at("/oauth/token"))
            .form(&[("grant_type", "refresh_token"), ("client_id", &client_id), ("refresh_token", refresh)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // The used user code is no longer one to approve.
        let (status, page) =
            post_device(&person, &airlock, &[("user_code", &user_code), ("decision", "approve")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("That code is wrong, has expired or was already used"), "{page}");

        let audit: Value = admin
            .get(airlock.at("/api/admin/audit?event=oauth.device.approve"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = audit.as_array().or_else(|| audit["records"].as_array()).cloned().unwrap_or_default();
        assert!(
            records.iter().any(|r| r["actor"] == ADMIN_EMAIL && r["subject"] == client_id.as_str()),
            "the approval is audited: {audit}"
        );
    }
}

#[tokio::test]
async fn denied_expired_and_guessed_codes_get_nothing() {
    let airlock = AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_OAUTH_DEVICE_CODE_TTL", "2s")).await;
    let admin = airlock.admin().await;
    let client_id = device_client(&airlock, &admin).await;
    let person = signed_in(&airlock).await;

    // Denied: the device hears access_denied.
    let denied = codes(&airlock, &client_id, "openid").await;
    let user_code = denied["user_code"].as_str().unwrap();
    assert_eq!(post_device(&person, &airlock, &[("user_code", user_code)]).await.0, StatusCode::OK);
    let (status, page) = post_device(&person, &airlock, &[("user_code", user_code), ("decision", "deny")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Request denied") && page.contains("Nothing was shared with Living-room TV"), "{page}");
    let device_code = denied["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&airlock, &client_id, device_code).await), (StatusCode::BAD_REQUEST, "access_denied"));

    // Expired: the device hears expired_token, the page says so.
    let expired = codes(&airlock, &client_id, "openid").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let device_code = expired["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&airlock, &client_id, device_code).await), (StatusCode::BAD_REQUEST, "expired_token"));
    let user_code = expired["user_code"].as_str().unwrap();
    let (status, page) = post_device(&person, &airlock, &[("user_code", user_code), ("decision", "approve")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("That code is wrong, has expired or was already used"), "{page}");

    // Another client's device code, and a made-up one, are invalid_grant.
    let other = device_client(&airlock, &admin).await;
    let fresh = codes(&airlock, &client_id, "openid").await;
    let device_code = fresh["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&airlock, &other, device_code).await), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(error_of(&poll(&airlock, &client_id, "made-up").await), (StatusCode::BAD_REQUEST, "invalid_grant"));

    // Guesses: wrong codes are said to be wrong, then counted into a pause, which even the
    // right code does not get past.
    let mut status = StatusCode::OK;
    for guess in ["BCDF-GHJK", "nonsense", "ZZZZ-ZZZZ", "BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"] {
        let (answer, page) = post_device(&person, &airlock, &[("user_code", guess)]).await;
        status = answer;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(page.contains("Too many wrong codes") && page.contains("try again in"), "{page}");
            break;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("That code is wrong"), "{page}");
    }
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "guessing is paused");
    let right = fresh["user_code"].as_str().unwrap();
    assert_eq!(post_device(&person, &airlock, &[("user_code", right)]).await.0, StatusCode::TOO_MANY_REQUESTS);

    // A decision that is neither approve nor deny is a bad request, not a page error.
    let another = signed_in(&airlock).await;
    let (status, _) = post_device(&another, &airlock, &[("user_code", right), ("decision", "maybe")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_clients_of_the_device_grant_get_codes_and_they_register_for_it() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;

    let discovery: Value =
        reqwest::get(airlock.at("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["device_authorization_endpoint"], format!("{}/oauth/device_authorization", airlock.url));
    assert!(discovery["grant_types_supported"].as_array().unwrap().iter().any(|g| g == DEVICE_GRANT), "{discovery}");

    // A web app without the grant is refused, at both endpoints.
    let (web, web_secret) =
        register(&airlock, &admin, json!({"name": "Web app", "redirect_uris": ["https://app.example.com/cb"]})).await;
    let web_secret = web_secret.unwrap();
    let (status, body) = device_authorization(&airlock, &[("client_id", &web), ("client_secret", &web_secret)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")), "{body}");
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .basic_auth(&web, Some(&web_secret))
        .form(&[("grant_type", DEVICE_GRANT), ("device_code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized_client");

    // Unknown clients, wrong secrets, no client at all: invalid_client.
    let (status, body) = device_authorization(&airlock, &[("client_id", "cli_nobody")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = device_authorization(&airlock, &[("scope", "openid")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (confidential, secret) =
        register(&airlock, &admin, json!({"name": "Kiosk", "grant_types": [DEVICE_GRANT], "scopes": "openid read"}))
            .await;
    let secret = secret.expect("a confidential device client has a secret");
    let (status, body) =
        device_authorization(&airlock, &[("client_id", &confidential), ("client_secret", "wrong")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) =
        device_authorization(&airlock, &[("client_id", &confidential), ("client_secret", &secret)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        poll(&airlock, &confidential, body["device_code"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED,
        "a confidential client polls with its secret"
    );

    // Scopes and resources follow the authorization endpoint's rules.
    let tv = device_client(&airlock, &admin).await;
    let (status, body) = device_authorization(&airlock, &[("client_id", &tv), ("scope", "openid write")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{body}");
    let (status, body) = device_authorization(&airlock, &[("client_id", &tv), ("scope", "openid bogus")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{body}");
    let resource = [("client_id", tv.as_str()), ("resource", "https://evil.example.net/api")];
    let (status, body) = device_authorization(&airlock, &resource).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    // Not a form: a 400 in OAuth's words.
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/device_authorization"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");

    // A browser-based client from another origin: open CORS, no CSRF refusal.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, airlock.at("/oauth/device_authorization"))
        .header("origin", "https://tv.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("*"));
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/device_authorization"))
        .header("origin", "https://tv.example.net")
        .header("sec-fetch-site", "cross-site")
        .form(&[("client_id", tv.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Dynamic registration (RFC 7591) accepts the device grant, with no redirect URI.
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/register"))
        .json(&json!({"client_name": "CLI", "grant_types": [DEVICE_GRANT, "refresh_token"],
                      "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.unwrap();
    assert!(registered["grant_types"].as_array().unwrap().iter().any(|g| g == DEVICE_GRANT), "{registered}");
    let cli = registered["client_id"].as_str().unwrap();
    assert_eq!(device_authorization(&airlock, &[("client_id", cli)]).await.0, StatusCode::OK);
}
