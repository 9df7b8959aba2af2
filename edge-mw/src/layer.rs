//! [`AirlockLayer`] and its builder: all configuration is checked once, in
//! [`AirlockLayerBuilder::build`].

use crate::client::{AirlockClient, ClientSettings};
use crate::headers::IdentityHeaderNames;
use crate::jwt::{JwtSettings, JwtVerifier};
use crate::resource::ProtectedResource;
use crate::service::AirlockService;
use shared::RoleMapping;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;
use url::Url;

/// What is wrong with a layer's configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("airlock_url: {0}")]
    AirlockUrl(String),
    #[error("login_url: {0}")]
    LoginUrl(String),
    #[error("app_url: {0}")]
    AppUrl(String),
    #[error("slug: `{0}` must be 1-32 lowercase letters, digits or `-`")]
    Slug(String),
    #[error("public path `{0}` must start with `/`")]
    PublicPath(String),
    #[error("timeout: must be between 10 ms and 60 s")]
    Timeout,
    #[error("cache: the TTL must be at most 10 s and the capacity at least 1")]
    Cache,
    #[error("http client: {0}")]
    Client(String),
    #[error("jwt: {0}")]
    Jwt(String),
    #[error("oauth resource: {0}")]
    OAuthResource(String),
}

/// Protects every request of an app with airlock. See the crate docs for an example.
#[derive(Clone, Debug)]
pub struct AirlockLayer {
    pub(crate) inner: Arc<Settings>,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub slug: String,
    pub headers: IdentityHeaderNames,
    pub login_url: Url,
    pub app_url: Option<Url>,
    pub public_paths: Vec<PublicPath>,
    pub mapping: Arc<RoleMapping>,
    pub client: Arc<AirlockClient>,
    /// Local verification of airlock JWTs, when enabled.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// The app's OAuth protected resources (RFC 9728), most specific path first.
    pub resources: Vec<ProtectedResource>,
}

/// A path that passes without identity: exact, or a prefix when it ends with `/*`.
#[derive(Debug, Clone)]
pub(crate) enum PublicPath {
    Exact(String),
    Prefix(String),
}

impl PublicPath {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PublicPath::Exact(p) => path == p,
            PublicPath::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

impl AirlockLayer {
    /// Starts a layer for the app with client slug `slug` (`lore`: headers `x-lore-user-*`).
    pub fn builder(slug: impl Into<String>) -> AirlockLayerBuilder {
        AirlockLayerBuilder {
            slug: slug.into(),
            airlock_url: "http://127.0.0.1:7070".to_owned(),
            login_url: None,
            app_url: None,
            public_paths: Vec::new(),
            timeout: Duration::from_secs(2),
            cache: None,
            breaker_threshold: 3,
            breaker_open_for: Duration::from_secs(5),
            mapping: RoleMapping::default(),
            jwt: None,
            revocation_refresh: Duration::from_secs(5),
            resources: Vec::new(),
            oauth_issuer: None,
        }
    }
}

impl<S> Layer<S> for AirlockLayer {
    type Service = AirlockService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AirlockService::new(inner, self.inner.clone())
    }
}

/// Configuration of an [`AirlockLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AirlockLayerBuilder {
    slug: String,
    airlock_url: String,
    login_url: Option<String>,
    app_url: Option<String>,
    public_paths: Vec<String>,
    timeout: Duration,
    cache: Option<(Duration, u64)>,
    breaker_threshold: u32,
    breaker_open_for: Duration,
    mapping: RoleMapping,
    jwt: Option<(String, Vec<String>)>,
    revocation_refresh: Duration,
    resources: Vec<(String, Vec<String>)>,
    oauth_issuer: Option<String>,
}

impl AirlockLayerBuilder {
    /// Where the middleware reaches airlock (server to server). Default `http://127.0.0.1:7070`.
    pub fn airlock_url(mut self, url: impl Into<String>) -> Self {
        self.airlock_url = url.into();
        self
    }

    /// Airlock's login page as browsers reach it. Default: `<airlock_url>/login`.
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = Some(url.into());
        self
    }

    /// The app's own public origin (`https://lore.example.com`), used to build the URL the
    /// login page sends the browser back to. Default: the request's `Host` over http.
    pub fn app_url(mut self, url: impl Into<String>) -> Self {
        self.app_url = Some(url.into());
        self
    }

    /// A path served without identity (`/health`), or every path under a prefix (`/static/*`).
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// How long to wait for airlock before answering the degraded banner. Default 2 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cache verdicts for `ttl` (at most 10 s), keyed by a hash of the credential, holding at
    /// most `capacity` entries. Off by default: every request is checked live, so revocations
    /// show at once; with a cache they show within `ttl`.
    pub fn cache(mut self, ttl: Duration, capacity: u64) -> Self {
        self.cache = Some((ttl, capacity));
        self
    }

    /// After `failures` consecutive failures, stop asking airlock for `open_for`, then probe it
    /// with one request. Default: 3 failures, 5 s.
    pub fn circuit_breaker(mut self, failures: u32, open_for: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_open_for = open_for;
        self
    }

    /// Verify airlock JWTs (access and service tokens) locally against airlock's JWKS instead of
    /// asking airlock: `issuer` is airlock's `public_url`, `audiences` its `jwt_audience`. API
    /// tokens and session cookies are still checked live. Revoked service tokens are refused
    /// within the revocation refresh interval.
    pub fn verify_jwts_locally(mut self, issuer: impl Into<String>, audiences: &[&str]) -> Self {
        self.jwt = Some((issuer.into(), audiences.iter().map(|a| (*a).to_owned()).collect()));
        self
    }

    /// How often the revocation list of service tokens is refreshed (default 5 s).
    pub fn revocation_refresh(mut self, every: Duration) -> Self {
        self.revocation_refresh = every;
        self
    }

    /// Serves `resource` (`https://lore.example.com/mcp`, the URL clients name) as an OAuth
    /// protected resource (RFC 9728). Requests at its path and below take only a bearer access
    /// token airlock issued for this resource (`aud` = `resource`) that holds every scope in
    /// `scopes`, verified locally against airlock's JWKS; others get 401 with
    /// `WWW-Authenticate: Bearer resource_metadata=…` or 403 `insufficient_scope`. The metadata
    /// is served at `/.well-known/oauth-protected-resource<path>`. Such a path takes no session
    /// cookie and is never public.
    ///
    /// ```
    /// let layer = edge_mw::AirlockLayer::builder("lore")
    ///     .oauth_resource("https://lore.example.com/mcp", &["read"])
    ///     .oauth_issuer("https://airlock.example.com")
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn oauth_resource(mut self, resource: impl Into<String>, scopes: &[&str]) -> Self {
        self.resources.push((resource.into(), scopes.iter().map(|s| (*s).to_owned()).collect()));
        self
    }

    /// Airlock's issuer (`public_url`, e.g. `https://airlock.example.com`): the authorization
    /// server the resources' metadata names and the `iss` their tokens must carry. Default: the
    /// issuer given to [`Self::verify_jwts_locally`], else the origin of the login page.
    pub fn oauth_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.oauth_issuer = Some(issuer.into());
        self
    }

    /// Replaces the contract's role mapping.
    pub fn role_mapping(mut self, mapping: RoleMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Checks everything and builds the layer.
    pub fn build(self) -> Result<AirlockLayer, BuildError> {
        let slug = self.slug.trim().to_ascii_lowercase();
        let slug_ok = !slug.is_empty()
            && slug.len() <= 32
            && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug_ok {
            return Err(BuildError::Slug(self.slug));
        }
        let airlock_url = parse_base_url(&self.airlock_url).map_err(BuildError::AirlockUrl)?;
        let login_url = match &self.login_url {
            Some(url) => parse_http_url(url).map_err(BuildError::LoginUrl)?,
            None => airlock_url.join("login").map_err(|e| BuildError::LoginUrl(e.to_string()))?,
        };
        let app_url = self.app_url.as_deref().map(parse_http_url).transpose().map_err(BuildError::AppUrl)?;
        let public_paths = self
            .public_paths
            .into_iter()
            .map(|p| match p.strip_suffix('*') {
                _ if !p.starts_with('/') => Err(BuildError::PublicPath(p)),
                Some(prefix) => Ok(PublicPath::Prefix(prefix.to_owned())),
                None => Ok(PublicPath::Exact(p)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.timeout < Duration::from_millis(10) || self.timeout > Duration::from_secs(60) {
            return Err(BuildError::Timeout);
        }
        if let Some((ttl, capacity)) = self.cache
            && (ttl > Duration::from_secs(10) || ttl.is_zero() || capacity == 0)
        {
            return Err(BuildError::Cache);
        }
        let session_url = airlock_url.join("api/auth/session").map_err(|e| BuildError::AirlockUrl(e.to_string()))?;
        let issuer = self
            .oauth_issuer
            .clone()
            .or_else(|| self.jwt.as_ref().map(|(issuer, _)| issuer.clone()))
            .unwrap_or_else(|| login_url.origin().ascii_serialization());
        let issuer = issuer.trim().trim_end_matches('/').to_owned();
        let http =
            reqwest::Client::builder().timeout(self.timeout).build().map_err(|e| BuildError::Client(e.to_string()))?;
        let jwks_url = airlock_url.join(".well-known/jwks.json").map_err(|e| BuildError::AirlockUrl(e.to_string()))?;
        let mut resources = self
            .resources
            .iter()
            .map(|(resource, scopes)| {
                ProtectedResource::new(resource, scopes.clone(), &issuer, jwks_url.clone(), http.clone())
                    .map_err(BuildError::OAuthResource)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A request under two resources' paths belongs to the more specific one.
        resources.sort_by_key(|r| std::cmp::Reverse(r.path_len()));
        let jwt = match self.jwt {
            Some((issuer, audiences)) => {
                if issuer.trim().is_empty() || audiences.is_empty() {
                    return Err(BuildError::Jwt("an issuer and at least one audience are required".into()));
                }
                if self.revocation_refresh < Duration::from_millis(100)
                    || self.revocation_refresh > Duration::from_secs(60)
                {
                    return Err(BuildError::Jwt("the revocation refresh must be between 100 ms and 60 s".into()));
                }
                let join = |path: &str| airlock_url.join(path).map_err(|e| BuildError::AirlockUrl(e.to_string()));
                let settings = JwtSettings {
                    jwks_url: join(".well-known/jwks.json")?,
                    revoked_url: Some(join("api/service-tokens/revoked")?),
                    issuer: issuer.trim_end_matches('/').to_owned(),
                    audiences,
                    revocation_refresh: self.revocation_refresh,
                    token_type: None,
                };
                Some(Arc::new(JwtVerifier::new(settings, http)))
            }
            None => None,
        };
        let client = AirlockClient::new(ClientSettings {
            session_url,
            timeout: self.timeout,
            cache: self.cache,
            breaker_threshold: self.breaker_threshold,
            breaker_open_for: self.breaker_open_for,
        })
        .map_err(BuildError::Client)?;
        Ok(AirlockLayer {
            inner: Arc::new(Settings {
                headers: IdentityHeaderNames::for_slug(&slug).ok_or_else(|| BuildError::Slug(slug.clone()))?,
                slug,
                login_url,
                app_url,
                public_paths,
                mapping: Arc::new(self.mapping),
                client: Arc::new(client),
                jwt,
                resources,
            }),
        })
    }
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    Ok(url)
}

/// A URL to join paths onto: with a trailing slash, so that `base/` + `api/…` keeps `base`.
fn parse_base_url(text: &str) -> Result<Url, String> {
    let mut url = parse_http_url(text)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configuration_is_refused_at_build_time() {
        let err = |b: AirlockLayerBuilder| b.build().unwrap_err().to_string();
        assert!(err(AirlockLayer::builder("Lo re")).starts_with("slug"));
        assert!(err(AirlockLayer::builder("lore").airlock_url("ftp://x")).starts_with("airlock_url"));
        assert!(err(AirlockLayer::builder("lore").airlock_url("not a url")).starts_with("airlock_url"));
        assert!(err(AirlockLayer::builder("lore").public_path("health")).starts_with("public path"));
        assert!(err(AirlockLayer::builder("lore").timeout(Duration::ZERO)).starts_with("timeout"));
        assert!(err(AirlockLayer::builder("lore").cache(Duration::from_secs(60), 100)).starts_with("cache"));
        assert!(err(AirlockLayer::builder("lore").cache(Duration::from_secs(1), 0)).starts_with("cache"));
        assert!(err(AirlockLayer::builder("lore").oauth_resource("/mcp", &[])).starts_with("oauth resource"));
    }

    #[tokio::test]
    async fn defaults_build() {
        let layer = AirlockLayer::builder("lore").public_path("/health").public_path("/static/*").build().unwrap();
        assert_eq!(layer.inner.login_url.as_str(), "http://127.0.0.1:7070/login");
        assert_eq!(layer.inner.headers.text.user_role, "x-lore-user-role");
        assert!(layer.inner.public_paths[1].matches("/static/app.css"));
        assert!(!layer.inner.public_paths[0].matches("/healthz"));
        let layer = AirlockLayer::builder("lore").airlock_url("http://airlock:7070/base").build().unwrap();
        assert_eq!(layer.inner.login_url.as_str(), "http://airlock:7070/base/login");
    }
}
