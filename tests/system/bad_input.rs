//! Hostile and malformed input through the real HTTP surface: every malformed request gets a
//! 4xx JSON error (never a 5xx, never a hang), no redirect ever leaves airlock's trusted
//! origins, cross-site state changes are refused, and a failed sign-in never tells whether the
//! email exists.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer, browser};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::{Body, Client, Method, RequestBuilder, StatusCode, Url};
use serde_json::{Value, json};
use std::time::Duration;

/// Every request here has its own bound: a hang is a failure, not a stuck test run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The origin of `trusted_origins` in the redirect tests.
const LORE: &str = "http://lore.localtest:7071";

/// A client with no cookie jar, for requests whose `Cookie` header the test writes itself.
fn bare() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(REQUEST_TIMEOUT).build().expect("http client")
}

/// One malformed request and what it must be answered with.
struct Case {
    name: String,
    request: RequestBuilder,
    status: StatusCode,
    error: &'static str,
}

fn case(name: impl Into<String>, request: RequestBuilder, status: u16, error: &'static str) -> Case {
    Case { name: name.into(), request, status: StatusCode::from_u16(status).unwrap(), error }
}

/// Sends `request` within [`REQUEST_TIMEOUT`] and checks the answer is the expected 4xx with a
/// JSON body `{"error": "<error>", …}`. Returns the body, or what went wrong.
async fn check_error(name: &str, request: RequestBuilder, status: StatusCode, error: &str) -> Result<Value, String> {
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{name}: no answer within {REQUEST_TIMEOUT:?}: {e:?}"))?;
    let got = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.map_err(|e| format!("{name}: body: {e}"))?;
    if !got.is_client_error() || got != status {
        return Err(format!("{name}: expected {status}, got {got}: {text}"));
    }
    if !content_type.starts_with("application/json") {
        return Err(format!("{name}: content-type {content_type:?}: {text}"));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON ({e}): {text}"))?;
    if body["error"].as_str() != Some(error) {
        return Err(format!("{name}: expected error {error:?}: {text}"));
    }
    Ok(body)
}

async fn expect_error(name: &str, request: RequestBuilder, status: StatusCode, error: &str) -> Value {
    check_error(name, request, status, error).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Runs every case, then fails with the list of those that went wrong.
async fn run_cases(cases: Vec<Case>) -> usize {
    let count = cases.len();
    let mut failures = Vec::new();
    for Case { name, request, status, error } in cases {
        if let Err(failure) = check_error(&name, request, status, error).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n"));
    count
}

/// The session cookie's name for a `--dev` process.
const COOKIE_NAME: &str = "airlock_session";

/// Malformed credentials on `GET /api/auth/session`: each one is simply unauthenticated.
fn credential_cases(process: &AirlockProcess) -> Vec<Case> {
    let c = bare();
    let session = process.at("/api/auth/session");
    let get = || c.get(&session);
    let cookie = |value: String| get().header(COOKIE, value);
    let mut non_utf8 = format!("{COOKIE_NAME}=").into_bytes();
    non_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0x28]);
    non_utf8.extend_from_slice(&[0xf0; 34]);
    let non_utf8 = HeaderValue::from_bytes(&non_utf8).expect("obs-text header");
    let duplicates = (0..300).map(|i| format!("{COOKIE_NAME}=dup{i:040}")).collect::<Vec<_>>().join("; ");
    vec![
        case("no cookie at all", get(), 401, "unauthenticated"),
        case("empty cookie value", cookie(format!("{COOKIE_NAME}=")), 401, "unauthenticated"),
        case("cookie name without value", cookie(COOKIE_NAME.to_owned()), 401, "unauthenticated"),
        case("8 KB cookie", cookie(format!("{COOKIE_NAME}={}", "A".repeat(8 * 1024))), 401, "unauthenticated"),
        case("non-UTF-8 cookie bytes", get().header(COOKIE, non_utf8), 401, "unauthenticated"),
        case("token one character short", cookie(format!("{COOKIE_NAME}={}", "a".repeat(42))), 401, "unauthenticated"),
        case("token one character long", cookie(format!("{COOKIE_NAME}={}", "a".repeat(44))), 401, "unauthenticated"),
        case(
            "token in standard base64",
            cookie(format!("{COOKIE_NAME}={}", "ab+/".repeat(11)[..43].to_owned())),
            401,
            "unauthenticated",
        ),
        case(
            "token with multibyte characters",
            cookie(format!("{COOKIE_NAME}={}a", "é".repeat(21))),
            401,
            "unauthenticated",
        ),
        case("well-formed unknown token", cookie(format!("{COOKIE_NAME}={}", "Q".repeat(43))), 401, "unauthenticated"),
        case("300 duplicate session cookies", cookie(duplicates), 401, "unauthenticated"),
        case("cookie header of separators", cookie(";;; ;=;==; =".to_owned()), 401, "unauthenticated"),
        case("garbage Authorization", get().header(AUTHORIZATION, "!!garbage!! ~~ \"'"), 401, "unauthenticated"),
        case("empty Bearer", get().header(AUTHORIZATION, "Bearer "), 401, "unauthenticated"),
        case("Basic with broken base64", get().header(AUTHORIZATION, "Basic %%%not-base64%%%"), 401, "unauthenticated"),
        case(
            "8 KB Bearer",
            get().header(AUTHORIZATION, format!("Bearer {}", "x".repeat(8 * 1024))),
            401,
            "unauthenticated",
        ),
    ]
}

/// A body that arrives in pieces with no `Content-Length` (chunked transfer encoding).
fn streamed(total: usize) -> Body {
    const CHUNK: usize = 64 * 1024;
    let chunks =
        (0..total.div_ceil(CHUNK)).map(move |i| Ok::<_, std::io::Error>(vec![b'a'; CHUNK.min(total - i * CHUNK)]));
    Body::wrap_stream(futures::stream::iter(chunks))
}

const THREE_MB: usize = 3 * 1024 * 1024;

/// A JSON document `depth` arrays deep.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Malformed bodies, content types, query strings, routes and admin payloads.
fn body_cases(process: &AirlockProcess, admin: &Client) -> Vec<Case> {
    let c = bare();
    let sign_in = process.at("/api/auth/sign-in");
    let post = || c.post(&sign_in);
    let json_body = |body: &str| post().header(CONTENT_TYPE, "application/json").body(body.to_owned());
    let users = process.at("/api/admin/users");
    let mut non_utf8_json = br#"{"email":""#.to_vec();
    non_utf8_json.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    non_utf8_json.extend_from_slice(br#"@example.com","password":"x"}"#);
    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nadmin@example.com\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--XyZ--\r\n";
    let admin_user = process.at("/api/admin/users/admin@example.com");
    vec![
        // Sign-in bodies.
        case("sign-in, empty body, no content type", post(), 400, "invalid_request"),
        case("sign-in, empty JSON body", json_body(""), 400, "invalid_request"),
        case("sign-in, not JSON", json_body("email=admin@example.com&password=x"), 400, "invalid_request"),
        case("sign-in, truncated JSON", json_body(r#"{"email":"admin@example.com","pass"#), 400, "invalid_request"),
        case("sign-in, number email", json_body(r#"{"email":42,"password":"x"}"#), 400, "invalid_request"),
        case(
            "sign-in, array password",
            json_body(r#"{"email":"admin@example.com","password":["x"]}"#),
            400,
            "invalid_request",
        ),
        case("sign-in, null document", json_body("null"), 400, "invalid_request"),
        case("sign-in, null fields", json_body(r#"{"email":null,"password":null}"#), 400, "invalid_request"),
        case(
            "sign-in, object redirect",
            json_body(r#"{"email":"a@b.c","password":"x","redirect":{}}"#),
            400,
            "invalid_request",
        ),
        case("sign-in, empty object", json_body("{}"), 400, "invalid_request"),
        case("sign-in, missing password", json_body(r#"{"email":"admin@example.com"}"#), 400, "invalid_request"),
        case("sign-in, a string document", json_body(r#""admin@example.com""#), 400, "invalid_request"),
        case("sign-in, arrays 10k deep", json_body(&nested(10_000)), 400, "invalid_request"),
        case(
            "sign-in, objects 10k deep",
            json_body(&format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000))),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, 100 KB email",
            json_body(&json!({"email": "a".repeat(100_000), "password": "x"}).to_string()),
            413,
            "payload_too_large",
        ),
        case(
            "sign-in, non-UTF-8 JSON bytes",
            post().header(CONTENT_TYPE, "application/json").body(non_utf8_json.clone()),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, UTF-16 JSON",
            post()
                .header(CONTENT_TYPE, "application/json")
                .body("{\"email\":\"a\"}".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, text/plain",
            post().header(CONTENT_TYPE, "text/plain").body(r#"{"email":"admin@example.com","password":"x"}"#),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, multipart",
            post().header(CONTENT_TYPE, "multipart/form-data; boundary=XyZ").body(multipart),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, non-UTF-8 content type",
            post().header(CONTENT_TYPE, HeaderValue::from_bytes(b"application/\xffjson").unwrap()).body("{}"),
            400,
            "invalid_request",
        ),
        case(
            "sign-in, form missing password",
            post().header(CONTENT_TYPE, "application/x-www-form-urlencoded").body("email=admin%40example.com"),
            400,
            "invalid_request",
        ),
        case("sign-in, 3 MB with Content-Length", json_body(&"a".repeat(THREE_MB)), 413, "payload_too_large"),
        case(
            "sign-in, 3 MB chunked JSON",
            post().header(CONTENT_TYPE, "application/json").body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "sign-in, 3 MB chunked form",
            post().header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "sign-in, 3 MB chunked text",
            post().header(CONTENT_TYPE, "text/plain").body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "sign-out, 3 MB chunked",
            c.post(process.at("/api/auth/sign-out")).body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        // The admin API, with an admin session.
        case(
            "admin create, 3 MB with Content-Length",
            admin.post(&users).header(CONTENT_TYPE, "application/json").body("a".repeat(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "admin create, 3 MB chunked",
            admin.post(&users).header(CONTENT_TYPE, "application/json").body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "admin create, anonymous 3 MB chunked",
            c.post(&users).header(CONTENT_TYPE, "application/json").body(streamed(THREE_MB)),
            413,
            "payload_too_large",
        ),
        case(
            "admin create, text/plain",
            admin.post(&users).header(CONTENT_TYPE, "text/plain").body(r#"{"email":"t@example.com"}"#),
            400,
            "invalid_request",
        ),
        case("admin create, no body", admin.post(&users), 400, "invalid_request"),
        case(
            "admin create, invalid email",
            admin.post(&users).json(&json!({"email": "not-an-email"})),
            400,
            "invalid_request",
        ),
        case(
            "admin create, email with spaces",
            admin.post(&users).json(&json!({"email": "a b@example.com"})),
            400,
            "invalid_request",
        ),
        case(
            "admin create, unknown role",
            admin.post(&users).json(&json!({"email": "t@example.com", "roles": ["emperor"]})),
            400,
            "invalid_request",
        ),
        case(
            "admin create, roles not a list",
            admin.post(&users).json(&json!({"email": "t@example.com", "roles": "admin"})),
            400,
            "invalid_request",
        ),
        case(
            "admin create, unknown field",
            admin.post(&users).json(&json!({"email": "t@example.com", "is_admin": true})),
            400,
            "invalid_request",
        ),
        case(
            "admin create, control characters in name",
            admin.post(&users).json(&json!({"email": "t@example.com", "name": "a\u{0}b"})),
            400,
            "invalid_request",
        ),
        case(
            "admin patch, unknown role",
            admin.patch(&admin_user).json(&json!({"roles": ["emperor"]})),
            400,
            "invalid_request",
        ),
        case(
            "admin patch, disabled as string",
            admin.patch(&admin_user).json(&json!({"disabled": "yes"})),
            400,
            "invalid_request",
        ),
        case(
            "admin patch, unknown field",
            admin.patch(&admin_user).json(&json!({"rolez": []})),
            400,
            "invalid_request",
        ),
        case(
            "admin org, invalid slug",
            admin.post(process.at("/api/admin/orgs")).json(&json!({"slug": "Not A Slug!"})),
            400,
            "invalid_request",
        ),
        case(
            "admin org, empty slug",
            admin.post(process.at("/api/admin/orgs")).json(&json!({"slug": ""})),
            400,
            "invalid_request",
        ),
        case(
            "admin org, slug starting with -",
            admin.post(process.at("/api/admin/orgs")).json(&json!({"slug": "-acme"})),
            400,
            "invalid_request",
        ),
        case(
            "admin member, unknown role",
            admin
                .post(process.at("/api/admin/orgs/acme/members"))
                .json(&json!({"email": ADMIN_EMAIL, "role": "emperor"})),
            400,
            "invalid_request",
        ),
        case(
            "admin member, missing role",
            admin.post(process.at("/api/admin/orgs/acme/members")).json(&json!({"email": ADMIN_EMAIL})),
            400,
            "invalid_request",
        ),
        case(
            "admin user, non-UTF-8 percent-encoded path",
            admin.get(process.at("/api/admin/users/%ff%fe")),
            400,
            "invalid_request",
        ),
        case(
            "admin session, non-UTF-8 percent-encoded path",
            admin.delete(process.at("/api/admin/sessions/%c3%28")),
            400,
            "invalid_request",
        ),
        case("admin user, unknown", admin.get(process.at("/api/admin/users/%2e%2e%2f%2e%2e")), 404, "not_found"),
        // Query strings.
        case(
            "sign-out, redirect given twice",
            c.post(process.at("/api/auth/sign-out?redirect=/a&redirect=/b")),
            400,
            "invalid_request",
        ),
        case(
            "login, redirect given twice",
            c.get(process.at("/login?redirect=/a&redirect=/b")),
            400,
            "invalid_request",
        ),
        // Routing.
        case("unknown route", c.get(process.at("/api/nope")), 404, "not_found"),
        case("unknown admin route", admin.get(process.at("/api/admin/nope")), 404, "not_found"),
        case("path traversal", c.get(process.at("/api/auth/../../etc/passwd")), 404, "not_found"),
        case("GET on sign-in", c.get(&sign_in), 405, "method_not_allowed"),
        case("PUT on sign-in", c.put(&sign_in).json(&json!({})), 405, "method_not_allowed"),
        case("DELETE on the session", c.delete(process.at("/api/auth/session")), 405, "method_not_allowed"),
        case("PUT on admin users", admin.put(&users).json(&json!({})), 405, "method_not_allowed"),
        case(
            "custom method",
            c.request(Method::from_bytes(b"BREW").unwrap(), process.at("/api/auth/session")),
            405,
            "method_not_allowed",
        ),
    ]
}

/// The admin's session must have survived all of the above.
async fn still_signed_in(process: &AirlockProcess, admin: &Client) {
    let resp = admin.get(process.at("/api/auth/session")).timeout(REQUEST_TIMEOUT).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the admin session was lost");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn malformed_requests_get_4xx_json_errors() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let admin = process.admin().await;
    let org = admin.post(process.at("/api/admin/orgs")).json(&json!({"slug": "acme"})).send().await.unwrap();
    assert_eq!(org.status(), 201);

    let mut count = run_cases(credential_cases(&process)).await;
    count += run_cases(body_cases(&process, &admin)).await;
    assert!(count >= 60, "only {count} cases");

    // Lenient but harmless: an invalid percent-escape is kept literally (as browsers do), and a
    // path that decodes to itself never leaves airlock.
    let resp = bare().get(process.at("/login?redirect=%zz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    if let Some(url) = hidden_redirect(&page) {
        assert_eq!(url.origin(), own(&process).origin(), "{page}");
    }

    // A huge but legal email or password costs one failed sign-in, not an error.
    for body in [
        json!({"email": format!("{}@example.com", "a".repeat(60_000)), "password": "x"}),
        json!({"email": ADMIN_EMAIL, "password": "p".repeat(60_000)}),
    ] {
        expect_error(
            "huge credentials",
            bare().post(process.at("/api/auth/sign-in")).json(&body),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }

    // Nothing above broke the process or the admin's session, and nothing was created.
    still_signed_in(&process, &admin).await;
    let users: Value = admin.get(process.at("/api/admin/users")).send().await.unwrap().json().await.unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert!(!process.output().contains("panicked"), "{}", process.output());
}

#[tokio::test]
async fn malformed_credentials_on_redis() {
    let redis = RedisServer::start();
    let process = AirlockProcess::start(AirlockOptions::redis(&redis.url())).await;
    let admin = process.admin().await;
    run_cases(credential_cases(&process)).await;
    still_signed_in(&process, &admin).await;
}

fn own(process: &AirlockProcess) -> Url {
    Url::parse(&process.url).unwrap()
}

/// The `redirect` hidden field of the login page, unescaped and parsed.
fn hidden_redirect(page: &str) -> Option<Url> {
    let marker = "name=\"redirect\" value=\"";
    let start = page.find(marker)? + marker.len();
    let value = &page[start..start + page[start..].find('"').expect("closing quote")];
    let value = value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(Url::parse(&value).unwrap_or_else(|e| panic!("hidden redirect {value:?} is not an absolute URL: {e}")))
}

/// Payloads that must be dropped entirely: the answer is the default target.
const REFUSED: &[&str] = &[
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "https://evil.com",
    "http://evil.com",
    "HTTP://EVIL.COM",
    "https://example.com.evil.com",
    "http://127.0.0.1.evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "https://trusted@evil.com",
    "http://lore.localtest:7071@evil.com",
    "http://lore.localtest:7071.evil.com/",
    "https://lore.localtest:7071/",
    "http://lore.localtest:7072/",
    "http://lore.localtest/",
    "//evil.com/%2f..",
    "//evil.com@lore.localtest:7071",
    "https:evil.com",
    "https:/evil.com",
    "ftp://evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "\t//evil.com",
    "//evil.com\n",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    " //evil.com",
    "\u{0}//evil.com",
    "http://evil.com#http://lore.localtest:7071",
    "http://evil.com?http://lore.localtest:7071",
];

/// Payloads that look like a trick but are, by the URL standard, paths on airlock itself: they
/// may be kept, as long as the answer stays on airlock's origin.
const ON_ORIGIN: &[&str] = &[
    "/%09/evil.com",
    "/%5cevil.com",
    "/%2f%2fevil.com",
    "%2f%2fevil.com",
    "\u{3031}evil.com",
    "/.evil.com",
    "/..//evil.com",
    "http:evil.com",
    "http:/evil.com",
    "evil.com",
    "@evil.com",
];

/// Checks a redirect answer: the right status, an absolute `Location` on `expected_origin`, and
/// exactly `exact` when given.
fn check_location(
    what: &str,
    resp: &reqwest::Response,
    status: u16,
    expected_origin: &Url,
    exact: Option<&str>,
) -> Url {
    assert_eq!(resp.status(), status, "{what}");
    let location = resp.headers().get(LOCATION).unwrap_or_else(|| panic!("{what}: no Location")).to_str().unwrap();
    // Absolute, so that no browser resolves it differently from what airlock checked.
    let url = Url::parse(location).unwrap_or_else(|e| panic!("{what}: Location {location:?} is not absolute: {e}"));
    assert_eq!(url.origin(), expected_origin.origin(), "{what}: Location {location:?} left {expected_origin}");
    assert!(!location.contains("evil.com") || url.path().contains("evil.com"), "{what}: {location:?}");
    if let Some(exact) = exact {
        assert_eq!(location, exact, "{what}");
    }
    url
}

#[tokio::test]
async fn no_open_redirects() {
    let process =
        AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_TRUSTED_ORIGINS", &format!("lore={LORE}"))).await;
    let own = own(&process);
    let landing = own.to_string();
    let login = own.join("/login").unwrap().to_string();
    let form_sign_in = |redirect: &str| {
        browser()
            .post(process.at("/api/auth/sign-in"))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("redirect", redirect)])
            .timeout(REQUEST_TIMEOUT)
            .send()
    };
    let sign_out = |redirect: &str| {
        bare().post(process.at("/api/auth/sign-out")).query(&[("redirect", redirect)]).timeout(REQUEST_TIMEOUT).send()
    };
    let form_sign_out = |redirect: &str| {
        bare().post(process.at("/api/auth/sign-out")).form(&[("redirect", redirect)]).timeout(REQUEST_TIMEOUT).send()
    };
    let login_page = |redirect: &str| {
        bare().get(process.at("/login")).query(&[("redirect", redirect)]).timeout(REQUEST_TIMEOUT).send()
    };

    for &payload in REFUSED.iter().chain(ON_ORIGIN) {
        let refused = REFUSED.contains(&payload);
        let what = format!("redirect={payload:?}");

        let resp = form_sign_in(payload).await.unwrap();
        let set_cookie = resp.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(set_cookie.starts_with(&format!("{COOKIE_NAME}=")), "{what}: sign-in set no cookie");
        check_location(&format!("sign-in {what}"), &resp, 303, &own, refused.then_some(landing.as_str()));

        let resp = sign_out(payload).await.unwrap();
        check_location(&format!("sign-out {what}"), &resp, 303, &own, refused.then_some(login.as_str()));
        let resp = form_sign_out(payload).await.unwrap();
        check_location(&format!("form sign-out {what}"), &resp, 303, &own, refused.then_some(login.as_str()));

        let resp = login_page(payload).await.unwrap();
        assert_eq!(resp.status(), 200, "login page {what}");
        let page = resp.text().await.unwrap();
        match hidden_redirect(&page) {
            None => {}
            Some(_) if refused => panic!("login page {what}: a refused target was carried into the form:\n{page}"),
            Some(url) => assert_eq!(url.origin(), own.origin(), "login page {what}"),
        }
        for fragment in ["evil.com", "javascript", "script:", "data:", "<script"] {
            if refused {
                assert!(
                    !page.to_ascii_lowercase().contains(fragment),
                    "login page {what} echoes {fragment:?}:\n{page}"
                );
            }
        }
    }

    // JSON sign-in answers 200 with no redirect at all, whatever `redirect` says.
    let resp = browser()
        .post(process.at("/api/auth/sign-in"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "redirect": "//evil.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get(LOCATION).is_none());

    // What is allowed: a trusted origin, and a relative path on airlock itself.
    let lore = Url::parse(LORE).unwrap();
    let target = format!("{LORE}/notes/7?tab=history#top");
    check_location("trusted origin", &form_sign_in(&target).await.unwrap(), 303, &lore, Some(&target));
    check_location("trusted origin, sign-out", &sign_out(&target).await.unwrap(), 303, &lore, Some(&target));
    let page = login_page(&target).await.unwrap().text().await.unwrap();
    assert_eq!(hidden_redirect(&page).map(String::from).as_deref(), Some(target.as_str()), "{page}");
    let path = own.join("/some/page?x=1").unwrap().to_string();
    check_location("relative path", &form_sign_in("/some/page?x=1").await.unwrap(), 303, &own, Some(&path));
    check_location("relative path, sign-out", &sign_out("/some/page?x=1").await.unwrap(), 303, &own, Some(&path));
    // And no target at all: the landing page after sign-in, the login page after sign-out.
    let resp = browser()
        .post(process.at("/api/auth/sign-in"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    check_location("no target", &resp, 303, &own, Some(&landing));
    check_location("no target, form sign-out", &form_sign_out("").await.unwrap(), 303, &own, Some(&login));

    // A failed form sign-in shows the form again, carrying a refused target nowhere.
    let resp = browser()
        .post(process.at("/api/auth/sign-in"))
        .form(&[("email", ADMIN_EMAIL), ("password", "wrong"), ("redirect", "//evil.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(hidden_redirect(&page).is_none() && !page.contains("evil.com"), "{page}");
}

/// Sends `request` and expects 403 `invalid_origin`.
async fn refused_origin(what: &str, request: RequestBuilder) {
    let resp = request.timeout(REQUEST_TIMEOUT).send().await.unwrap();
    assert!(resp.headers().get(SET_COOKIE).is_none(), "{what}: a refused request set a cookie");
    assert!(resp.headers().get(LOCATION).is_none(), "{what}: a refused request redirected");
    expect_error_response(what, resp, StatusCode::FORBIDDEN, "invalid_origin").await;
}

async fn expect_error_response(what: &str, resp: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(resp.status(), status, "{what}");
    let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{what}: {body}");
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let process =
        AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_TRUSTED_ORIGINS", &format!("lore={LORE}"))).await;
    let sign_in = process.at("/api/auth/sign-in");
    let sign_out = process.at("/api/auth/sign-out");
    let creds = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let form = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("redirect", "/")];
    let own = process.url.clone();
    let look_alike = format!("{own}.evil.com");
    let own_referer = process.at("/login");
    let foreign: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("foreign Origin", vec![("origin", "https://evil.com")]),
        ("Origin null", vec![("origin", "null")]),
        ("look-alike Origin", vec![("origin", &look_alike)]),
        ("trusted host, other scheme", vec![("origin", "https://lore.localtest:7071")]),
        ("Sec-Fetch-Site: cross-site", vec![("sec-fetch-site", "cross-site")]),
        ("own Origin but cross-site", vec![("origin", &own), ("sec-fetch-site", "cross-site")]),
        ("foreign Referer, no Origin", vec![("referer", "https://evil.com/page")]),
        ("foreign Origin, own Referer", vec![("origin", "https://evil.com"), ("referer", &own_referer)]),
    ];
    let with = |mut request: RequestBuilder, headers: &[(&str, &str)]| {
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };

    // Sign-in from a foreign site: refused, and no session comes of it.
    for (what, headers) in &foreign {
        let client = browser();
        refused_origin(&format!("JSON sign-in, {what}"), with(client.post(&sign_in).json(&creds), headers)).await;
        refused_origin(&format!("form sign-in, {what}"), with(client.post(&sign_in).form(&form), headers)).await;
        let resp = client.get(process.at("/api/auth/session")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{what}: signed in after all");
    }

    // Without Origin, Referer or Sec-Fetch-Site (a non-browser client): allowed.
    let admin = process.admin().await;
    // Sign-out from a foreign site: refused, and the session lives on.
    for (what, headers) in &foreign {
        refused_origin(&format!("sign-out, {what}"), with(admin.post(&sign_out), headers)).await;
        refused_origin(
            &format!("form sign-out, {what}"),
            with(admin.post(&sign_out).form(&[("redirect", "/")]), headers),
        )
        .await;
        let resp = admin.get(process.at("/api/auth/session")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{what}: the session was deleted by a refused sign-out");
    }
    // Every other state change is guarded the same way (admin API included).
    refused_origin(
        "admin create user",
        admin
            .post(process.at("/api/admin/users"))
            .header(ORIGIN, "https://evil.com")
            .json(&json!({"email": "x@example.com"})),
    )
    .await;
    refused_origin(
        "revoke others",
        admin.post(process.at("/api/auth/sessions/revoke-others")).header(REFERER, "https://evil.com/"),
    )
    .await;
    let users: Value = admin.get(process.at("/api/admin/users")).send().await.unwrap().json().await.unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "a refused request created a user: {users}");

    // Same-origin, trusted-origin and same-site browser requests pass.
    for (what, headers) in [
        ("own Origin", vec![("origin", own.as_str())]),
        ("own Referer", vec![("referer", own_referer.as_str())]),
        ("trusted Origin", vec![("origin", LORE)]),
        ("Sec-Fetch-Site: same-origin", vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())]),
        ("Sec-Fetch-Site: none", vec![("sec-fetch-site", "none")]),
    ] {
        let client = browser();
        let resp = with(client.post(&sign_in).json(&creds), &headers).send().await.unwrap();
        assert_eq!(resp.status(), 200, "sign-in with {what}");
        let resp = with(client.post(&sign_out), &headers).send().await.unwrap();
        assert_eq!(resp.status(), 200, "sign-out with {what}");
        let resp = client.get(process.at("/api/auth/session")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{what}: still signed in after signing out");
    }

    // And the admin, signing out without any of these headers, is signed out.
    let resp = admin.post(&sign_out).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"signed_out": true}));
    assert_eq!(admin.get(process.at("/api/auth/session")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn failed_sign_in_does_not_tell_whether_the_email_exists() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let attempt = |email: &'static str, password: &'static str| {
        bare().post(process.at("/api/auth/sign-in")).json(&json!({"email": email, "password": password})).send()
    };
    let answer = async |resp: reqwest::Response| {
        let status = resp.status();
        let content_type = resp.headers().get(CONTENT_TYPE).cloned();
        (status, content_type, resp.text().await.unwrap())
    };
    let unknown = answer(attempt("nobody@example.com", ADMIN_PASSWORD).await.unwrap()).await;
    let wrong = answer(attempt(ADMIN_EMAIL, "not-the-password").await.unwrap()).await;
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.0, 401);
    let body: Value = serde_json::from_str(&unknown.2).unwrap();
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert!(!unknown.2.to_lowercase().contains("nobody") && !unknown.2.contains("not found"), "{}", unknown.2);

    // The form flow: the same page either way, but for the email the person typed, which the
    // page keeps in its field.
    let form = |email: &'static str, password: &'static str| {
        bare().post(process.at("/api/auth/sign-in")).form(&[("email", email), ("password", password)]).send()
    };
    let mut unknown = answer(form("nobody@example.com", ADMIN_PASSWORD).await.unwrap()).await;
    let mut wrong = answer(form(ADMIN_EMAIL, "not-the-password").await.unwrap()).await;
    assert!(unknown.2.contains(r#"value="nobody@example.com""#), "{}", unknown.2);
    unknown.2 = unknown.2.replace("nobody@example.com", "TYPED");
    wrong.2 = wrong.2.replace(ADMIN_EMAIL, "TYPED");
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.0, 401);
}

/// A client that stalls (slowloris) never holds a request forever: headers that never finish
/// close the connection, a body that stops mid-way gets 408 JSON. Both bounds are 10 s.
#[tokio::test]
async fn stalled_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let addr = format!("127.0.0.1:{}", process.port);

    let half_headers = async {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket.write_all(b"GET /api/auth/session HTTP/1.1\r\nHost: airlock\r\nX-Slow: ").await.unwrap();
        let mut buf = Vec::new();
        // EOF (or an error answer) within the header timeout, never a hang.
        tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut buf)).await.is_ok()
    };
    let half_body = async {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = "POST /api/auth/sign-in HTTP/1.1\r\nHost: airlock\r\nContent-Type: application/json\r\n\
                    Content-Length: 100\r\n\r\n{\"email\":";
        socket.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf)).await;
        n.ok().and_then(Result::ok).map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let (headers_cut, body_answer) = tokio::join!(half_headers, half_body);
    assert!(headers_cut, "a client stuck in its headers held the connection for 20 s");
    let answer = body_answer.expect("a client stuck in its body got no answer within 20 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    // The server itself is fine.
    assert_eq!(browser().get(process.at("/health")).send().await.unwrap().status(), 200);
}

/// HTTP/2 needs no `Content-Length`: a body sent without one is bounded like any other (a
/// megabyte is past airlock's 64 KiB, though within what an unbounded extractor would take).
#[tokio::test]
async fn http2_bodies_without_a_length_are_bounded() {
    let process = AirlockProcess::start(AirlockOptions::default()).await;
    let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = h2
        .post(process.at("/api/auth/sign-in"))
        .header(CONTENT_TYPE, "application/json")
        .body(streamed(1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    expect_error_response(
        "a 1 MB HTTP/2 body without a length",
        resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}
