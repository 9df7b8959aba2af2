//! Forward auth (contract section 5) behind real reverse proxies: nginx with `auth_request` and
//! Caddy with `forward_auth`, each in front of a tiny upstream app that echoes the `x-lore-*`
//! headers it receives. Every scenario runs behind both proxies (`proxies::nginx::*`,
//! `proxies::caddy::*`); the endpoint's own answers are checked without a proxy too.
//!
//! The proxy configurations are the ones `docs/forward-auth.md` documents.

use airlock_system_tests::{AirlockOptions, AirlockProcess, ProxyKind, ReverseProxy, browser};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// nginx: every location asks airlock with `auth_request`; `/ops/` asks for the operator role.
/// `@AIRLOCK@` and `@UPSTREAM@` are replaced with `127.0.0.1:<port>`.
const NGINX_SERVER: &str = r#"
        # Everything here needs an airlock session. The identity headers the upstream sees are
        # airlock's answer: proxy_set_header replaces whatever the client sent under those names
        # (an empty value sends no header), and nginx drops `_` variants (underscores_in_headers off).
        location / {
            auth_request /_airlock;
            auth_request_set $lore_user_id $upstream_http_x_lore_user_id;
            auth_request_set $lore_user_email $upstream_http_x_lore_user_email;
            auth_request_set $lore_user_role $upstream_http_x_lore_user_role;
            auth_request_set $lore_user_orgs $upstream_http_x_lore_user_orgs;
            auth_request_set $airlock_login $upstream_http_x_airlock_login_url;
            error_page 401 = @airlock_login;
            proxy_set_header X-Lore-User-Id $lore_user_id;
            proxy_set_header X-Lore-User-Email $lore_user_email;
            proxy_set_header X-Lore-User-Role $lore_user_role;
            proxy_set_header X-Lore-User-Orgs $lore_user_orgs;
            proxy_set_header X-Lore-Auth-Degraded "";
            proxy_pass http://@UPSTREAM@;
        }

        # The operator area: a viewer gets 403.
        location /ops/ {
            auth_request /_airlock_operator;
            auth_request_set $lore_user_id $upstream_http_x_lore_user_id;
            auth_request_set $lore_user_email $upstream_http_x_lore_user_email;
            auth_request_set $lore_user_role $upstream_http_x_lore_user_role;
            auth_request_set $lore_user_orgs $upstream_http_x_lore_user_orgs;
            auth_request_set $airlock_login $upstream_http_x_airlock_login_url;
            error_page 401 = @airlock_login;
            proxy_set_header X-Lore-User-Id $lore_user_id;
            proxy_set_header X-Lore-User-Email $lore_user_email;
            proxy_set_header X-Lore-User-Role $lore_user_role;
            proxy_set_header X-Lore-User-Orgs $lore_user_orgs;
            proxy_set_header X-Lore-Auth-Degraded "";
            proxy_pass http://@UPSTREAM@;
        }

        location = /_airlock {
            internal;
            proxy_pass http://@AIRLOCK@/api/auth/verify?app=lore;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }

        location = /_airlock_operator {
            internal;
            proxy_pass http://@AIRLOCK@/api/auth/verify?app=lore&role=operator;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }

        # Not signed in: 401 with airlock's login URL for the client to follow.
        location @airlock_login {
            default_type application/json;
            add_header X-Airlock-Login-Url $airlock_login always;
            add_header Cache-Control no-store always;
            return 401 '{"error":"unauthenticated"}';
        }
"#;

/// Caddy: `forward_auth` everywhere, `role=operator` under `/ops/`. `route` keeps the order as
/// written: the client's `x-lore-user-*`/`x-lore-auth-*` headers (and `_` variants) are dropped
/// before airlock is asked, and `copy_headers` sets airlock's answer. `forward_auth` passes the
/// client's headers on to airlock, which prefers `X-Original-URL` to the `X-Forwarded-*` Caddy
/// sets: `header_up -X-Original-URL` keeps a client from choosing its own login redirect. On a
/// non-2xx answer Caddy relays airlock's response (status, `x-airlock-login-url`, body).
const CADDY_SITE: &str = r#"
    route {
        request_header -X-Lore-User-*
        request_header -X-Lore-Auth-*
        request_header -X_Lore_*
        handle /ops/* {
            forward_auth @AIRLOCK@ {
                uri /api/auth/verify?app=lore&role=operator
                copy_headers X-Lore-User-Id X-Lore-User-Email X-Lore-User-Role X-Lore-User-Orgs
                header_up -X-Original-URL
            }
            reverse_proxy @UPSTREAM@
        }
        handle {
            forward_auth @AIRLOCK@ {
                uri /api/auth/verify?app=lore
                copy_headers X-Lore-User-Id X-Lore-User-Email X-Lore-User-Role X-Lore-User-Orgs
                header_up -X-Original-URL
            }
            reverse_proxy @UPSTREAM@
        }
    }
"#;

/// What a client may try to inject: identity under the real names in any case, `_` variants.
const SPOOFED: &[(&str, &str)] = &[
    ("X-Lore-User-Role", "admin"),
    ("x-lore-user-id", "usr_spoofed"),
    ("X-LORE-USER-EMAIL", "boss@example.com"),
    ("X-Lore-User-Orgs", "everything"),
    ("X-Lore-Auth-Degraded", "0"),
    ("x_lore_user_role", "admin"),
    ("X_Lore_User_Orgs", "everything"),
];

/// The app behind the proxy: answers every request with its path and query and every `x-lore-*`
/// (or `x_lore_*`) header it received, repeated values joined with ` | `. Counts requests.
struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().fallback(echo).with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the upstream app");
        let port = listener.local_addr().expect("upstream address").port();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("upstream app") });
        Self { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(State(hits): State<Arc<AtomicUsize>>, uri: Uri, headers: HeaderMap) -> axum::Json<Value> {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut seen = Map::new();
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-lore-") || name.starts_with("x_lore_") {
            let values: Vec<&str> = headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("<not text>")).collect();
            seen.insert(name.to_owned(), Value::String(values.join(" | ")));
        }
    }
    axum::Json(json!({"path": uri.to_string(), "headers": seen}))
}

/// An airlock with a viewer (ada, member of acme) and an operator (olga, operator of acme).
async fn airlock_with_people(options: AirlockOptions) -> AirlockProcess {
    let airlock = AirlockProcess::start(options).await;
    let admin = airlock.admin().await;
    airlock.add_user(&admin, "ada@example.com", "ada-password-1", &[]).await;
    airlock.add_user(&admin, "olga@example.com", "olga-password-1", &[]).await;
    let post = |path: &str, body: Value| admin.post(airlock.at(path)).json(&body).send();
    assert_eq!(post("/api/admin/orgs", json!({"slug": "acme", "name": "Acme"})).await.unwrap().status(), 201);
    for (email, role) in [("ada@example.com", "member"), ("olga@example.com", "operator")] {
        let resp = post("/api/admin/orgs/acme/members", json!({"email": email, "role": role})).await.unwrap();
        assert_eq!(resp.status(), 201);
    }
    airlock
}

/// Signs `email` in at airlock and returns the `Cookie` header a browser would send.
async fn session_cookie(airlock: &AirlockProcess, email: &str, password: &str) -> String {
    let resp = airlock.sign_in(&browser(), email, password).await;
    assert_eq!(resp.status(), 200);
    let set = resp.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// The user id airlock reports for a session.
async fn user_id(airlock: &AirlockProcess, cookie: &str) -> String {
    let resp = plain_client().get(airlock.at("/api/auth/session")).header(COOKIE, cookie).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    body["user"]["id"].as_str().expect("user id").to_owned()
}

/// No cookie jar, no redirects: every request carries exactly the headers the test gives it.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Airlock, the upstream app, and a proxy in front of the app asking airlock.
struct Stack {
    airlock: AirlockProcess,
    upstream: Upstream,
    proxy: ReverseProxy,
}

impl Stack {
    /// With the documented configuration.
    async fn start(kind: ProxyKind) -> Self {
        let template = match kind {
            ProxyKind::Nginx => NGINX_SERVER,
            ProxyKind::Caddy => CADDY_SITE,
        };
        Self::with_config(kind, template).await
    }

    async fn with_config(kind: ProxyKind, template: &str) -> Self {
        let airlock = airlock_with_people(AirlockOptions::default()).await;
        let upstream = Upstream::start().await;
        let config = template
            .replace("@AIRLOCK@", &format!("127.0.0.1:{}", airlock.port))
            .replace("@UPSTREAM@", &format!("127.0.0.1:{}", upstream.port));
        let proxy = ReverseProxy::start(kind, &config).await;
        Self { airlock, upstream, proxy }
    }

    async fn get(&self, path: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut req = plain_client().get(self.proxy.at(path));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        req.send().await.unwrap_or_else(|e| panic!("GET {path} through {}: {e}", self.proxy.kind))
    }

    async fn sign_in(&self, email: &str, password: &str) -> String {
        session_cookie(&self.airlock, email, password).await
    }

    /// Asserts a 401 carrying airlock's login URL that leads back to `path` on the proxy.
    async fn assert_unauthenticated(&self, resp: reqwest::Response, path: &str) {
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path} through {}", self.proxy.kind);
        let login = resp.headers().get("x-airlock-login-url").expect("x-airlock-login-url reaches the client");
        let login = Url::parse(login.to_str().unwrap()).expect("the login URL is absolute");
        let mut page = login.clone();
        page.set_query(None);
        assert_eq!(page.as_str(), self.airlock.at("/login"), "{login}");
        let redirect: Vec<String> =
            login.query_pairs().filter(|(k, _)| k == "redirect").map(|(_, v)| v.into_owned()).collect();
        assert_eq!(redirect, [self.proxy.at(path)], "the login URL leads back to the page asked for: {login}");
        let body: Value = resp.json().await.expect("a JSON 401");
        assert_eq!(body["error"], "unauthenticated");
    }

    /// The upstream's echo: asserts 200 and returns (path, headers seen).
    async fn echoed(&self, resp: reqwest::Response) -> (String, Value) {
        assert_eq!(resp.status(), StatusCode::OK, "through {}", self.proxy.kind);
        let body: Value = resp.json().await.expect("the upstream's JSON");
        (body["path"].as_str().expect("path").to_owned(), body["headers"].clone())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} config:\n{}\n--- {} output:\n{}\n--- airlock output:\n{}",
                self.proxy.kind,
                self.proxy.config(),
                self.proxy.kind,
                self.proxy.logs(),
                self.airlock.output()
            );
        }
    }
}

/// Runs each scenario behind nginx and behind Caddy, as `proxies::nginx::<scenario>` and
/// `proxies::caddy::<scenario>`.
macro_rules! behind_both_proxies {
    ($($scenario:ident),+ $(,)?) => {
        mod nginx {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::ProxyKind::Nginx).await
                }
            )+
        }
        mod caddy {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::ProxyKind::Caddy).await
                }
            )+
        }
    };
}

behind_both_proxies!(
    no_session_is_401_with_the_login_url,
    a_forged_cookie_is_401,
    a_viewer_on_the_operator_route_is_403,
    a_session_reaches_the_upstream_with_its_identity,
    spoofed_identity_never_reaches_the_upstream,
);

async fn no_session_is_401_with_the_login_url(kind: ProxyKind) {
    let s = Stack::start(kind).await;
    s.assert_unauthenticated(s.get("/notes?id=7", None, &[]).await, "/notes?id=7").await;
    s.assert_unauthenticated(s.get("/ops/deploy", None, &[]).await, "/ops/deploy").await;
    // The client's own forwarding headers do not steer the redirect: the proxy's count (they
    // name a loopback origin, which a --dev airlock would accept as a redirect target).
    let forged = [
        ("X-Original-URL", "http://localhost:1/elsewhere"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "localhost:1"),
        ("X-Forwarded-Uri", "/elsewhere"),
    ];
    s.assert_unauthenticated(s.get("/notes?id=7", None, &forged).await, "/notes?id=7").await;
    assert_eq!(s.upstream.hits(), 0, "nothing reaches the app without a session");
}

async fn a_forged_cookie_is_401(kind: ProxyKind) {
    let s = Stack::start(kind).await;
    let real = s.sign_in("ada@example.com", "ada-password-1").await;
    let (name, value) = real.split_once('=').expect("name=value");
    let tampered = format!("{name}={}", value.chars().rev().collect::<String>());
    for cookie in [
        format!("{name}=forged"),
        format!("{name}={}", "A".repeat(value.len())),
        tampered,
        format!("theme=dark; {name}=forged; app_pref=1"),
    ] {
        s.assert_unauthenticated(s.get("/notes", Some(&cookie), &[]).await, "/notes").await;
    }
    assert_eq!(s.upstream.hits(), 0, "nothing reaches the app with a forged cookie");
    // The real cookie does.
    assert_eq!(s.get("/notes", Some(&real), &[]).await.status(), StatusCode::OK);
}

async fn a_viewer_on_the_operator_route_is_403(kind: ProxyKind) {
    let s = Stack::start(kind).await;
    let ada = s.sign_in("ada@example.com", "ada-password-1").await;
    let olga = s.sign_in("olga@example.com", "olga-password-1").await;
    let admin = s.sign_in("admin@example.com", "correct-horse-battery-staple").await;

    let denied = s.get("/ops/deploy", Some(&ada), &[]).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "a viewer on the operator route");
    assert!(denied.headers().get("x-airlock-login-url").is_none(), "a 403 is not a sign-in prompt");
    // Claiming a higher role buys nothing.
    let denied = s.get("/ops/deploy", Some(&ada), SPOOFED).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "a viewer claiming admin on the operator route");
    assert_eq!(s.upstream.hits(), 0, "a 403 never reaches the app");

    // The same viewer is fine outside the operator area, and operators and admins get in.
    let (_, seen) = s.echoed(s.get("/notes", Some(&ada), &[]).await).await;
    assert_eq!(seen["x-lore-user-role"], "viewer");
    let (path, seen) = s.echoed(s.get("/ops/deploy?now=1", Some(&olga), &[]).await).await;
    assert_eq!(path, "/ops/deploy?now=1");
    assert_eq!(seen["x-lore-user-role"], "operator");
    assert_eq!(seen["x-lore-user-email"], "olga@example.com");
    let (_, seen) = s.echoed(s.get("/ops/deploy", Some(&admin), &[]).await).await;
    assert_eq!(seen["x-lore-user-role"], "admin");
}

async fn a_session_reaches_the_upstream_with_its_identity(kind: ProxyKind) {
    let s = Stack::start(kind).await;
    let ada = s.sign_in("ada@example.com", "ada-password-1").await;
    let ada_id = user_id(&s.airlock, &ada).await;

    let (path, seen) = s.echoed(s.get("/notes?id=7", Some(&format!("theme=dark; {ada}")), &[]).await).await;
    assert_eq!(path, "/notes?id=7");
    assert_eq!(
        seen,
        json!({
            "x-lore-user-id": ada_id,
            "x-lore-user-email": "ada@example.com",
            "x-lore-user-role": "viewer",
            "x-lore-user-orgs": "acme",
        })
    );

    // A request with a body passes too (the auth check itself carries none).
    let posted = plain_client()
        .post(s.proxy.at("/notes"))
        .header(COOKIE, &ada)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    let (_, seen) = s.echoed(posted).await;
    assert_eq!(seen["x-lore-user-id"], ada_id.as_str());

    // Live: a signed-out session is refused on the very next request.
    let out = plain_client().post(s.airlock.at("/api/auth/sign-out")).header(COOKIE, &ada).send().await.unwrap();
    assert_eq!(out.status(), 200);
    s.assert_unauthenticated(s.get("/notes?id=7", Some(&ada), &[]).await, "/notes?id=7").await;
    assert_eq!(s.upstream.hits(), 2);
}

async fn spoofed_identity_never_reaches_the_upstream(kind: ProxyKind) {
    let s = Stack::start(kind).await;

    // Without a session the spoofed headers buy nothing, on either route.
    s.assert_unauthenticated(s.get("/notes", None, SPOOFED).await, "/notes").await;
    s.assert_unauthenticated(s.get("/ops/deploy", None, SPOOFED).await, "/ops/deploy").await;
    assert_eq!(s.upstream.hits(), 0);

    // With a session the app sees airlock's answer and nothing else.
    let ada = s.sign_in("ada@example.com", "ada-password-1").await;
    let ada_id = user_id(&s.airlock, &ada).await;
    let (_, seen) = s.echoed(s.get("/notes", Some(&ada), SPOOFED).await).await;
    assert_eq!(
        seen,
        json!({
            "x-lore-user-id": ada_id,
            "x-lore-user-email": "ada@example.com",
            "x-lore-user-role": "viewer",
            "x-lore-user-orgs": "acme",
        }),
        "behind {kind}"
    );

    // The admin belongs to no org: airlock's orgs header is empty, and the client's must not
    // fill the gap.
    let admin = s.sign_in("admin@example.com", "correct-horse-battery-staple").await;
    let (_, seen) = s.echoed(s.get("/notes", Some(&admin), SPOOFED).await).await;
    assert_eq!(seen["x-lore-user-role"], "admin");
    assert_eq!(seen["x-lore-user-email"], "admin@example.com");
    let orgs = seen.get("x-lore-user-orgs").cloned().unwrap_or(json!(""));
    assert_eq!(orgs, "", "the admin's orgs behind {kind}: {seen}");
    let names: Vec<&String> = seen.as_object().unwrap().keys().collect();
    assert!(
        names
            .iter()
            .all(|n| ["x-lore-user-id", "x-lore-user-email", "x-lore-user-role", "x-lore-user-orgs"]
                .contains(&n.as_str())),
        "only airlock's identity headers reach the app behind {kind}: {seen}"
    );
}

/// Caddy's `forward_auth` on its own, without the `request_header` lines: `copy_headers` sets
/// airlock's values, replacing client-sent headers of the same names. (Other names, such as the
/// `_` variants or `x-lore-auth-degraded`, pass through untouched: hence those lines.)
#[tokio::test]
async fn caddy_copy_headers_replaces_client_headers_of_the_same_name() {
    let bare = r#"
    forward_auth @AIRLOCK@ {
        uri /api/auth/verify?app=lore
        copy_headers X-Lore-User-Id X-Lore-User-Email X-Lore-User-Role X-Lore-User-Orgs
    }
    reverse_proxy @UPSTREAM@
"#;
    let s = Stack::with_config(ProxyKind::Caddy, bare).await;
    s.assert_unauthenticated(s.get("/notes", None, SPOOFED).await, "/notes").await;
    let ada = s.sign_in("ada@example.com", "ada-password-1").await;
    let ada_id = user_id(&s.airlock, &ada).await;
    let (_, seen) = s.echoed(s.get("/notes", Some(&ada), SPOOFED).await).await;
    assert_eq!(seen["x-lore-user-id"], ada_id.as_str(), "{seen}");
    assert_eq!(seen["x-lore-user-email"], "ada@example.com", "{seen}");
    assert_eq!(seen["x-lore-user-role"], "viewer", "{seen}");
    assert_eq!(seen["x-lore-user-orgs"], "acme", "{seen}");
}

// The endpoint itself, without a proxy.

async fn verify(
    airlock: &AirlockProcess,
    query: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = plain_client().get(airlock.at(&format!("/api/auth/verify{query}")));
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

async fn assert_bad_request(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{what}");
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
}

#[tokio::test]
async fn verify_answers_400_for_a_bad_app() {
    let airlock = airlock_with_people(AirlockOptions::default()).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    let long = format!("?app={}", "a".repeat(33));
    for query in ["", "?app=", "?role=operator", "?app=lo%20re", "?app=lore!", "?app=x_y", "?app=%C3%A9t%C3%A9", &long]
    {
        // With or without a session: the request itself is wrong.
        assert_bad_request(verify(&airlock, query, None, &[]).await, query).await;
        assert_bad_request(verify(&airlock, query, Some(&ada), &[]).await, query).await;
    }
    // A good slug (any case) answers with its own header names.
    let ok = verify(&airlock, "?app=Lore-2", Some(&ada), &[]).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-lore-2-user-email"], "ada@example.com");
    assert_eq!(ok.headers()["x-lore-2-user-role"], "viewer");
    assert_eq!(ok.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn verify_answers_400_for_an_unknown_role() {
    let airlock = airlock_with_people(AirlockOptions::default()).await;
    let ada = session_cookie(&airlock, "ada@example.com", "ada-password-1").await;
    let olga = session_cookie(&airlock, "olga@example.com", "olga-password-1").await;
    for role in ["superuser", "operators", "root", "1", "%20admin%20x"] {
        let query = format!("?app=lore&role={role}");
        assert_bad_request(verify(&airlock, &query, Some(&olga), &[]).await, &query).await;
        assert_bad_request(verify(&airlock, &query, None, &[]).await, &query).await;
    }
    // The known roles are checked, not refused.
    assert_eq!(verify(&airlock, "?app=lore&role=viewer", Some(&ada), &[]).await.status(), 200);
    assert_eq!(verify(&airlock, "?app=lore&role=Operator", Some(&ada), &[]).await.status(), 403);
    assert_eq!(verify(&airlock, "?app=lore&role=operator", Some(&olga), &[]).await.status(), 200);
    assert_eq!(verify(&airlock, "?app=lore&role=admin", Some(&olga), &[]).await.status(), 403);
    assert_eq!(verify(&airlock, "?app=lore&role=admin", None, &[]).await.status(), 401);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let forwarded: &[(&str, &str)] =
        &[("X-Forwarded-Proto", "http"), ("X-Forwarded-Host", "localhost:8123"), ("X-Forwarded-Uri", "/notes?id=7")];
    let original: &[(&str, &str)] = &[("X-Original-URL", "http://localhost:8123/notes?id=7")];
    let login_url = |resp: &reqwest::Response| {
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        resp.headers()["x-airlock-login-url"].to_str().unwrap().to_owned()
    };

    // Loopback is a trusted proxy by default: the headers make the redirect back.
    let trusting = AirlockProcess::start(AirlockOptions::default()).await;
    let expected = format!("{}?redirect=http%3A%2F%2Flocalhost%3A8123%2Fnotes%3Fid%3D7", trusting.at("/login"));
    for headers in [forwarded, original] {
        assert_eq!(login_url(&verify(&trusting, "?app=lore", None, headers).await), expected);
    }

    // Only 10.9.9.9 is: the same headers from loopback are ignored.
    let airlock = AirlockProcess::start(AirlockOptions::default().env("AIRLOCK_TRUSTED_PROXIES", "10.9.9.9/32")).await;
    for headers in [forwarded, original] {
        let resp = verify(&airlock, "?app=lore", None, headers).await;
        assert_eq!(login_url(&resp), airlock.at("/login"), "no redirect from an untrusted peer's headers");
    }
}
