//! The one client edge-mw uses to ask airlock `GET /api/auth/session`: pooled connections,
//! concurrent identical checks coalesced into one call, an optional bounded cache, and the
//! circuit breaker.

use crate::breaker::{Admission, CircuitBreaker};
use crate::headers::Identity;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use http::HeaderValue;
use sha2::{Digest, Sha256};
use shared::SessionView;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the caller presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Airlock's session cookie (only this cookie is ever forwarded, never the app's others).
    SessionCookie { name: &'static str, value: String },
    /// `Authorization: Bearer …` (an API token or an airlock access token).
    Bearer(String),
}

impl Credential {
    /// The cache and coalescing key: a hash, so that no credential sits in memory as a key.
    fn key(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        match self {
            Credential::SessionCookie { name, value } => {
                hasher.update(b"cookie\0");
                hasher.update(name.as_bytes());
                hasher.update(b"\0");
                hasher.update(value.as_bytes());
            }
            Credential::Bearer(token) => {
                hasher.update(b"bearer\0");
                hasher.update(token.as_bytes());
            }
        }
        hasher.finalize().into()
    }
}

/// Airlock's answer about one credential.
#[derive(Debug, Clone)]
pub enum Verdict {
    Authenticated {
        identity: Arc<Identity>,
        /// Airlock re-set the session cookie (sliding refresh): passed on to the browser.
        set_cookie: Option<HeaderValue>,
    },
    /// No, unknown, expired or revoked credentials.
    Unauthenticated,
    /// Airlock could not be asked (down, timed out, 5xx, circuit open).
    Unavailable { retry_after: Duration },
}

/// Settings of the client, from the layer's builder.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub session_url: url::Url,
    pub timeout: Duration,
    pub cache: Option<(Duration, u64)>,
    pub breaker_threshold: u32,
    pub breaker_open_for: Duration,
}

type InFlight = Shared<BoxFuture<'static, Verdict>>;

/// How the client reaches airlock: a bare pooled hyper client for `http://` (the usual
/// in-cluster case, and the hot path), reqwest with rustls for `https://`.
enum Transport {
    /// Boxed: the pooled client is large, and there is one per layer.
    Plain(
        Box<
            hyper_util::client::legacy::Client<
                hyper_util::client::legacy::connect::HttpConnector,
                http_body_util::Empty<bytes::Bytes>,
            >,
        >,
    ),
    Tls(reqwest::Client),
}

/// Airlock's answer, read in full.
struct Answer {
    status: http::StatusCode,
    set_cookie: Option<HeaderValue>,
    body: bytes::Bytes,
}

pub struct AirlockClient {
    transport: Transport,
    session_uri: http::Uri,
    /// `Host` of `session_uri`, made once: left to the pooled client, it is formatted anew
    /// for every check.
    session_host: HeaderValue,
    settings: ClientSettings,
    breaker: CircuitBreaker,
    /// Keyed, like `in_flight`, by SHA-256 outputs: foldhash rather than SipHash.
    cache: Option<moka::sync::Cache<[u8; 32], Verdict, foldhash::fast::RandomState>>,
    in_flight: Mutex<HashMap<[u8; 32], InFlight, foldhash::fast::RandomState>>,
}

impl std::fmt::Debug for AirlockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirlockClient").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AirlockClient {
    pub fn new(settings: ClientSettings) -> Result<Self, String> {
        let transport = if settings.session_url.scheme() == "http" {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(settings.timeout));
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(connector);
            Transport::Plain(Box::new(client))
        } else {
            let client = reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(settings.timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            Transport::Tls(client)
        };
        let session_uri: http::Uri =
            settings.session_url.as_str().parse().map_err(|e: http::uri::InvalidUri| e.to_string())?;
        let session_host = session_uri
            .authority()
            .map(|authority| HeaderValue::from_str(authority.as_str()))
            .ok_or("the airlock URL has no host")?
            .map_err(|e| e.to_string())?;
        let cache = settings.cache.map(|(ttl, capacity)| {
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        Ok(Self {
            transport,
            session_uri,
            session_host,
            breaker: CircuitBreaker::new(settings.breaker_threshold, settings.breaker_open_for),
            settings,
            cache,
            in_flight: Mutex::default(),
        })
    }

    /// Asks airlock about `credential`: from the cache if enabled, joined to an identical call
    /// already in flight, or as a new call.
    pub async fn check(self: &Arc<Self>, credential: Credential) -> Verdict {
        let key = credential.key();
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return hit;
        }
        let call = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            in_flight
                .entry(key)
                .or_insert_with(|| {
                    let this = self.clone();
                    async move {
                        let verdict = this.ask(credential).await;
                        if let Some(cache) = &this.cache
                            && !matches!(verdict, Verdict::Unavailable { .. })
                        {
                            cache.insert(key, verdict.clone());
                        }
                        this.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                        verdict
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        call.await
    }

    async fn ask(&self, credential: Credential) -> Verdict {
        let probe = match self.breaker.admit(Instant::now()) {
            Admission::Call { probe } => probe,
            Admission::Reject { retry_after } => return Verdict::Unavailable { retry_after },
        };
        let outcome = tokio::time::timeout(self.settings.timeout, self.fetch(&credential)).await;
        let verdict = match outcome {
            Ok(Ok(answer)) if answer.status == http::StatusCode::OK => {
                // Checked as UTF-8 once, in one pass: from bytes, serde_json checks every
                // string of the view on its own, which cost a fifth of decoding it.
                match std::str::from_utf8(&answer.body)
                    .map_err(|e| e.to_string())
                    .and_then(|body| serde_json::from_str::<SessionView>(body).map_err(|e| e.to_string()))
                {
                    Ok(view) => Verdict::Authenticated {
                        identity: Arc::new(Identity::new(Arc::new(view))),
                        set_cookie: answer.set_cookie,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "airlock answered an unreadable session view");
                        self.unavailable()
                    }
                }
            }
            Ok(Ok(answer)) if answer.status.is_server_error() => {
                tracing::warn!(status = %answer.status, "airlock answered an error");
                self.unavailable()
            }
            Ok(Ok(_)) => Verdict::Unauthenticated,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "airlock unreachable");
                self.unavailable()
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.settings.timeout, "airlock did not answer in time");
                self.unavailable()
            }
        };
        match verdict {
            Verdict::Unavailable { .. } => self.breaker.record_failure(Instant::now()),
            _ => self.breaker.record_success(),
        }
        if probe {
            tracing::info!(up = !matches!(verdict, Verdict::Unavailable { .. }), "probed airlock");
        }
        verdict
    }

    /// One `GET /api/auth/session` carrying only the credential, read in full.
    async fn fetch(&self, credential: &Credential) -> Result<Answer, String> {
        let (name, value) = match credential {
            Credential::SessionCookie { name, value } => (http::header::COOKIE, [name, "=", value]),
            Credential::Bearer(token) => (http::header::AUTHORIZATION, ["Bearer", " ", token]),
        };
        let value = HeaderValue::from_str(&value.concat()).map_err(|e| e.to_string())?;
        match &self.transport {
            Transport::Plain(client) => {
                use http_body_util::BodyExt;
                let request = http::Request::get(self.session_uri.clone())
                    .header(http::header::HOST, self.session_host.clone())
                    .header(name, value)
                    .body(http_body_util::Empty::new())
                    .map_err(|e| e.to_string())?;
                let response = client.request(request).await.map_err(|e| e.to_string())?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok(Answer { status: parts.status, set_cookie: session_set_cookie(&parts.headers), body })
            }
            Transport::Tls(client) => {
                let response = client
                    .get(self.settings.session_url.clone())
                    .header(name, value)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let (status, set_cookie) = (response.status(), session_set_cookie(response.headers()));
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                Ok(Answer { status, set_cookie, body })
            }
        }
    }

    fn unavailable(&self) -> Verdict {
        Verdict::Unavailable { retry_after: self.settings.breaker_open_for.max(Duration::from_secs(1)) }
    }
}

/// Airlock's `Set-Cookie` for its session cookie, if it sent one (sliding refresh).
fn session_set_cookie(headers: &http::HeaderMap) -> Option<HeaderValue> {
    headers.get_all(http::header::SET_COOKIE).iter().find_map(|value| {
        let text = value.to_str().ok()?;
        let name = text.split('=').next()?.trim();
        shared::names::SESSION_COOKIE_NAMES.contains(&name).then(|| value.clone())
    })
}
