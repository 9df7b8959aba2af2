//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as MCP clients
//! use them): a `client_id` that is an `https://` URL with a path names a JSON document at that
//! URL describing the client. Nobody registered it, so such a client is public (no secret), never
//! first-party, and asked for consent every time.
//!
//! Fetching a URL a stranger chose is a server-side request forgery waiting to happen, so the
//! fetch is fenced: https only (`--dev` also allows http on loopback, for tests and local
//! development); the host's addresses are resolved first and refused when any is loopback,
//! private, link-local, CGNAT, multicast or otherwise not on the public internet (outside
//! `--dev`); the connection then goes to exactly those checked addresses, so a second DNS answer
//! (rebinding) cannot swap them; no redirect is followed; the body is read up to 5 KiB and no
//! further; the whole fetch has 3 seconds. Answers (refusals included, briefly) are cached in a
//! bounded map, for at most 5 minutes whatever the document's headers say.

use super::GrantType;
use super::clients::{ClientRecord, check_redirect_uri};
use super::scopes::{self, DEFAULT_CLIENT_SCOPES};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use url::{Host, Url};

/// Largest document read.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// The whole fetch: resolving, connecting, reading.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a document is trusted without fetching it again.
const MAX_CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a refusal is remembered: long enough to blunt a flood, short enough for a fix.
const REFUSAL_TTL: Duration = Duration::from_secs(10);
/// Most documents (and refusals) cached.
const MAX_CACHED: usize = 1024;

/// The metadata a document carries; the rest is ignored.
#[derive(Debug, Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

struct Cached {
    until: Instant,
    answer: std::result::Result<ClientRecord, String>,
}

/// Resolves metadata-document clients: the fetch rules and the cache.
pub struct MetadataDocuments {
    dev: bool,
    cache: Mutex<HashMap<String, Cached>>,
}

fn refused(why: impl Into<String>) -> Error {
    super::invalid_client(why)
}

impl MetadataDocuments {
    pub fn new(dev: bool) -> Self {
        Self { dev, cache: Mutex::new(HashMap::new()) }
    }

    /// The URL `client_id` is, when it names a metadata document: `https` (or, in `--dev`,
    /// `http` on a loopback host), a host, a path other than `/`, and nothing that makes two
    /// spellings of one URL (it must be written exactly as it parses: no dot segments, no
    /// default port, a lowercase host), no credentials, no query, no fragment.
    pub fn url_of(&self, client_id: &str) -> Option<Url> {
        let url = Url::parse(client_id).ok()?;
        let loopback = matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        let scheme_ok = url.scheme() == "https" || (self.dev && url.scheme() == "http" && loopback);
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.host().is_some()
            && !matches!(url.path(), "" | "/");
        (scheme_ok && plain && url.as_str() == client_id).then_some(url)
    }

    /// The client `url` describes, fetched or cached.
    pub async fn client(&self, url: &Url, now: OffsetDateTime) -> Result<ClientRecord> {
        let key = url.as_str().to_owned();
        if let Some(answer) = self.cached(&key)? {
            return answer.map_err(refused);
        }
        let (answer, ttl) = match self.fetch(url).await {
            Ok((body, ttl)) => (client_from_document(url, &body, self.dev, now), ttl),
            Err(why) => (Err(why), REFUSAL_TTL),
        };
        let ttl = if answer.is_ok() { ttl } else { REFUSAL_TTL };
        self.remember(key, answer.clone(), ttl)?;
        answer.map_err(refused)
    }

    fn cached(&self, key: &str) -> Result<Option<std::result::Result<ClientRecord, String>>> {
        let cache = self.cache.lock().map_err(|_| Error::internal("metadata document cache poisoned"))?;
        Ok(cache.get(key).filter(|c| c.until > Instant::now()).map(|c| c.answer.clone()))
    }

    fn remember(&self, key: String, answer: std::result::Result<ClientRecord, String>, ttl: Duration) -> Result<()> {
        if ttl.is_zero() {
            return Ok(());
        }
        let mut cache = self.cache.lock().map_err(|_| Error::internal("metadata document cache poisoned"))?;
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
        }
        if cache.len() >= MAX_CACHED {
            // Still full of live entries: forget the one closest to expiry.
            if let Some(oldest) = cache.iter().min_by_key(|(_, c)| c.until).map(|(k, _)| k.clone()) {
                cache.remove(&oldest);
            }
        }
        cache.insert(key, Cached { until: Instant::now() + ttl, answer });
        Ok(())
    }

    /// The document's bytes and how long it may be cached, or why it was not fetched.
    async fn fetch(&self, url: &Url) -> std::result::Result<(Vec<u8>, Duration), String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded(url))
            .await
            .unwrap_or_else(|_| Err(format!("it did not arrive within {} seconds", FETCH_TIMEOUT.as_secs())))
    }

    async fn fetch_unbounded(&self, url: &Url) -> std::result::Result<(Vec<u8>, Duration), String> {
        let port = url.port_or_known_default().ok_or("its URL has no port")?;
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(domain)) => tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| format!("its host does not resolve: {e}"))?
                .collect(),
            None => return Err("its URL has no host".to_owned()),
        };
        if addrs.is_empty() {
            return Err("its host resolves to no address".to_owned());
        }
        // Every address is checked, not just one: a name that resolves to a public address and
        // a private one is not a public service.
        if !self.dev
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(format!(
                "its host resolves to {}, which is not a public internet address: not fetched",
                bad.ip()
            ));
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            // A proxy would resolve the name itself, past the check above.
            .no_proxy()
            .https_only(!self.dev)
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION"), " (client ID metadata document)"));
        if let Some(Host::Domain(domain)) = url.host() {
            // Connect to the addresses checked above, not to a second resolution's.
            builder = builder.resolve_to_addrs(domain, &addrs);
        }
        let client = builder.build().map_err(|e| format!("no HTTP client: {e}"))?;
        let mut response = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("it could not be fetched: {}", without_url(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(format!("it answered a redirect ({status}); a metadata document is never followed elsewhere"));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("it answered {status}"));
        }
        if response.content_length().is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64) {
            return Err(format!("it is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        let ttl = cache_ttl(response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()));
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| format!("it could not be read: {}", without_url(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("it is larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
        }
        Ok((body, ttl))
    }
}

/// reqwest's error without the URL it repeats (the caller names it already).
fn without_url(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(&format!(" ({url})"), "");
    }
    message
}

/// How long a document may be cached: what `Cache-Control` allows, never past 5 minutes;
/// `no-store` and `no-cache` mean not at all.
fn cache_ttl(cache_control: Option<&str>) -> Duration {
    let Some(value) = cache_control else { return MAX_CACHE_TTL };
    let mut ttl = MAX_CACHE_TTL;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=").and_then(|s| s.trim_matches('"').parse::<u64>().ok())
        {
            ttl = ttl.min(Duration::from_secs(seconds));
        }
    }
    ttl
}

/// The client a fetched document describes, or why it cannot be one.
fn client_from_document(
    url: &Url,
    body: &[u8],
    dev: bool,
    now: OffsetDateTime,
) -> std::result::Result<ClientRecord, String> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| format!("it is not client metadata JSON: {e}"))?;
    if doc.client_id != url.as_str() {
        return Err("its client_id is not the URL it was fetched from".to_owned());
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method `{}`: a metadata-document client is public (none)",
                other.escape_debug()
            ));
        }
    }
    if doc.redirect_uris.is_empty() {
        return Err("it lists no redirect_uris".to_owned());
    }
    for uri in doc.redirect_uris.iter().chain(&doc.post_logout_redirect_uris) {
        check_redirect_uri(uri, dev).map_err(|e| e.to_string())?;
    }
    // The code flow always; refresh tokens when asked for or when no grants are named. Other
    // grants real documents list (jwt-bearer, say) are not airlock's to give: ignored.
    let mut grant_types = vec![GrantType::AuthorizationCode];
    if doc.grant_types.as_ref().is_none_or(|g| g.iter().any(|g| g == "refresh_token")) {
        grant_types.push(GrantType::RefreshToken);
    }
    let scopes =
        scopes::parse(doc.scope.as_deref().unwrap_or(DEFAULT_CLIENT_SCOPES)).map_err(|e| e.oauth_description())?;
    let host = url.host_str().unwrap_or_default();
    let name = doc
        .client_name
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| host.to_owned());
    Ok(ClientRecord {
        client_id: url.as_str().to_owned(),
        name,
        secret_hash: None,
        redirect_uris: doc.redirect_uris,
        post_logout_redirect_uris: doc.post_logout_redirect_uris,
        grant_types,
        scopes,
        first_party: false,
        created_at: now,
        registration_token_hash: None,
    })
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, ULA),
/// link-local, CGNAT, unspecified, multicast, broadcast, documentation, benchmarking or
/// reserved, nor an IPv6 form of such an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) reach an IPv4 address.
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16) carries its IPv4 address in the next 32 bits.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_internet_addresses_are_fetched_from() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in ["93.184.215.14", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn a_metadata_client_id_is_an_https_url_with_a_path_written_as_it_parses() {
        let prod = MetadataDocuments::new(false);
        assert!(prod.url_of("https://app.example.com/oauth/client.json").is_some());
        for not in [
            "cli_123",
            "https://app.example.com",
            "https://app.example.com/",
            "http://app.example.com/client.json",
            "http://127.0.0.1:8080/client.json",
            "https://user:pw@app.example.com/client.json",
            "https://app.example.com/client.json?x=1",
            "https://app.example.com/client.json#f",
            "https://app.example.com/a/../client.json",
            "https://APP.example.com/client.json",
            "https://app.example.com:443/client.json",
        ] {
            assert!(prod.url_of(not).is_none(), "{not}");
        }
        let dev = MetadataDocuments::new(true);
        assert!(dev.url_of("http://127.0.0.1:8080/client.json").is_some(), "--dev: http on loopback");
        assert!(dev.url_of("http://app.example.com/client.json").is_none(), "never http elsewhere");
    }

    #[test]
    fn documents_must_name_themselves_and_be_public() {
        let url = Url::parse("https://app.example.com/client.json").unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let doc = |extra: &str| {
            format!(
                r#"{{"client_id":"https://app.example.com/client.json","client_name":"App",
                    "redirect_uris":["http://127.0.0.1/cb"]{extra}}}"#
            )
        };
        let client = client_from_document(&url, doc("").as_bytes(), false, now).unwrap();
        assert!(client.is_public() && !client.first_party);
        assert_eq!(client.grant_types, vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let jwt_bearer = doc(r#","grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:jwt-bearer"]"#);
        let client = client_from_document(&url, jwt_bearer.as_bytes(), false, now).unwrap();
        assert_eq!(client.grant_types, vec![GrantType::AuthorizationCode], "unknown grants are not given");
        let secret = doc(r#","token_endpoint_auth_method":"client_secret_basic""#);
        assert!(client_from_document(&url, secret.as_bytes(), false, now).is_err());
        let other = doc("").replace("client.json\",\"client_name", "other.json\",\"client_name");
        assert!(client_from_document(&url, other.as_bytes(), false, now).unwrap_err().contains("client_id"));
        assert!(client_from_document(&url, b"not json", false, now).is_err());
        let no_redirect = br#"{"client_id":"https://app.example.com/client.json"}"#;
        assert!(client_from_document(&url, no_redirect, false, now).is_err());
    }

    #[test]
    fn the_cache_honours_shorter_lifetimes_and_nothing_longer() {
        assert_eq!(cache_ttl(None), MAX_CACHE_TTL);
        assert_eq!(cache_ttl(Some("public, max-age=60")), Duration::from_secs(60));
        assert_eq!(cache_ttl(Some("max-age=86400")), MAX_CACHE_TTL);
        assert_eq!(cache_ttl(Some("no-store")), Duration::ZERO);
    }
}
