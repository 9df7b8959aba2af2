//! The OAuth 2.1 / OpenID Connect provider (contract section 7), driven by someone else's
//! client code: the Rust `openidconnect` crate as a relying party (discovery, the code flow with
//! PKCE and a nonce, ID-token verification against the JWKS, refresh, userinfo), and the attacks
//! a provider must refuse, each tried for real: a replayed code, a reused refresh token, a
//! missing or `plain` PKCE, a redirect URI not registered, an unknown client, scopes beyond the
//! client's.

use airlock_system_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisCluster, RedisServer, browser, repo_root,
    venv_python,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use std::collections::HashMap;
use url::Url;

const REDIRECT: &str = "https://app.example.com/callback";

/// A client registered through the admin API: (client id, secret).
async fn register(airlock: &AirlockProcess, admin: &reqwest::Client, body: Value) -> (String, Option<String>) {
    let resp = admin.post(airlock.at("/api/admin/clients")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "register a client");
    let client: Value = resp.json().await.unwrap();
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().map(str::to_owned))
}

/// What a person's browser does with an authorization URL: follow it (signed in), allow on the
/// consent page if one is shown, and hand back the redirect's query.
async fn authorize_in_browser(
    person: &reqwest::Client,
    airlock: &AirlockProcess,
    url: &str,
) -> HashMap<String, String> {
    let resp = person.get(url).send().await.unwrap();
    let resp = if resp.status() == StatusCode::OK {
        let page = resp.text().await.unwrap();
        assert!(page.contains("wants to use your account"), "the consent page: {page}");
        // The consent form posts the request back, with the answer.
        let query: Vec<(String, String)> = Url::parse(url).unwrap().query_pairs().into_owned().collect();
        let mut form: Vec<(String, String)> = query.into_iter().filter(|(k, _)| k != "prompt").collect();
        form.push(("decision".into(), "allow".into()));
        person.post(airlock.at("/oauth/authorize")).form(&form).send().await.unwrap()
    } else {
        resp
    };
    assert!(resp.status().is_redirection(), "back to the client: {}", resp.status());
    let location = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "to the registered redirect URI: {location}");
    location.query_pairs().into_owned().collect()
}

async fn signed_in(airlock: &AirlockProcess) -> reqwest::Client {
    let person = browser();
    assert_eq!(airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    person
}

fn http_client() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("an http client")
}

#[tokio::test]
async fn the_openidconnect_crate_signs_in_with_pkce_refreshes_and_reads_userinfo() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let (id, secret) = register(
        &airlock,
        &admin,
        json!({"name": "Grafana", "redirect_uris": [REDIRECT], "scopes": "openid profile email offline_access orgs"}),
    )
    .await;

    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(airlock.url.clone()).unwrap(), &http)
        .await
        .expect("discovery, with the JWKS");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(id.clone()), secret.map(ClientSecret::new))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let person = signed_in(&airlock).await;
    let back = authorize_in_browser(&person, &airlock, url.as_str()).await;
    assert_eq!(back.get("state"), Some(state.secret()), "state comes back");
    assert_eq!(back.get("iss"), Some(&airlock.url), "RFC 9207 iss, the very issuer string");

    let tokens = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchanged");
    let id_token = tokens.id_token().expect("an ID token for openid");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies: signature, iss, aud, nonce");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(ADMIN_EMAIL));
    assert!(claims.auth_time().is_some(), "auth_time");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            tokens.access_token().secret().split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt", "RFC 9068 access token");

    let userinfo: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.expect("userinfo");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some(ADMIN_EMAIL));

    let refresh = tokens.refresh_token().expect("offline_access gives a refresh token").clone();
    let refreshed = client.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.expect("a refresh");
    let rotated = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(rotated.secret(), refresh.secret(), "the refresh token rotates");
    client.exchange_refresh_token(&rotated).unwrap().request_async(&http).await.expect("the rotated one refreshes");
}

/// An authorization URL for `client_id` (PKCE S256 from a fixed verifier), with `extra` params.
fn authorize_url(airlock: &AirlockProcess, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&airlock.at("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid offline_access")
        .append_pair("state", "s-123")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The person allows the app (`id`) and the app redeems the code: the token answer.
async fn tokens_for_app(person: &reqwest::Client, airlock: &AirlockProcess, id: &str, secret: &str) -> Value {
    let code = authorize_in_browser(person, airlock, &authorize_url(airlock, id, &[])).await["code"].clone();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = token(airlock, id, secret, &redeem).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn token(airlock: &AirlockProcess, id: &str, secret: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(resp.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "no-store");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_replayed_code_and_a_reused_refresh_token_revoke_what_they_issued() {
    let airlock = AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_OAUTH_REFRESH_GRACE", "1s")).await;
    let admin = airlock.admin().await;
    let (id, secret) = register(&airlock, &admin, json!({"name": "App", "redirect_uris": [REDIRECT]})).await;
    let secret = secret.unwrap();
    let person = signed_in(&airlock).await;

    // A code, redeemed once; a replay is refused and revokes the refresh token it issued.
    let code = authorize_in_browser(&person, &airlock, &authorize_url(&airlock, &id, &[])).await["code"].clone();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, first) = token(&airlock, &id, &secret, &redeem).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, replay) = token(&airlock, &id, &secret, &redeem).await;
    assert_eq!((status, replay["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "a replayed code");
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, _) =
        token(&airlock, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the replay revoked the tokens the code issued");

    // A refresh may narrow the scopes, never widen them (`email` is the client's, but was not
    // granted).
    let granted = tokens_for_app(&person, &airlock, &id, &secret).await;
    let widen = [
        ("grant_type", "refresh_token"),
        ("refresh_token", granted["refresh_token"].as_str().unwrap()),
        ("scope", "openid email offline_access"),
    ];
    let (status, widened) = token(&airlock, &id, &secret, &widen).await;
    assert_eq!((status, widened["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "widened");
    let narrow = [
        ("grant_type", "refresh_token"),
        ("refresh_token", granted["refresh_token"].as_str().unwrap()),
        ("scope", "offline_access"),
    ];
    let (status, narrowed) = token(&airlock, &id, &secret, &narrow).await;
    assert_eq!((status, narrowed["scope"].as_str()), (StatusCode::OK, Some("offline_access")), "narrowed");

    // A refresh family: a rotated token is still answered within the grace period, and after
    // it revokes the whole family, the newest token included.
    let first = tokens_for_app(&person, &airlock, &id, &secret).await;
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let (airlock, id, secret) = (&airlock, &id, &secret);
    let refresh = |t: String| async move {
        token(airlock, id, secret, &[("grant_type", "refresh_token"), ("refresh_token", &t)]).await
    };
    let (status, second) = refresh(old.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, _) = refresh(old.clone()).await;
    assert_eq!(status, StatusCode::OK, "a concurrent refresh within the grace period is answered");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, reuse) = refresh(old).await;
    assert_eq!((status, reuse["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "a reuse after it");
    let newest = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = refresh(newest).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the whole family is revoked");
}

#[tokio::test]
async fn bad_authorization_requests_are_refused_where_they_should_be() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let (id, secret) = register(&airlock, &admin, json!({"name": "App", "redirect_uris": [REDIRECT]})).await;
    let person = signed_in(&airlock).await;

    // Before the redirect URI is trusted: a page, never a redirect.
    for (what, url) in [
        ("unknown client", authorize_url(&airlock, "cli_nobody", &[])),
        ("unregistered redirect", authorize_url(&airlock, &id, &[]).replace("app.example.com", "evil.example")),
    ] {
        let resp = person.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(resp.headers().get(LOCATION).is_none(), "{what}: no redirect");
    }

    // After: back to the client, with the error, state and iss.
    let no_pkce = authorize_url(&airlock, &id, &[]).replace("code_challenge", "x_challenge");
    let plain = authorize_url(&airlock, &id, &[]).replace("code_challenge_method=S256", "code_challenge_method=plain");
    let too_much = authorize_url(&airlock, &id, &[]).replace("scope=openid+offline_access", "scope=openid+control");
    let elsewhere = authorize_url(&airlock, &id, &[("resource", "https://evil.example/api")]);
    for (what, url, error) in [
        ("no PKCE", no_pkce, "invalid_request"),
        ("plain PKCE", plain, "invalid_request"),
        ("scope beyond the client's", too_much, "invalid_scope"),
        ("a resource airlock does not serve", elsewhere, "invalid_target"),
    ] {
        let resp = person.get(&url).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{what}: {}", resp.status());
        let back: HashMap<String, String> =
            Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap().query_pairs().into_owned().collect();
        assert_eq!(back.get("error").map(String::as_str), Some(error), "{what}");
        assert_eq!(back.get("state").map(String::as_str), Some("s-123"), "{what}: state");
        assert_eq!(back.get("iss"), Some(&airlock.url), "{what}: iss on errors too");
    }

    // prompt=none without a session: login_required, not the sign-in page.
    let resp = browser().get(authorize_url(&airlock, &id, &[("prompt", "none")])).send().await.unwrap();
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT) && location.contains("error=login_required"), "{location}");
    // Without a session otherwise: the sign-in page, coming back to the request.
    let resp = browser().get(authorize_url(&airlock, &id, &[])).send().await.unwrap();
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/login?redirect=%2Foauth%2Fauthorize"), "{location}");

    // Consent is remembered for a confidential client: the second time, straight back.
    let first = authorize_in_browser(&person, &airlock, &authorize_url(&airlock, &id, &[])).await;
    assert!(first.contains_key("code"));
    let resp = person.get(authorize_url(&airlock, &id, &[])).send().await.unwrap();
    assert!(resp.status().is_redirection(), "no consent page the second time");
    // prompt=consent asks again.
    let resp = person.get(authorize_url(&airlock, &id, &[("prompt", "consent")])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "prompt=consent shows the page");

    // The token endpoint: a wrong secret, a wrong verifier.
    let code = first["code"].clone();
    let (status, body) =
        token(&airlock, &id, "alc_wrong", &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let resp = reqwest::Client::new()
        .post(airlock.at("/oauth/token"))
        .basic_auth(&id, Some("alc_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"airlock\"", "the scheme to retry with");
    let secret = secret.unwrap();
    let bad_verifier = "x".repeat(43);
    let wrong = [("grant_type", "authorization_code"), ("code", &code), ("code_verifier", bad_verifier.as_str())];
    let (status, body) = token(&airlock, &id, &secret, &wrong).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "wrong verifier");
}

#[tokio::test]
async fn client_credentials_give_only_what_the_client_was_given_and_introspection_tells_it() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let (id, secret) =
        register(&airlock, &admin, json!({"name": "CI", "grant_types": ["client_credentials"], "scopes": "read"}))
            .await;
    let secret = secret.unwrap();
    let (status, body) = token(&airlock, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (status, body) =
        token(&airlock, &id, &secret, &[("grant_type", "client_credentials"), ("scope", "write")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "fail closed");

    let (_, issued) = token(&airlock, &id, &secret, &[("grant_type", "client_credentials")]).await;
    let access = issued["access_token"].as_str().unwrap();
    let introspect = async |token: &str| -> Value {
        let resp = reqwest::Client::new()
            .post(airlock.at("/oauth/introspect"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    };
    let introspected = introspect(access).await;
    assert_eq!((introspected["active"].as_bool(), introspected["client_id"].as_str()), (Some(true), Some(id.as_str())));
    let garbage = introspect("not-a-token").await;
    assert_eq!(garbage, json!({"active": false}));

    // airlock's own APIs as a protected resource (RFC 9728): a token asked for that resource
    // carries airlock's audience, and works at airlock's API.
    let resource: Value =
        reqwest::get(airlock.at("/.well-known/oauth-protected-resource")).await.unwrap().json().await.unwrap();
    assert_eq!(resource["resource"], airlock.url.as_str());
    assert_eq!(resource["authorization_servers"], json!([airlock.url]));
    let (status, own) =
        token(&airlock, &id, &secret, &[("grant_type", "client_credentials"), ("resource", &airlock.url)]).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            own["access_token"].as_str().unwrap().split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], json!(["airlock"]), "airlock's own audience");
    assert_eq!(claims["client_id"], id.as_str());

    // Discovery: both documents, the same JSON, one issuer.
    let a: Value = reqwest::get(airlock.at("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    let b: Value =
        reqwest::get(airlock.at("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["issuer"], airlock.url.as_str());
}

#[tokio::test]
async fn authlib_runs_the_code_flow_refreshes_revokes_and_uses_client_credentials() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let (id, secret) = register(&airlock, &admin, json!({"name": "Authlib app", "redirect_uris": [REDIRECT]})).await;
    let (cc_id, cc_secret) =
        register(&airlock, &admin, json!({"name": "Script", "grant_types": ["client_credentials"], "scopes": "read"}))
            .await;
    let person = browser();
    let resp = airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = resp.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();

    let out = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/python/oauth_authlib.py"))
        .env("ISSUER", &airlock.url)
        .env("REDIRECT_URI", REDIRECT)
        .env("SESSION_COOKIE", &cookie)
        .env("EMAIL", ADMIN_EMAIL)
        .env("CLIENT_ID", &id)
        .env("CLIENT_SECRET", secret.unwrap())
        .env("CC_CLIENT_ID", &cc_id)
        .env("CC_CLIENT_SECRET", cc_secret.unwrap())
        .output()
        .expect("run authlib");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "authlib failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "discovery-issuer",
        "consent-page",
        "iss-in-response",
        "code-exchanged",
        "id-token-verified",
        "userinfo",
        "refreshed",
        "introspected",
        "revoked-refresh-refused",
        "client-credentials",
    ] {
        assert!(stdout.contains(&format!("\"check\": \"{check}\", \"ok\": true")), "{check} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn an_app_withdrawn_on_the_account_page_asks_again_and_its_refresh_tokens_end() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let (id, secret) =
        register(&airlock, &admin, json!({"name": "Wiki <b>app</b>", "redirect_uris": [REDIRECT]})).await;
    let secret = secret.unwrap();
    let person = signed_in(&airlock).await;
    let tokens = tokens_for_app(&person, &airlock, &id, &secret).await;

    let page = person.get(airlock.at("/account")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Wiki &#60;b&#62;app&#60;/b&#62;") || page.contains("Wiki &lt;b&gt;app&lt;/b&gt;"),
        "listed, escaped:\n{page}"
    );
    let resp = person.post(airlock.at(&format!("/account/apps/{id}/revoke"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) =
        token(&airlock, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "its refresh tokens ended");
    let resp = person.get(authorize_url(&airlock, &id, &[])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the consent page again");
}

#[tokio::test]
async fn apps_register_themselves_manage_their_registration_and_sign_in_as_public_clients() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let http = reqwest::Client::new();
    let metadata: Value =
        http.get(airlock.at("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    let endpoint = metadata["registration_endpoint"].as_str().expect("a registration endpoint").to_owned();
    let registered = http
        .post(&endpoint)
        .json(&json!({
            "client_name": "An MCP client",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    assert!(registered.get("client_secret").is_none(), "a public client has no secret");
    let management = registered["registration_client_uri"].as_str().unwrap().to_owned();
    let token = registered["registration_access_token"].as_str().unwrap().to_owned();

    // RFC 7592: read and update with the registration token; nothing without it.
    let read = http.get(&management).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(http.get(&management).bearer_auth("alg_wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let updated: Value = http
        .put(&management)
        .bearer_auth(&token)
        .json(&json!({"client_name": "Renamed", "redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none", "application_type": "native"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["client_name"], "Renamed");

    // What a registration may not ask for.
    for (what, body, error) in [
        (
            "client credentials",
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        ("a script redirect", json!({"redirect_uris": ["javascript:alert(1)"]}), "invalid_redirect_uri"),
        ("no redirect", json!({"client_name": "x"}), "invalid_redirect_uri"),
    ] {
        let resp = http.post(&endpoint).json(&body).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{what}");
    }

    // The code flow as a public client: a loopback redirect on any port, consent every time,
    // the code redeemed with PKCE alone.
    let person = signed_in(&airlock).await;
    let mut url = Url::parse(&airlock.at("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &id)
        .append_pair("redirect_uri", "http://127.0.0.1:53682/callback")
        .append_pair("scope", "openid")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for _ in 0..2 {
        let page = person.get(url.as_str()).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "a public client is asked every time");
        let page = page.text().await.unwrap();
        assert!(page.contains("Renamed") && page.contains("127.0.0.1"), "the name and the host it returns to:\n{page}");
    }
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("decision".into(), "allow".into()));
    let back = person.post(airlock.at("/oauth/authorize")).form(&form).send().await.unwrap();
    let location = Url::parse(back.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(location.port(), Some(53682), "back to the port it asked for");
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens: Value = http
        .post(airlock.at("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:53682/callback"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");

    // Deleted: gone for good.
    assert_eq!(http.delete(&management).bearer_auth(&token).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(person.get(url.as_str()).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    // And registration can be turned off.
    let closed =
        AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_OAUTH_DYNAMIC_REGISTRATION", "false")).await;
    let metadata: Value =
        http.get(closed.at("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(metadata.get("registration_endpoint").is_none());
    let resp =
        http.post(closed.at("/oauth/register")).json(&json!({"redirect_uris": [REDIRECT]})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_with_a_hint_and_asks_without_one() {
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    let after = "https://app.example.com/signed-out";
    let (id, secret) = register(
        &airlock,
        &admin,
        json!({"name": "App", "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [after]}),
    )
    .await;
    let secret = secret.unwrap();
    let person = signed_in(&airlock).await;
    let tokens = tokens_for_app(&person, &airlock, &id, &secret).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let logout = |extra: &[(&str, &str)]| {
        let mut url = Url::parse(&airlock.at("/oauth/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(extra);
        url.to_string()
    };

    // An unregistered destination: an error page, never a redirect.
    let resp = person
        .get(logout(&[("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());
    // Without a hint: a page asks first, and the session lives on.
    let resp = person.get(logout(&[("client_id", &id), ("post_logout_redirect_uri", after)])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the confirmation page");
    let check = person.get(airlock.at("/api/auth/session")).send().await.unwrap();
    assert_eq!(check.status(), StatusCode::OK, "not signed out by a link alone");
    // With the hint: signed out at once, and sent where the client registered, with state.
    let resp = person
        .get(logout(&[("id_token_hint", hint), ("post_logout_redirect_uri", after), ("state", "bye")]))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()[LOCATION].to_str().unwrap(), format!("{after}?state=bye"));
    let check = person.get(airlock.at("/api/auth/session")).send().await.unwrap();
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED, "signed out");
}

/// openid-client and oauth4webapi against an airlock on `options`' store.
async fn node_clients_complete_their_flows(options: AirlockOptions) {
    let airlock = AirlockProcess::start(options).await;
    let admin = airlock.admin().await;
    let (id, secret) = register(&airlock, &admin, json!({"name": "Node app", "redirect_uris": [REDIRECT]})).await;
    let device_grant = "urn:ietf:params:oauth:grant-type:device_code";
    let (device_id, _) =
        register(&airlock, &admin, json!({"name": "Node CLI", "public": true, "grant_types": [device_grant]})).await;
    let person = browser();
    let resp = airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = resp.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();

    let out = std::process::Command::new("node")
        .arg(repo_root().join("tests/node/openid_client.mjs"))
        .env("ISSUER", &airlock.url)
        .env("REDIRECT_URI", REDIRECT)
        .env("SESSION_COOKIE", &cookie)
        .env("EMAIL", ADMIN_EMAIL)
        .env("CLIENT_ID", &id)
        .env("CLIENT_SECRET", secret.unwrap())
        .env("DEVICE_CLIENT_ID", &device_id)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "openid-client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "oc-discovery",
        "oc-code-flow",
        "oc-id-token-claims",
        "oc-userinfo",
        "oc-refresh",
        "oc-introspection",
        "oc-revocation",
        "o4w-discovery",
        "o4w-code-flow",
        "o4w-introspection",
        "o4w-forged-iss-refused",
        "device-codes",
        "device-page-names-the-client",
        "device-approved",
        "device-tokens",
    ] {
        assert!(stdout.contains(&format!("\"check\":\"{check}\",\"ok\":true")), "{check} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn openid_client_and_oauth4webapi_run_the_code_flow_refresh_introspect_revoke_and_the_device_flow() {
    node_clients_complete_their_flows(AirlockOptions::default()).await;
}

/// Every OAuth record (clients, consents, codes, refresh families) on Redis and on a Cluster,
/// where each collection is a slot of its own: the same flows.
#[tokio::test]
async fn the_node_clients_flows_work_on_redis_and_on_a_cluster() {
    let redis = RedisServer::start();
    node_clients_complete_their_flows(AirlockOptions::redis(&redis.url())).await;
    let cluster = RedisCluster::start(3);
    node_clients_complete_their_flows(AirlockOptions::redis(&cluster.url())).await;
}
