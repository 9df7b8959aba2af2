//! Cross-subdomain single sign-on, over real TLS (contract sections 1, 2 and 4).
//!
//! Airlock (not in `--dev`: `__Secure-airlock_session; Domain=example.test; Secure`) is served as
//! `https://airlock.example.test`, LORE as `https://lore.example.test` and, through a third
//! front, as `https://lore.example.other`. Each front is a TLS-terminating proxy with a
//! development certificate; the client is a real reqwest client with a cookie jar that trusts
//! only the development CA and resolves the names to the fronts. Whether a cookie travels is
//! decided by the jar's own domain matching, exactly as in a browser.

use airlock_system_tests::tls::dev_certificate;
use airlock_system_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, LoreProcess, TlsFront, https_browser,
};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const AIRLOCK: &str = "https://airlock.example.test";
const LORE: &str = "https://lore.example.test";
const OTHER: &str = "https://lore.example.other";
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const ADA: (&str, &str) = ("ada@example.com", "ada-password-1");

/// Airlock and LORE as plain-HTTP processes, each behind TLS under its public name.
struct Sso {
    airlock: AirlockProcess,
    _lore: LoreProcess,
    airlock_front: TlsFront,
    lore_front: TlsFront,
    other_front: TlsFront,
}

impl Sso {
    async fn start() -> Self {
        let airlock = AirlockProcess::start(AirlockOptions::example_test(AIRLOCK, &format!("lore={LORE}"))).await;
        let lore = LoreProcess::start(
            &airlock.url,
            &[("LORE_PUBLIC_URL", LORE), ("LORE_LOGIN_URL", &format!("{AIRLOCK}/login"))],
        )
        .await;
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let sso = Self {
            airlock_front: TlsFront::start(loopback(airlock.port)),
            lore_front: TlsFront::start(loopback(lore.port)),
            other_front: TlsFront::start(loopback(lore.port)),
            airlock,
            _lore: lore,
        };
        // Ada, created through the admin API over TLS.
        let admin = sso.client();
        assert_eq!(sso.sign_in(&admin, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 200);
        let resp = admin
            .post(format!("{AIRLOCK}/api/admin/users"))
            .json(&json!({"email": ADA.0, "password": ADA.1, "name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "create ada: {}", resp.text().await.unwrap_or_default());
        sso
    }

    /// A fresh browser: its own cookie jar, all three names resolved to their fronts.
    fn client(&self) -> reqwest::Client {
        https_browser(&[
            ("airlock.example.test", &self.airlock_front),
            ("lore.example.test", &self.lore_front),
            ("lore.example.other", &self.other_front),
        ])
    }

    async fn sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        client
            .post(format!("{AIRLOCK}/api/auth/sign-in"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("sign-in over TLS")
    }
}

/// The `Set-Cookie` header for the session cookie, and the token in it.
fn session_set_cookie(resp: &reqwest::Response) -> (String, String) {
    let header = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Secure-airlock_session="))
        .unwrap_or_else(|| panic!("no __Secure-airlock_session cookie in {:?}", resp.headers()))
        .to_owned();
    let token = header["__Secure-airlock_session=".len()..].split(';').next().unwrap().to_owned();
    (header, token)
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect()
}

async fn whoami(client: &reqwest::Client, origin: &str) -> reqwest::Response {
    client.get(format!("{origin}/api/whoami")).send().await.expect("whoami over TLS")
}

#[tokio::test]
async fn a_sign_in_at_airlock_is_recognised_on_a_sibling_subdomain_and_nowhere_else() {
    let sso = Sso::start().await;
    let browser = sso.client();
    assert_eq!(whoami(&browser, LORE).await.status(), StatusCode::UNAUTHORIZED, "no session yet");

    let signed_in = sso.sign_in(&browser, ADA.0, ADA.1).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let (set_cookie, token) = session_set_cookie(&signed_in);
    let attrs = attributes(&set_cookie);
    for expected in ["domain=example.test", "path=/", "secure", "httponly", "samesite=lax"] {
        assert!(attrs.iter().any(|a| a == expected), "`{expected}` missing from `{set_cookie}`");
    }
    assert!(token.len() >= 43, "a 256-bit token, base64url");

    // The jar sends the parent-domain cookie to the sibling, whose middleware asks airlock.
    let seen = whoami(&browser, LORE).await;
    assert_eq!(seen.status(), StatusCode::OK);
    let seen: Value = seen.json().await.unwrap();
    assert_eq!(seen["x-lore-user-email"], ADA.0, "{seen}");
    assert_eq!(seen["x-lore-user-role"], "viewer");
    assert!(seen["x-lore-user-id"].as_str().is_some_and(|id| id.starts_with("usr_")), "{seen}");
    assert!(
        sso.lore_front.received().contains(&format!("__Secure-airlock_session={token}")),
        "the cookie crossed the lore.example.test front"
    );
    // The HTML page too.
    let page = browser.get(format!("{LORE}/")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(ADA.0));

    // Another registrable domain never receives it, although the very same LORE answers there.
    let api = whoami(&browser, OTHER).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.json::<Value>().await.unwrap()["error"], "unauthenticated");
    let page = browser.get(format!("{OTHER}/")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    let location = page.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("{AIRLOCK}/login?redirect=")), "{location}");
    let other = sso.other_front.received();
    assert!(other.contains("GET /api/whoami"), "requests went through the lore.example.other front");
    assert!(other.contains("host: lore.example.other") || other.contains("Host: lore.example.other"), "{other}");
    assert!(!other.contains("airlock_session"), "the cookie leaked to lore.example.other:\n{other}");

    // And it is the cookie that makes the difference: handed over by hand, the same token works
    // there, so the 401 above came from the jar keeping it to example.test.
    let by_hand = browser
        .get(format!("{OTHER}/api/whoami"))
        .header(COOKIE, format!("__Secure-airlock_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_hand.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_fronts_speak_real_tls_with_the_development_certificate() {
    let sso = Sso::start().await;
    // A client that does not trust the development CA refuses the handshake.
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .resolve("airlock.example.test", sso.airlock_front.addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let refused = stranger.get(format!("{AIRLOCK}/health")).send().await;
    assert!(refused.is_err(), "an untrusted certificate was accepted: {refused:?}");
    // A name the certificate does not cover is refused too, even with the CA trusted.
    let wrong_name = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(dev_certificate().reqwest_root())
        .resolve("airlock.elsewhere.test", sso.airlock_front.addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(wrong_name.get("https://airlock.elsewhere.test/health").send().await.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    assert!(plain.get(format!("http://127.0.0.1:{}/health", sso.airlock_front.port)).send().await.is_err());
    // The trusting client gets through, and what crossed the wire outside was TLS: the front saw
    // the request only after decrypting it.
    let browser = sso.client();
    assert_eq!(browser.get(format!("{AIRLOCK}/health")).send().await.unwrap().status(), 200);
    assert!(sso.airlock_front.received().contains("GET /health HTTP/1.1"));
}

#[tokio::test]
async fn browser_flow_login_redirect_form_sign_in_and_sign_out_across_subdomains() {
    let sso = Sso::start().await;
    let browser = sso.client();

    // 1. LORE sends an anonymous browser to airlock's login page, carrying its public URL.
    let page = browser.get(format!("{LORE}/")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    let login = page.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(login, "https://airlock.example.test/login?redirect=https%3A%2F%2Flore.example.test%2F");

    // 2. The login page (over TLS) carries the validated redirect in its form.
    let form = browser.get(&login).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    assert!(form.contains(r#"<input type="hidden" name="redirect" value="https://lore.example.test/">"#), "{form}");

    // A form post from an origin that is not trusted is refused (CSRF), and signs nobody in.
    let forged = browser
        .post(format!("{AIRLOCK}/api/auth/sign-in"))
        .header(ORIGIN, OTHER)
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", ADA.0), ("password", ADA.1), ("redirect", "https://lore.example.test/")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(forged.json::<Value>().await.unwrap()["error"], "invalid_origin");
    assert_eq!(whoami(&browser, LORE).await.status(), StatusCode::UNAUTHORIZED);

    // 3. The form post, as the browser sends it from airlock's own page: 303 back to LORE.
    let signed_in = browser
        .post(format!("{AIRLOCK}/api/auth/sign-in"))
        .header(ORIGIN, AIRLOCK)
        .header("sec-fetch-site", "same-origin")
        .header(ACCEPT, HTML)
        .form(&[("email", ADA.0), ("password", ADA.1), ("redirect", "https://lore.example.test/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "https://lore.example.test/");
    let (set_cookie, token) = session_set_cookie(&signed_in);
    assert!(attributes(&set_cookie).contains(&"domain=example.test".to_owned()), "{set_cookie}");

    // 4. Following it shows the LORE page, signed in.
    let target = signed_in.headers()[LOCATION].to_str().unwrap().to_owned();
    let home = browser.get(&target).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(home.contains(r#"<a class="brand" href="/">LORE</a>"#) && home.contains(ADA.0), "{home}");
    assert_eq!(whoami(&browser, LORE).await.status(), StatusCode::OK);

    // 5. Sign-out at airlock (a button on LORE posting to airlock: a trusted origin) ends the
    // session on LORE too: the jar drops the cookie, and the server forgot the session.
    let signed_out = browser
        .post(format!("{AIRLOCK}/api/auth/sign-out"))
        .header(ORIGIN, LORE)
        .header("sec-fetch-site", "same-site")
        .form(&[("redirect", "https://lore.example.test/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_out.headers()[LOCATION], "https://lore.example.test/");
    let (cleared, empty) = session_set_cookie(&signed_out);
    let cleared_attrs = attributes(&cleared);
    assert!(empty.is_empty(), "{cleared}");
    for expected in ["domain=example.test", "path=/", "max-age=0"] {
        assert!(cleared_attrs.iter().any(|a| a == expected), "`{expected}` missing from `{cleared}`");
    }
    assert_eq!(whoami(&browser, LORE).await.status(), StatusCode::UNAUTHORIZED);
    let page = browser.get(format!("{LORE}/")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(page.headers()[LOCATION].to_str().unwrap(), login);
    // Replaying the old token by hand (a stolen copy) no longer works anywhere.
    let replay = browser
        .get(format!("{LORE}/api/whoami"))
        .header(COOKIE, format!("__Secure-airlock_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let check = reqwest::Client::new()
        .get(sso.airlock.at("/api/auth/session"))
        .header(COOKIE, format!("__Secure-airlock_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
}
