//! Call-count properties of the middleware that a real airlock cannot report: identical
//! concurrent checks share one call, and the optional cache answers repeats. The stand-in for
//! airlock is a real HTTP server on loopback that counts what it receives.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use edge_mw::{AirlockLayer, AuthUser};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tower::ServiceExt;

/// Answers every session check after `delay`, counting calls and remembering the cookies sent.
async fn counting_airlock(delay: Duration) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let cookies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, k) = (calls.clone(), cookies.clone());
    let app = Router::new().route(
        "/api/auth/session",
        get(move |headers: HeaderMap| {
            let (calls, cookies) = (c.clone(), k.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                cookies.lock().unwrap().push(cookie);
                tokio::time::sleep(delay).await;
                axum::Json(json!({
                    "user": {"id": "usr_1", "email": "ada@example.com", "name": "Ada", "roles": []},
                    "orgs": [{"id": "org_1", "slug": "acme", "name": "Acme", "role": "operator"}],
                    "auth": {"method": "session", "scopes": ["*"]}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls, cookies)
}

fn app(layer: AirlockLayer) -> Router {
    Router::new().route("/", get(|user: AuthUser| async move { user.role().to_string() })).layer(layer)
}

fn request(cookie: &str) -> Request<Body> {
    Request::get("/").header("cookie", cookie).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn identical_concurrent_checks_are_one_call() {
    let (url, calls, _) = counting_airlock(Duration::from_millis(300)).await;
    let service = app(AirlockLayer::builder("lore").airlock_url(&url).build().unwrap());
    let mut pending = Vec::new();
    for i in 0..20 {
        let cookie = if i % 2 == 0 { "airlock_session=aaa" } else { "airlock_session=bbb" };
        pending.push(tokio::spawn(service.clone().oneshot(request(cookie))));
    }
    for handle in pending {
        assert_eq!(handle.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per distinct credential");
    // Live by default: a later request asks again.
    let resp = service.oneshot(request("airlock_session=aaa")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn only_the_session_cookie_is_forwarded() {
    let (url, _, cookies) = counting_airlock(Duration::ZERO).await;
    let service = app(AirlockLayer::builder("lore").airlock_url(&url).build().unwrap());
    let resp = service.oneshot(request("app_secret=s3cret; airlock_session=tok; theme=dark")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(*cookies.lock().unwrap(), ["airlock_session=tok"]);
}

#[tokio::test]
async fn the_optional_cache_answers_repeats_until_its_ttl() {
    let (url, calls, _) = counting_airlock(Duration::ZERO).await;
    let layer = AirlockLayer::builder("lore").airlock_url(&url).cache(Duration::from_millis(300), 100).build().unwrap();
    let service = app(layer);
    for _ in 0..5 {
        assert_eq!(service.clone().oneshot(request("airlock_session=aaa")).await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(service.clone().oneshot(request("airlock_session=aaa")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the entry expired after its TTL");
}
