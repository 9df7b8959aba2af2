//! Client ID Metadata Documents (contract section 7): a `client_id` that is a URL names the JSON
//! document at that URL. In `--dev` a small server of this test serves the documents on
//! loopback: the code flow works with the URL as the client id, and documents that do not name
//! themselves, are too large, redirect, or claim a secret are refused on the error page. Outside
//! `--dev`, a URL whose host is loopback or private is refused before any connection: the
//! listener behind it never sees one.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, browser};
use axum::Router;
use axum::http::{StatusCode as AxumStatus, Uri, header};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use url::Url;

const REDIRECT: &str = "https://app.example.com/callback";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The test's document server on loopback: its base URL and how many requests it answered.
async fn document_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let doc = |base: &str, path: &str, extra: Value| {
        let mut doc = json!({
            "client_id": format!("{base}{path}"), "client_name": "Claude-ish MCP client",
            "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        doc.to_string()
    };
    let docs: Arc<HashMap<&'static str, String>> = Arc::new(HashMap::from([
        ("/good.json", doc(&base, "/good.json", json!({}))),
        ("/other.json", doc(&base, "/other.json", json!({}))),
        // Names itself, but answered from /mismatch.json.
        ("/mismatch.json", doc(&base, "/other.json", json!({}))),
        ("/big.json", doc(&base, "/big.json", json!({"padding": "x".repeat(6 * 1024)}))),
        ("/secret.json", doc(&base, "/secret.json", json!({"token_endpoint_auth_method": "client_secret_basic"}))),
    ]));
    let counted = hits.clone();
    let app = Router::new().fallback(move |uri: Uri| {
        let (docs, hits) = (docs.clone(), counted.clone());
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            match uri.path() {
                "/redirect.json" => (AxumStatus::FOUND, [(header::LOCATION, "/good.json")]).into_response(),
                path => match docs.get(path) {
                    Some(body) => ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
                    None => AxumStatus::NOT_FOUND.into_response(),
                },
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

fn authorize_url(airlock: &AirlockProcess, client_id: &str) -> String {
    let mut url = Url::parse(&airlock.at("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid offline_access")
        .append_pair("state", "s-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

async fn token(airlock: &AirlockProcess, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = reqwest::Client::new().post(airlock.at("/oauth/token")).form(form).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_client_named_by_its_metadata_document_signs_in_and_bad_documents_are_refused() {
    let (base, hits) = document_server().await;
    let airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let discovery: Value =
        reqwest::get(airlock.at("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["client_id_metadata_document_supported"], true);

    let person = browser();
    assert_eq!(airlock.sign_in(&person, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::OK);
    let client_id = format!("{base}/good.json");
    for round in 0..2 {
        // Consent every time: such a client is public.
        let resp = person.get(authorize_url(&airlock, &client_id)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "round {round}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("Allow Claude-ish MCP client?") && page.contains("app.example.com"), "{page}");
        let mut form: Vec<(String, String)> =
            Url::parse(&authorize_url(&airlock, &client_id)).unwrap().query_pairs().into_owned().collect();
        form.push(("decision".into(), "allow".into()));
        let resp = person.post(airlock.at("/oauth/authorize")).form(&form).send().await.unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let (status, tokens) = token(
            &airlock,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string(), "{tokens}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the document is fetched once, then cached");
    // A metadata-document client has no secret to offer.
    let (status, body) = token(
        &airlock,
        &[("grant_type", "refresh_token"), ("client_id", &client_id), ("client_secret", "s"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");

    for (path, why) in [
        ("/mismatch.json", "its client_id is not the URL it was fetched from"),
        ("/big.json", "larger than 5120 bytes"),
        ("/redirect.json", "it answered a redirect"),
        ("/secret.json", "a metadata-document client is public"),
        ("/missing.json", "it answered 404"),
    ] {
        let bad = format!("{base}{path}");
        let resp = person.get(authorize_url(&airlock, &bad)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}: an error page, never a redirect");
        assert!(resp.headers().get(LOCATION).is_none());
        let page = resp.text().await.unwrap();
        assert!(page.contains("cannot be used") && page.contains(why), "{path}: {page}");
        let (status, body) =
            token(&airlock, &[("grant_type", "authorization_code"), ("client_id", &bad), ("code", "x")]).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    }
}

#[tokio::test]
async fn outside_dev_a_metadata_url_on_a_loopback_or_private_address_is_never_connected_to() {
    // Whatever listens here must never see a connection from airlock.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let airlock = AirlockProcess::start(AirlockOptions::example_test(
        "https://airlock.example.test",
        "lore=https://lore.example.test",
    ))
    .await;
    for client_id in [
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://localhost:{port}/client.json"),
        format!("https://[::ffff:7f00:1]:{port}/client.json"),
        "https://10.255.255.1/client.json".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://100.64.0.1/client.json".to_owned(),
    ] {
        let started = std::time::Instant::now();
        let resp = browser().get(authorize_url(&airlock, &client_id)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{client_id}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("not a public internet address"), "{client_id}: {page}");
        assert!(started.elapsed() < Duration::from_secs(2), "{client_id}: refused at once, not after a timeout");
        let (status, body) =
            token(&airlock, &[("grant_type", "authorization_code"), ("client_id", &client_id), ("code", "x")]).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    }
    // And http is no metadata document outside --dev: just an unknown client.
    let resp = browser().get(authorize_url(&airlock, &format!("http://127.0.0.1:{port}/client.json"))).send().await;
    let page = resp.unwrap().text().await.unwrap();
    assert!(page.contains("not registered"), "{page}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "airlock connected to a loopback address");
}
