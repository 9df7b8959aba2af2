//! Property tests for what edge-mw reads from untrusted requests: header names and values,
//! cookies, Accept, bearer tokens. Driven through the real layer (no airlock is reachable, so a
//! credential that gets as far as airlock is answered 502 quickly): nothing panics, and no
//! identity header a client sent survives.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::routing::get;
use edge_mw::AirlockLayer;
use proptest::prelude::*;
use std::time::Duration;
use tower::ServiceExt;

fn app() -> Router {
    let layer = AirlockLayer::builder("lore")
        .airlock_url("http://127.0.0.1:9")
        .timeout(Duration::from_millis(200))
        .public_path("/public/*")
        .build()
        .unwrap();
    let echo = |headers: HeaderMap| async move {
        let spoofed = headers.keys().any(|k| {
            let folded = k.as_str().replace('_', "-");
            folded.starts_with("x-lore-user-") || folded.starts_with("x-lore-auth-")
        });
        if spoofed { StatusCode::IM_A_TEAPOT } else { StatusCode::OK }
    };
    Router::new().route("/public/echo", get(echo)).layer(layer)
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof!["[xX][-_][lL][oO][rR][eE][-_](user|auth|USER|Auth)[-_][a-z_-]{0,8}", "[a-zA-Z0-9_-]{1,24}",]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn requests_never_panic_and_spoofed_headers_never_pass(
        names in prop::collection::vec(header_name(), 0..6),
        value in prop::collection::vec(any::<u8>(), 0..64),
        cookie in prop::collection::vec(any::<u8>(), 0..128),
        accept in "[ -~]{0,64}",
        bearer in "[ -~]{0,80}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            for path in ["/public/echo", "/private"] {
                let mut request = Request::get(path).body(Body::empty()).unwrap();
                let headers = request.headers_mut();
                for name in &names {
                    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_bytes(&value)) {
                        headers.append(n, v);
                    }
                }
                if let Ok(v) = HeaderValue::from_bytes(&cookie) {
                    headers.insert("cookie", v);
                }
                if let Ok(v) = HeaderValue::from_str(&accept) {
                    headers.insert("accept", v);
                }
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer {bearer}")) {
                    headers.insert("authorization", v);
                }
                let response = app().oneshot(request).await.unwrap();
                prop_assert_ne!(response.status(), StatusCode::IM_A_TEAPOT, "a spoofed identity header reached the app");
                prop_assert!(response.status() != StatusCode::INTERNAL_SERVER_ERROR);
            }
            Ok(())
        })?;
    }
}
