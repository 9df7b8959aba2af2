//! The pages in a real browser (contract section 13): Debian's Chromium, driven by the
//! scenarios of `tests/browser/`, against real airlock and LORE processes. Chromium itself
//! applies the Content-Security-Policy, the cookie scoping and the redirects; any console
//! error, CSP violation or dialog fails the scenario, and axe-core checks every page.
//!
//! - `--dev`: airlock and LORE on two loopback ports.
//! - TLS across subdomains: `airlock.example.test`, `lore.example.test`, `hubble.example.test`
//!   (a second LORE, slug `hubble`) and `lore.example.other`, mapped to TLS fronts with
//!   `--host-resolver-rules`; the development CA is trusted through an NSS database made with
//!   `certutil`, as a person would install a CA, not by ignoring certificate errors.

use airlock_system_tests::browser::run_scenario;
use airlock_system_tests::tls::dev_certificate;
use airlock_system_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, LoreProcess, TlsFront, https_browser,
};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

const ADA: (&str, &str, &str) = ("ada@example.com", "ada-browser-password", "Ada Lovelace");
const XSS: (&str, &str, &str) = ("xss@example.com", "xss-browser-password", "<img src=x onerror=alert(1)>");

/// Creates Ada (a member of Acme) and a user whose name is markup, through the admin API.
async fn add_people(admin: &reqwest::Client, airlock: &str) {
    for (email, password, name) in [ADA, XSS] {
        let resp = admin
            .post(format!("{airlock}/api/admin/users"))
            .json(&json!({"email": email, "password": password, "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "create {email}: {}", resp.text().await.unwrap_or_default());
    }
    let resp = admin.post(format!("{airlock}/api/admin/orgs")).json(&json!({"slug": "acme", "name": "Acme"})).send();
    assert_eq!(resp.await.unwrap().status(), 201);
    let resp = admin
        .post(format!("{airlock}/api/admin/orgs/acme/members"))
        .json(&json!({"email": ADA.0, "role": "member"}))
        .send();
    assert_eq!(resp.await.unwrap().status(), 201);
}

fn people_env() -> Vec<(&'static str, String)> {
    vec![
        ("ADA_EMAIL", ADA.0.into()),
        ("ADA_PASSWORD", ADA.1.into()),
        ("ADA_NAME", ADA.2.into()),
        ("XSS_EMAIL", XSS.0.into()),
        ("XSS_PASSWORD", XSS.1.into()),
        ("XSS_NAME", XSS.2.into()),
        ("ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("THROTTLED_EMAIL", "mallory@example.com".into()),
    ]
}

/// A home directory for Chromium with an NSS database that trusts the development CA.
fn home_trusting_the_dev_ca(home: &Path) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let ca = home.join("airlock-test-ca.der");
    std::fs::write(&ca, dev_certificate().ca.as_ref()).unwrap();
    let db_arg = format!("sql:{}", db.display());
    let run = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil is missing: ./scripts/test installs libnss3-tools");
        assert!(out.status.success(), "certutil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["-d", &db_arg, "-N", "--empty-password"]);
    run(&["-d", &db_arg, "-A", "-t", "C,,", "-n", "airlock-test-ca", "-i", &ca.display().to_string()]);
}

#[tokio::test]
async fn dev_sign_in_account_banner_and_sign_out_in_chromium() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = airlock.admin().await;
    add_people(&admin, &airlock.url).await;
    let lore = LoreProcess::start(&airlock.url, &[("LORE_TIMEOUT", "1s"), ("LORE_BREAKER_OPEN", "1s")]).await;
    // An OAuth app returning to LORE's home page.
    let callback = format!("{}/", lore.url);
    let client: serde_json::Value = admin
        .post(airlock.at("/api/admin/clients"))
        .json(&serde_json::json!({"name": "Wiki", "redirect_uris": [callback], "scopes": "openid email"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A TV app of the device grant (RFC 8628): public, no redirect.
    let tv: serde_json::Value = admin
        .post(airlock.at("/api/admin/clients"))
        .json(&serde_json::json!({
            "name": "Living-room TV", "public": true, "scopes": "openid email",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut env = people_env();
    env.extend([
        ("AIRLOCK_URL", airlock.url.clone()),
        ("LORE_URL", lore.url.clone()),
        ("HOME", home.path().display().to_string()),
        ("OAUTH_CLIENT_ID", client["client_id"].as_str().unwrap().to_owned()),
        ("OAUTH_REDIRECT", callback),
        ("DEVICE_CLIENT_ID", tv["client_id"].as_str().unwrap().to_owned()),
    ]);
    let printed = run_scenario("dev.mjs", &env, Some(&mut airlock)).await;
    println!("{printed}");
}

#[tokio::test]
async fn one_sign_in_across_subdomains_over_tls_in_chromium() {
    const AIRLOCK: &str = "https://airlock.example.test";
    const LORE: &str = "https://lore.example.test";
    const HUBBLE: &str = "https://hubble.example.test";
    let trusted = format!("lore={LORE},hubble={HUBBLE}");
    let airlock = AirlockProcess::start(AirlockOptions::example_test(AIRLOCK, &trusted)).await;
    let login = format!("{AIRLOCK}/login");
    let lore = LoreProcess::start(&airlock.url, &[("LORE_PUBLIC_URL", LORE), ("LORE_LOGIN_URL", &login)]).await;
    let hubble = LoreProcess::start(
        &airlock.url,
        &[("LORE_SLUG", "hubble"), ("LORE_PUBLIC_URL", HUBBLE), ("LORE_LOGIN_URL", &login)],
    )
    .await;
    let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let airlock_front = TlsFront::start(loopback(airlock.port));
    let lore_front = TlsFront::start(loopback(lore.port));
    let hubble_front = TlsFront::start(loopback(hubble.port));
    let other_front = TlsFront::start(loopback(lore.port));

    let admin = https_browser(&[("airlock.example.test", &airlock_front)]);
    let resp = admin
        .post(format!("{AIRLOCK}/api/auth/sign-in"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    add_people(&admin, AIRLOCK).await;

    let home = tempfile::tempdir().unwrap();
    home_trusting_the_dev_ca(home.path());
    let rules = [
        ("airlock.example.test", &airlock_front),
        ("lore.example.test", &lore_front),
        ("hubble.example.test", &hubble_front),
        ("lore.example.other", &other_front),
    ]
    .iter()
    .map(|(host, front)| format!("MAP {host} 127.0.0.1:{}", front.port))
    .collect::<Vec<_>>()
    .join(", ");
    let mut env = people_env();
    env.extend([
        ("AIRLOCK_URL", AIRLOCK.to_owned()),
        ("LORE_URL", LORE.to_owned()),
        ("HUBBLE_URL", HUBBLE.to_owned()),
        ("OTHER_URL", "https://lore.example.other".to_owned()),
        ("HOST_RULES", rules),
        ("HOME", home.path().display().to_string()),
    ]);
    let printed = run_scenario("tls.mjs", &env, None).await;
    println!("{printed}");

    // What crossed the wire, decrypted by the fronts: the cookie went to the example.test apps
    // and never to lore.example.other, which Chromium did visit.
    assert!(lore_front.received().contains("__Secure-airlock_session="), "LORE received the cookie");
    assert!(hubble_front.received().contains("__Secure-airlock_session="), "hubble received the cookie");
    let other = other_front.received();
    assert!(other.contains("GET / HTTP/1.1"), "Chromium visited lore.example.other:\n{other}");
    assert!(!other.contains("airlock_session"), "the cookie leaked to lore.example.other:\n{other}");
}
