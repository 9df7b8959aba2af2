//! The one client edge-mw uses to ask airlock `GET /api/auth/session`: pooled connections,
//! concurrent identical checks coalesced into one call, an optional bounded cache, and the
//! circuit breaker.

use crate::breaker::{Admission, CircuitBreaker};
use crate::cache::HashCache;
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
    /// One tag byte says which kind of credential it is: with a session token after it, the
    /// input fits one SHA-256 block, half the hashing of spelling the cookie's name out.
    fn key(&self) -> [u8; 32] {
        use shared::names::SESSION_COOKIE_NAMES;
        let (tag, secret) = match self {
            Credential::Bearer(token) => (0, token),
            Credential::SessionCookie { name, value } => {
                // Airlock may answer differently for the same token under its other name.
                let position = SESSION_COOKIE_NAMES.iter().position(|known| known == name);
                (1 + position.unwrap_or(SESSION_COOKIE_NAMES.len()) as u8, value)
            }
        };
        let mut hasher = Sha256::new();
        hasher.update([tag]);
        hasher.update(secret.as_bytes());
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

/// The last answer decoded for one credential (see [`AirlockClient::identity_of`]).
#[derive(Clone)]
struct Decoded {
    body: bytes::Bytes,
    identity: Arc<Identity>,
}

/// How many credentials' last decoded answers are kept: a few hundred bytes of JSON and its
/// decoding each. One evicted (quick_cache chooses, by recent use) is decoded again when next
/// seen, nothing worse.
const DECODED_CAPACITY: u64 = 4096;

/// How long a decoding is kept after it was made: an idle user's name and email do not stay
/// in memory for good, and an active session pays one decoding per period.
const DECODED_TTL: Duration = Duration::from_secs(600);

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
    /// Verdicts by credential key, for the layer's cache time to live (off by default).
    cache: Option<HashCache<Verdict>>,
    in_flight: Mutex<HashMap<[u8; 32], InFlight, foldhash::fast::RandomState>>,
    /// Keyed like `cache`; holds airlock's answers, never a verdict that skips asking it.
    decoded: HashCache<Decoded>,
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
        let cache = settings.cache.map(|(ttl, capacity)| HashCache::new(capacity, ttl));
        Ok(Self {
            transport,
            session_uri,
            session_host,
            breaker: CircuitBreaker::new(settings.breaker_threshold, settings.breaker_open_for),
            settings,
            cache,
            in_flight: Mutex::default(),
            decoded: HashCache::new(DECODED_CAPACITY, DECODED_TTL),
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
                        let verdict = this.ask(&key, credential).await;
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

    async fn ask(&self, key: &[u8; 32], credential: Credential) -> Verdict {
        let probe = match self.breaker.admit(Instant::now()) {
            Admission::Call { probe } => probe,
            Admission::Reject { retry_after } => return Verdict::Unavailable { retry_after },
        };
        let outcome = tokio::time::timeout(self.settings.timeout, self.fetch(&credential)).await;
        let verdict = match outcome {
            Ok(Ok(answer)) if answer.status == http::StatusCode::OK => match self.identity_of(key, answer.body) {
                Ok(identity) => Verdict::Authenticated { identity, set_cookie: answer.set_cookie },
                Err(e) => {
                    tracing::warn!(error = %e, "airlock answered an unreadable session view");
                    self.unavailable()
                }
            },
            Ok(Ok(answer)) if answer.status.is_server_error() => {
                tracing::warn!(status = %answer.status, "airlock answered an error");
                self.unavailable()
            }
            Ok(Ok(_)) => {
                // Signed out or revoked: its identity need not stay in memory.
                self.decoded.remove(key);
                Verdict::Unauthenticated
            }
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

    /// The identity in airlock's `200` answer `body` for the credential hashed to `key`.
    ///
    /// Decoding the view (and deriving the app's headers from it) was a fifth of each live
    /// check's work in this process, yet a credential's answer seldom changes between checks.
    /// An answer byte-for-byte equal to the last one decoded for the same credential reuses
    /// that decoding; any change (a role, an org, a refreshed expiry) is decoded afresh.
    /// Airlock is still asked every time: only the parsing of an identical answer is saved.
    fn identity_of(&self, key: &[u8; 32], body: bytes::Bytes) -> Result<Arc<Identity>, String> {
        if let Some(last) = self.decoded.get(key)
            && last.body == body
        {
            return Ok(last.identity);
        }
        // Checked as UTF-8 once, in one pass: from bytes, serde_json checks every string of
        // the view on its own, which cost a fifth of decoding it.
        let view = std::str::from_utf8(&body)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<SessionView>(text).map_err(|e| e.to_string()))?;
        let identity = Arc::new(Identity::new(Arc::new(view)));
        self.decoded.insert(*key, Decoded { body, identity: identity.clone() });
        Ok(identity)
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

#[cfg(test)]
mod tests {
    use super::{AirlockClient, ClientSettings, Credential};
    use shared::names::SESSION_COOKIE_NAMES;
    use std::sync::Arc;
    use std::time::Duration;

    const VIEW: &str = r#"{"user":{"id":"usr_1","email":"ada@example.com","name":"Ada","roles":[]},
        "orgs":[{"id":"org_1","slug":"acme","name":"Acme","role":"viewer"}],
        "session":{"id":"ses_1","created_at":"2026-12-01T15:44:57Z","expires_at":"2026-12-08T15:44:57Z"},
        "auth":{"method":"session","scopes":["*"]}}"#;

    fn client() -> AirlockClient {
        AirlockClient::new(ClientSettings {
            session_url: "http://127.0.0.1:9/api/auth/session".parse().unwrap(),
            timeout: Duration::from_secs(1),
            cache: None,
            breaker_threshold: 3,
            breaker_open_for: Duration::from_secs(5),
        })
        .unwrap()
    }

    #[test]
    fn an_unchanged_answer_reuses_its_decoding_and_a_changed_one_is_decoded() {
        let client = client();
        let (ada, bob) = (Credential::Bearer("ada".into()).key(), Credential::Bearer("bob".into()).key());
        let first = client.identity_of(&ada, VIEW.into()).unwrap();
        let again = client.identity_of(&ada, VIEW.into()).unwrap();
        assert!(Arc::ptr_eq(&first, &again));

        // Another credential with the same answer is decoded for itself.
        assert!(!Arc::ptr_eq(&first, &client.identity_of(&bob, VIEW.into()).unwrap()));

        let promoted = VIEW.replace(r#""role":"viewer""#, r#""role":"operator""#);
        let changed = client.identity_of(&ada, promoted.into()).unwrap();
        assert_eq!(changed.view.orgs[0].role, shared::OrgRole::Operator);
        assert_eq!(first.view.orgs[0].role, shared::OrgRole::Viewer);

        // An unreadable answer is an error, and the last good decoding is not handed out for it.
        assert!(client.identity_of(&ada, "{\"user\":".into()).is_err());
        assert!(client.identity_of(&ada, b"\xff"[..].into()).is_err());
    }

    #[test]
    fn the_same_secret_as_another_kind_of_credential_has_another_key() {
        let [secure, dev] = SESSION_COOKIE_NAMES;
        let keys = [
            Credential::SessionCookie { name: secure, value: "tok".into() }.key(),
            Credential::SessionCookie { name: dev, value: "tok".into() }.key(),
            Credential::Bearer("tok".into()).key(),
        ];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[2]);
        assert_eq!(keys[0], Credential::SessionCookie { name: secure, value: "tok".into() }.key());
        assert_ne!(keys[0], Credential::SessionCookie { name: secure, value: "tok2".into() }.key());
    }
}
