//! Configuration: a TOML file, overridden key by key by `AIRLOCK_<KEY>` environment variables,
//! validated once into [`Config`]. Any problem is one [`Error::Config`] naming the key.

use crate::error::{Error, Result};
use crate::origins::{OriginPolicy, TrustedOrigin};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The file/environment form: every key optional, durations and lists as text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub cookie_domain: Option<String>,
    pub cookie_secure: Option<bool>,
    pub trusted_origins: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    pub store: Option<String>,
    pub store_timeout: Option<String>,
    pub redis_prefix: Option<String>,
    pub session_ttl: Option<String>,
    pub session_update_age: Option<String>,
    pub session_idle_timeout: Option<String>,
    pub secret: Option<String>,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    pub password_hash_concurrency: Option<usize>,
    pub max_tokens_per_user: Option<usize>,
    pub jwt_audience: Option<Vec<String>>,
    pub login_max_failures: Option<u64>,
    pub login_max_failures_per_ip: Option<u64>,
    pub login_window: Option<String>,
    pub login_ban: Option<String>,
    pub access_token_ttl: Option<String>,
    pub service_token_max_ttl: Option<String>,
    pub oauth_resources: Option<Vec<String>>,
    pub oauth_dynamic_registration: Option<bool>,
    pub oauth_refresh_ttl: Option<String>,
    pub oauth_refresh_grace: Option<String>,
    pub oauth_device_code_ttl: Option<String>,
    pub log_format: Option<String>,
}

/// Where airlock keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Embedded(PathBuf),
    Redis(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub dev: bool,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub cookie_domain: Option<String>,
    pub cookie_secure: bool,
    pub origins: OriginPolicy,
    /// Peers whose `X-Forwarded-*` headers are believed (reverse proxies).
    pub trusted_proxies: Vec<IpNet>,
    pub store: StoreUrl,
    pub store_timeout: Duration,
    pub redis_prefix: String,
    pub session_ttl: Duration,
    pub session_update_age: Duration,
    pub session_idle_timeout: Option<Duration>,
    pub secret: Option<String>,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    pub password_hash_concurrency: usize,
    pub max_tokens_per_user: usize,
    /// `aud` of the JWTs airlock issues and accepts.
    pub jwt_audience: Vec<String>,
    pub throttle: crate::sessions::throttle::ThrottlePolicy,
    pub access_token_ttl: Duration,
    pub service_token_max_ttl: Duration,
    /// Resources (RFC 8707) OAuth tokens may be asked for, besides airlock's own audience and
    /// URLs on trusted origins.
    pub oauth_resources: Vec<String>,
    /// Whether apps may register themselves (RFC 7591).
    pub oauth_dynamic_registration: bool,
    pub oauth_refresh_ttl: Duration,
    pub oauth_refresh_grace: Duration,
    /// How long a device authorization (RFC 8628) waits for its user.
    pub oauth_device_code_ttl: Duration,
    pub log_format: LogFormat,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
const DEFAULT_STORE: &str = "embedded:./airlock-data";
/// Only ever used under `--dev` without `AIRLOCK_SECRET`.
const DEV_SECRET: &str = "airlock --dev secret: not for production";
/// A proxy on the same host (nginx, Caddy in front of airlock) is trusted by default.
const DEFAULT_TRUSTED_PROXIES: &[&str] = &["127.0.0.0/8", "::1/128"];

/// `10.0.0.0/8`, `192.168.1.10` or `::1`.
fn parse_proxy(text: &str) -> Result<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| Error::config("trusted_proxies", format!("`{text}` is not an IP address or CIDR range")))
}

/// Every key, for the environment overlay and the README.
pub const KEYS: &[&str] = &[
    "listen",
    "public_url",
    "cookie_domain",
    "cookie_secure",
    "trusted_origins",
    "trusted_proxies",
    "store",
    "store_timeout",
    "redis_prefix",
    "session_ttl",
    "session_update_age",
    "session_idle_timeout",
    "secret",
    "bootstrap_admin_email",
    "bootstrap_admin_password",
    "password_hash_concurrency",
    "max_tokens_per_user",
    "jwt_audience",
    "login_max_failures",
    "login_max_failures_per_ip",
    "login_window",
    "login_ban",
    "access_token_ttl",
    "service_token_max_ttl",
    "oauth_resources",
    "oauth_dynamic_registration",
    "oauth_refresh_ttl",
    "oauth_refresh_grace",
    "oauth_device_code_ttl",
    "log_format",
];

impl RawConfig {
    /// Reads `file` (if given), then applies `AIRLOCK_*` variables from `env`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::config("config", format!("cannot read {}: {e}", path.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| Error::config("config", format!("{}: {}", path.display(), e.message())))?
            }
            None => toml::Table::new(),
        };
        for key in KEYS {
            let var = format!("AIRLOCK_{}", key.to_ascii_uppercase());
            if let Some(value) = env(&var) {
                table.insert((*key).to_owned(), env_value(key, &value)?);
            }
        }
        RawConfig::deserialize(toml::Value::Table(table)).map_err(|e| Error::config("config", e.message().to_owned()))
    }
}

/// Gives an environment string the TOML type its key expects.
fn env_value(key: &'static str, value: &str) -> Result<toml::Value> {
    Ok(match key {
        "trusted_origins" | "trusted_proxies" | "jwt_audience" | "oauth_resources" => toml::Value::Array(
            value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| toml::Value::String(s.into())).collect(),
        ),
        "cookie_secure" | "oauth_dynamic_registration" => toml::Value::Boolean(
            value.parse().map_err(|_| Error::config(key, format!("`{value}` is not true or false")))?,
        ),
        "password_hash_concurrency" | "max_tokens_per_user" | "login_max_failures" | "login_max_failures_per_ip" => {
            toml::Value::Integer(value.parse().map_err(|_| Error::config(key, format!("`{value}` is not a number")))?)
        }
        _ => toml::Value::String(value.to_owned()),
    })
}

/// Parses `90s`, `15m`, `12h`, `7d` (or plain seconds).
pub fn parse_duration(key: &'static str, text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || Error::config(key, format!("`{text}` is not a duration like 90s, 15m, 12h or 7d"));
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(Error::config(key, "must be longer than zero"));
    }
    Ok(Duration::from_secs(seconds))
}

fn duration_or(key: &'static str, value: &Option<String>, default: Duration) -> Result<Duration> {
    value.as_deref().map(|v| parse_duration(key, v)).transpose().map(|d| d.unwrap_or(default))
}

/// Refuses a cookie domain that is a public suffix (`com`, `co.uk`, `fly.dev`): a cookie there
/// would be sent to every site under it.
pub fn check_cookie_domain(domain: &str) -> Result<String> {
    let domain = domain.trim().trim_start_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.contains(['/', ':', ' ']) {
        return Err(Error::config("cookie_domain", format!("`{domain}` is not a domain name")));
    }
    let is_public_suffix = psl::suffix(domain.as_bytes()).is_some_and(|s| s.as_bytes() == domain.as_bytes());
    if is_public_suffix || !domain.contains('.') {
        return Err(Error::config(
            "cookie_domain",
            format!("`{domain}` is a public suffix; use a domain you own, such as example.com"),
        ));
    }
    Ok(domain)
}

fn parse_store(value: &str) -> Result<StoreUrl> {
    if let Some(path) = value.strip_prefix("embedded:") {
        if path.is_empty() {
            return Err(Error::config("store", "embedded: needs a directory, e.g. embedded:./airlock-data"));
        }
        return Ok(StoreUrl::Embedded(PathBuf::from(path)));
    }
    if value.starts_with("rediss+cluster://") {
        return Err(Error::config("store", "TLS to a Redis Cluster is not supported yet: use redis+cluster://"));
    }
    if value.starts_with("rediss+sentinel://") {
        return Err(Error::config("store", "TLS to sentinels is not supported yet: use redis+sentinel://"));
    }
    if value.starts_with("redis+cluster://") {
        crate::store::redis::ClusterUrl::parse(value)?;
        return Ok(StoreUrl::Redis(value.to_owned()));
    }
    if value.starts_with("redis+sentinel://") {
        // Checked here, so that a malformed URL stops startup with its own line.
        crate::store::redis::SentinelUrl::parse(value)?;
        return Ok(StoreUrl::Redis(value.to_owned()));
    }
    if value.starts_with("redis://") || value.starts_with("rediss://") || value.starts_with("redis+unix://") {
        return Ok(StoreUrl::Redis(value.to_owned()));
    }
    Err(Error::config(
        "store",
        format!("`{value}` is neither embedded:PATH nor a redis://, redis+sentinel:// or redis+cluster:// URL"),
    ))
}

impl Config {
    /// The secret that seals signing keys. `--dev` without one uses a fixed development secret
    /// (and says so): keys made that way are not protected at rest.
    pub fn signing_secret(&self) -> &str {
        self.secret.as_deref().unwrap_or(DEV_SECRET)
    }

    /// How long a retired signing key stays published: the longest any token it signed lives.
    pub fn key_publish_window(&self) -> Duration {
        self.access_token_ttl.max(self.service_token_max_ttl) + Duration::from_secs(60)
    }

    /// Whether a peer's `X-Forwarded-*` headers may be believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// Validates `raw`. `dev` relaxes what plain-HTTP local development needs relaxed.
    pub fn from_raw(raw: RawConfig, dev: bool) -> Result<Self> {
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| Error::config("listen", format!("`{listen_text}` is not an address like 127.0.0.1:7070")))?;

        let public_url = match raw.public_url.as_deref() {
            Some(text) => Url::parse(text).map_err(|e| Error::config("public_url", format!("`{text}`: {e}")))?,
            None if dev => {
                Url::parse(&format!("http://{listen}")).map_err(|e| Error::config("listen", e.to_string()))?
            }
            None => {
                return Err(Error::config("public_url", "required outside --dev, e.g. https://airlock.example.com"));
            }
        };
        if public_url.path() != "/" || public_url.query().is_some() || !public_url.username().is_empty() {
            return Err(Error::config(
                "public_url",
                "must be an origin without path or query, e.g. https://airlock.example.com",
            ));
        }
        let host = public_url.host_str().ok_or_else(|| Error::config("public_url", "needs a host"))?.to_owned();
        match public_url.scheme() {
            "https" => {}
            "http" if dev => {}
            "http" => return Err(Error::config("public_url", "must be https outside --dev")),
            other => {
                return Err(Error::config("public_url", format!("unsupported scheme `{other}`")));
            }
        }

        let cookie_domain = raw.cookie_domain.as_deref().map(check_cookie_domain).transpose()?;
        if let Some(domain) = &cookie_domain
            && host != *domain
            && !host.ends_with(&format!(".{domain}"))
        {
            return Err(Error::config(
                "cookie_domain",
                format!("public_url host `{host}` is not inside cookie_domain `{domain}`"),
            ));
        }

        let cookie_secure = raw.cookie_secure.unwrap_or(!dev || public_url.scheme() == "https");
        if !cookie_secure && !dev {
            return Err(Error::config("cookie_secure", "the Secure attribute can only be turned off with --dev"));
        }
        if cookie_secure && public_url.scheme() != "https" {
            return Err(Error::config("cookie_secure", "a Secure cookie needs an https public_url"));
        }

        let trusted = raw
            .trusted_origins
            .unwrap_or_default()
            .iter()
            .map(|e| TrustedOrigin::parse(e))
            .collect::<Result<Vec<_>>>()?;
        if let Some(domain) = &cookie_domain {
            for origin in &trusted {
                let h = origin.host();
                if h != domain && !h.ends_with(&format!(".{domain}")) && !dev {
                    tracing::warn!(slug = %origin.slug, host = h, "trusted origin is outside cookie_domain: it will not receive the session cookie");
                }
            }
        }

        let trusted_proxies = match raw.trusted_proxies {
            Some(list) => list.iter().map(|p| parse_proxy(p)).collect::<Result<Vec<_>>>()?,
            None => DEFAULT_TRUSTED_PROXIES.iter().map(|p| parse_proxy(p)).collect::<Result<Vec<_>>>()?,
        };

        let store = parse_store(raw.store.as_deref().unwrap_or(DEFAULT_STORE))?;
        let store_timeout = duration_or("store_timeout", &raw.store_timeout, Duration::from_secs(2))?;
        let session_ttl = duration_or("session_ttl", &raw.session_ttl, Duration::from_secs(7 * 86_400))?;
        let session_update_age =
            duration_or("session_update_age", &raw.session_update_age, Duration::from_secs(86_400))?;
        if session_update_age > session_ttl {
            return Err(Error::config("session_update_age", "must not be longer than session_ttl"));
        }
        let session_idle_timeout =
            raw.session_idle_timeout.as_deref().map(|v| parse_duration("session_idle_timeout", v)).transpose()?;

        let secret = raw.secret.filter(|s| !s.is_empty());
        match &secret {
            None if !dev => {
                return Err(Error::config("secret", "AIRLOCK_SECRET is required outside --dev (32+ characters)"));
            }
            Some(s) if s.len() < 32 => {
                return Err(Error::config("secret", "must be at least 32 characters"));
            }
            _ => {}
        }

        let jwt_audience = raw.jwt_audience.unwrap_or_else(|| vec!["airlock".to_owned()]);
        if jwt_audience.is_empty() || jwt_audience.iter().any(|a| a.trim().is_empty()) {
            return Err(Error::config("jwt_audience", "needs at least one non-empty audience"));
        }
        let defaults = crate::sessions::throttle::ThrottlePolicy::default();
        let throttle = crate::sessions::throttle::ThrottlePolicy {
            max_failures_per_account: raw.login_max_failures.unwrap_or(defaults.max_failures_per_account),
            max_failures_per_ip: raw.login_max_failures_per_ip.unwrap_or(defaults.max_failures_per_ip),
            window: duration_or("login_window", &raw.login_window, defaults.window)?,
            ban: duration_or("login_ban", &raw.login_ban, defaults.ban)?,
        };
        if throttle.max_failures_per_account == 0 || throttle.max_failures_per_ip == 0 {
            return Err(Error::config("login_max_failures", "must be at least 1"));
        }
        let access_token_ttl = duration_or("access_token_ttl", &raw.access_token_ttl, Duration::from_secs(15 * 60))?;
        let service_token_max_ttl =
            duration_or("service_token_max_ttl", &raw.service_token_max_ttl, Duration::from_secs(24 * 3600))?;

        let oauth_resources = raw.oauth_resources.unwrap_or_default();
        for resource in &oauth_resources {
            let url = Url::parse(resource)
                .map_err(|e| Error::config("oauth_resources", format!("`{resource}` is not a URL: {e}")))?;
            if url.fragment().is_some() || !matches!(url.scheme(), "https" | "http") {
                return Err(Error::config("oauth_resources", format!("`{resource}`: an http(s) URL without fragment")));
            }
        }
        let oauth_refresh_ttl =
            duration_or("oauth_refresh_ttl", &raw.oauth_refresh_ttl, Duration::from_secs(30 * 86_400))?;
        let oauth_refresh_grace =
            duration_or("oauth_refresh_grace", &raw.oauth_refresh_grace, Duration::from_secs(10))?;
        let oauth_device_code_ttl =
            duration_or("oauth_device_code_ttl", &raw.oauth_device_code_ttl, Duration::from_secs(600))?;
        if oauth_device_code_ttl.is_zero() {
            return Err(Error::config("oauth_device_code_ttl", "must be longer than zero"));
        }

        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(Error::config("log_format", format!("`{other}` is neither text nor json")));
            }
        };
        let password_hash_concurrency = raw.password_hash_concurrency.unwrap_or_else(default_hash_concurrency);
        if password_hash_concurrency == 0 {
            return Err(Error::config("password_hash_concurrency", "must be at least 1"));
        }

        Ok(Self {
            dev,
            listen,
            origins: OriginPolicy::new(public_url.clone(), trusted).trusting_loopback(dev),
            trusted_proxies,
            public_url,
            cookie_domain,
            cookie_secure,
            store,
            store_timeout,
            redis_prefix: raw.redis_prefix.unwrap_or_else(|| "airlock:".to_owned()),
            session_ttl,
            session_update_age,
            session_idle_timeout,
            secret,
            bootstrap_admin_email: raw.bootstrap_admin_email,
            bootstrap_admin_password: raw.bootstrap_admin_password,
            password_hash_concurrency,
            max_tokens_per_user: raw.max_tokens_per_user.unwrap_or(crate::service::DEFAULT_MAX_TOKENS_PER_USER),
            jwt_audience,
            throttle,
            access_token_ttl,
            service_token_max_ttl,
            oauth_resources,
            oauth_dynamic_registration: raw.oauth_dynamic_registration.unwrap_or(true),
            oauth_refresh_ttl,
            oauth_refresh_grace,
            oauth_device_code_ttl,
            log_format,
        })
    }

    /// The session cookie's name: `__Secure-` whenever the cookie is Secure.
    pub fn cookie_name(&self) -> &'static str {
        if self.cookie_secure { shared::names::SESSION_COOKIE } else { shared::names::DEV_SESSION_COOKIE }
    }
}

/// Half the cores (at least one): hashing never takes the whole machine from session checks.
fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map(|n| (n.get() / 2).max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod(extra: &[(&str, &str)]) -> Result<Config> {
        let mut vars: Vec<(String, String)> = vec![
            ("AIRLOCK_PUBLIC_URL".into(), "https://airlock.example.com".into()),
            ("AIRLOCK_COOKIE_DOMAIN".into(), "example.com".into()),
            ("AIRLOCK_SECRET".into(), "0123456789abcdef0123456789abcdef".into()),
        ];
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push(((*k).into(), (*v).into()));
        }
        let raw = RawConfig::load(None, |k| vars.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))?;
        Config::from_raw(raw, false)
    }

    fn problem(result: Result<Config>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn defaults_run_in_dev_with_nothing_set() {
        let config = Config::from_raw(RawConfig::default(), true).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7070");
        assert_eq!(config.store, StoreUrl::Embedded("./airlock-data".into()));
        assert!(!config.cookie_secure);
        assert_eq!(config.cookie_name(), "airlock_session");
        assert_eq!(config.session_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(config.session_update_age, Duration::from_secs(86_400));
    }

    #[test]
    fn production_needs_secure_https_and_a_secret() {
        let config = prod(&[]).unwrap();
        assert!(config.cookie_secure);
        assert_eq!(config.cookie_name(), "__Secure-airlock_session");
        assert!(problem(prod(&[("AIRLOCK_SECRET", "")])).starts_with("secret:"));
        assert!(problem(prod(&[("AIRLOCK_COOKIE_SECURE", "false")])).starts_with("cookie_secure:"));
        assert!(problem(prod(&[("AIRLOCK_PUBLIC_URL", "http://airlock.example.com")])).starts_with("public_url:"));
    }

    #[test]
    fn public_suffixes_are_refused_as_cookie_domain() {
        for suffix in ["com", "co.uk", "fly.dev", "github.io", ".com", "localhost"] {
            let err = problem(prod(&[("AIRLOCK_COOKIE_DOMAIN", suffix)]));
            assert!(err.starts_with("cookie_domain:") && err.contains("public suffix"), "{suffix}: {err}");
        }
        assert_eq!(check_cookie_domain(".Example.COM").unwrap(), "example.com");
        assert!(check_cookie_domain("example.co.uk").is_ok());
        assert!(check_cookie_domain("example.test").is_ok());
    }

    #[test]
    fn public_url_must_sit_inside_the_cookie_domain() {
        let err = problem(prod(&[("AIRLOCK_PUBLIC_URL", "https://airlock.example.org")]));
        assert!(err.starts_with("cookie_domain:") && err.contains("not inside"), "{err}");
        let err = problem(prod(&[("AIRLOCK_PUBLIC_URL", "https://evilexample.com")]));
        assert!(err.contains("not inside"), "{err}");
        assert!(prod(&[("AIRLOCK_PUBLIC_URL", "https://example.com")]).is_ok());
    }

    #[test]
    fn environment_lists_and_durations() {
        let config = prod(&[
            ("AIRLOCK_TRUSTED_ORIGINS", "lore=https://lore.example.com, hubble=https://*.example.com"),
            ("AIRLOCK_SESSION_TTL", "12h"),
            ("AIRLOCK_SESSION_UPDATE_AGE", "90m"),
            ("AIRLOCK_STORE", "redis://127.0.0.1:6379/0"),
        ])
        .unwrap();
        assert_eq!(config.origins.trusted().len(), 2);
        assert_eq!(config.session_ttl, Duration::from_secs(12 * 3600));
        assert_eq!(config.session_update_age, Duration::from_secs(90 * 60));
        assert_eq!(config.store, StoreUrl::Redis("redis://127.0.0.1:6379/0".into()));
        assert!(problem(prod(&[("AIRLOCK_SESSION_TTL", "7 weeks")])).starts_with("session_ttl:"));
        assert!(problem(prod(&[("AIRLOCK_STORE", "postgres://x")])).starts_with("store:"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("k", "90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("k", "15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("k", "7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("k", "30").unwrap(), Duration::from_secs(30));
        for bad in ["", "0s", "s", "1w", "-5s", "99999999999999999999d"] {
            assert!(parse_duration("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_toml_file_is_overridden_by_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airlock.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nsession_ttl = \"1d\"\n").unwrap();
        let raw = RawConfig::load(Some(&path), |k| (k == "AIRLOCK_SESSION_TTL").then(|| "2d".to_owned())).unwrap();
        let config = Config::from_raw(raw, true).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.session_ttl, Duration::from_secs(2 * 86_400));
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = RawConfig::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }
}
