//! Local JWT verification on one core, two ways:
//! - `signature`: the check edge-mw makes on a token it has not seen (key by kid from airlock's
//!   JWKS, the key's algorithm, signature, issuer, audience, expiry), with `jsonwebtoken`, the
//!   crate edge-mw uses, and nothing cached;
//! - `middleware`: bearer requests through edge-mw's layer in process (repeats of one token, so
//!   its verified-token cache answers after the first).
//!
//! `bench-jwt-verify <airlock-url> <issuer> <jwt> [seconds]` prints one JSON line.

use axum::body::Body;
use axum::http::Request;
use edge_mw::AirlockLayer;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};

fn rate(seconds: f64, mut work: impl FnMut() -> bool) -> Result<f64, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut count = 0u64;
    while Instant::now() < deadline {
        for _ in 0..64 {
            if !work() {
                return Err("a verification failed".into());
            }
            count += 1;
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, airlock, issuer, jwt, rest @ ..] = args.as_slice() else {
        return Err("usage: bench-jwt-verify <airlock-url> <issuer> <jwt> [seconds]".into());
    };
    let seconds: f64 = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    // One thread: the figures are per core.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    let header = jsonwebtoken::decode_header(jwt)?;
    let kid = header.kid.ok_or("the token has no kid")?;
    let jwks: JwkSet = runtime.block_on(async {
        reqwest::get(format!("{airlock}/.well-known/jwks.json")).await?.error_for_status()?.json().await
    })?;
    let key = DecodingKey::from_jwk(jwks.find(&kid).ok_or("kid not in the JWKS")?)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["airlock"]);
    let signature = rate(seconds, || jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation).is_ok())?;

    let middleware = runtime.block_on(async {
        let layer =
            AirlockLayer::builder("bench").airlock_url(airlock).verify_jwts_locally(issuer, &["airlock"]).build()?;
        let mut app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" })).layer(layer);
        let request = || Request::get("/").header("authorization", format!("Bearer {jwt}")).body(Body::empty());
        let first = ServiceExt::<Request<Body>>::ready(&mut app).await?.call(request()?).await?;
        if !first.status().is_success() {
            return Err(format!("the token was refused: {}", first.status()).into());
        }
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut count = 0u64;
        while Instant::now() < deadline {
            for _ in 0..256 {
                let response = ServiceExt::<Request<Body>>::ready(&mut app).await?.call(request()?).await?;
                if !response.status().is_success() {
                    return Err("a request was refused".into());
                }
                count += 1;
            }
        }
        Ok::<f64, Box<dyn std::error::Error>>(count as f64 / started.elapsed().as_secs_f64())
    })?;
    println!(
        "{{\"alg\": \"{:?}\", \"signature_per_second_per_core\": {signature:.0}, \"middleware_per_second_per_core\": {middleware:.0}}}",
        header.alg
    );
    Ok(())
}
