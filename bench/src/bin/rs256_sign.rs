//! The physical bound of a token endpoint that signs RS256: signatures per second on one thread,
//! with the crates and key airlock uses (a 2048-bit RSA key made by the `rsa` crate and read from
//! PKCS#8 PEM by `jsonwebtoken` 11 on aws-lc-rs, as `airlock/src/tokens/keys.rs` does), over the
//! header and claims of a client_credentials access token (`typ: at+jwt`, a `kid`, a fresh `jti`
//! per token), two ways, each for half the time:
//! - `signatures`: the key pair parsed once and kept, as airlock's `KeyRing` signs (the bound);
//! - `jsonwebtoken_encode`: `jsonwebtoken::encode`, whose aws-lc signer parses and checks the
//!   DER key again for every token.
//!
//! `bench-rs256-sign [seconds]` prints one JSON line.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::EncodePrivateKey;
use serde::Serialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Failure = Box<dyn std::error::Error>;

/// The fields of airlock's `Claims` that a client_credentials token carries, in its order.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: [&'a str; 1],
    exp: i64,
    iat: i64,
    jti: String,
    scope: &'a str,
    client_id: &'a str,
}

/// Tokens per second of `sign` (given a serial for the jti) on this thread, for `seconds`.
fn rate(seconds: f64, mut sign: impl FnMut(u64) -> Result<String, Failure>) -> Result<f64, Failure> {
    std::hint::black_box(sign(0)?); // the first token sets up whatever is set up once
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut count = 0u64;
    while Instant::now() < deadline {
        for _ in 0..16 {
            count += 1;
            std::hint::black_box(sign(count)?);
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<(), Failure> {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let pem = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)?;
    let key = EncodingKey::from_rsa_pem(pem.as_bytes())?;
    let pair = RsaKeyPair::from_der(key.as_bytes()).map_err(|e| format!("the key: {e}"))?;
    let rng = SystemRandom::new();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa_0123456789abcdef01234567".to_owned());
    header.typ = Some("at+jwt".to_owned());
    let client = "cli_0123456789abcdef01234567";
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let claims = |serial: u64| Claims {
        iss: "http://127.0.0.1:7000",
        sub: client,
        aud: ["airlock"],
        exp: now + 900,
        iat: now,
        jti: format!("at_{serial:024x}"),
        scope: "read",
        client_id: client,
    };
    let signatures = rate(seconds / 2.0, |serial| {
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&claims(serial))?, &mut token);
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut signature).map_err(|e| format!("sign: {e}"))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    })?;
    let encode = rate(seconds / 2.0, |serial| Ok(jsonwebtoken::encode(&header, &claims(serial), &key)?))?;
    println!(
        "{{\"signatures_per_second_per_core\": {signatures:.0}, \"jsonwebtoken_encode_per_second_per_core\": {encode:.0}}}"
    );
    Ok(())
}
