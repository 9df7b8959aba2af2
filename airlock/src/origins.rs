//! Which origins airlock trusts, and the two rules built on them: CSRF origin checks and
//! redirect validation. Pure functions of strings: no HTTP types, heavily tested.
//!
//! Parsing follows the WHATWG URL standard (the `url` crate), the same parser browsers use, so
//! what is checked here is what a browser would navigate to: `/\evil.com`, tabs inside
//! `//evil.com` and similar tricks resolve to `evil.com` here too, and are refused.

use crate::error::{Error, Result};
use url::Url;

/// One `slug = origin` entry of `trusted_origins`. The host may start with `*.` to trust every
/// subdomain (never the apex itself), always pinned to one scheme and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedOrigin {
    pub slug: String,
    scheme: String,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: stores `.example.com`.
    Subdomains(String),
}

impl TrustedOrigin {
    /// Parses `slug=https://app.example.com` or `slug=https://*.example.com`.
    pub fn parse(entry: &str) -> Result<Self> {
        let bad = |why: &str| Error::config("trusted_origins", format!("`{entry}`: {why}"));
        let (slug, origin) =
            entry.split_once('=').ok_or_else(|| bad("expected slug=origin, e.g. lore=https://lore.example.com"))?;
        let slug = slug.trim();
        if slug.is_empty() || !slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("the slug must be letters, digits, `-` or `_`"));
        }
        let origin = origin.trim();
        let (scheme, rest) = origin.split_once("://").ok_or_else(|| bad("the origin needs a scheme"))?;
        if scheme != "https" && scheme != "http" {
            return Err(bad("the scheme must be http or https"));
        }
        let (wildcard, concrete) = match rest.strip_prefix("*.") {
            Some(tail) => (true, format!("{scheme}://{tail}")),
            None => (false, origin.to_owned()),
        };
        let url = Url::parse(&concrete).map_err(|e| bad(&e.to_string()))?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(bad("an origin has no path, query, fragment or user"));
        }
        let host = url.host_str().ok_or_else(|| bad("the origin needs a host"))?.to_owned();
        let host = if wildcard { HostPattern::Subdomains(format!(".{host}")) } else { HostPattern::Exact(host) };
        Ok(Self { slug: slug.to_owned(), scheme: scheme.to_owned(), host, port: url.port() })
    }

    /// Whether `url`'s origin is covered by this entry.
    pub fn matches(&self, url: &Url) -> bool {
        if url.scheme() != self.scheme || url.port() != self.port {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        match &self.host {
            HostPattern::Exact(exact) => host == exact,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }

    /// The host this entry names (for a wildcard, the domain below the `*`).
    pub fn host(&self) -> &str {
        match &self.host {
            HostPattern::Exact(h) => h,
            HostPattern::Subdomains(s) => &s[1..],
        }
    }
}

/// Airlock's own origin plus the trusted ones.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    own: Url,
    trusted: Vec<TrustedOrigin>,
    /// `--dev` only: any `http://127.0.0.1:*`, `http://localhost:*` or `http://[::1]:*` origin
    /// is trusted, so that local apps work without configuration.
    loopback: bool,
}

/// Longest redirect target accepted; real ones are far shorter.
const MAX_REDIRECT_LEN: usize = 2048;

impl OriginPolicy {
    pub fn new(own: Url, trusted: Vec<TrustedOrigin>) -> Self {
        Self { own, trusted, loopback: false }
    }

    /// Trusts every loopback http origin too (for `--dev`).
    pub fn trusting_loopback(mut self, loopback: bool) -> Self {
        self.loopback = loopback;
        self
    }

    fn is_loopback(url: &Url) -> bool {
        url.scheme() == "http"
            && match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            }
    }

    pub fn own_origin(&self) -> &Url {
        &self.own
    }

    pub fn trusted(&self) -> &[TrustedOrigin] {
        &self.trusted
    }

    /// Whether `url` is same-origin with airlock or covered by `trusted_origins`.
    pub fn is_trusted(&self, url: &Url) -> bool {
        url.origin() == self.own.origin()
            || self.trusted.iter().any(|t| t.matches(url))
            || (self.loopback && Self::is_loopback(url))
    }

    /// The CSRF rule for a state-changing request, given its `Origin`, `Referer` and
    /// `Sec-Fetch-Site` headers (`None` when absent). A request with none of them comes from a
    /// non-browser client and passes; SameSite=Lax keeps the cookie off cross-site subrequests.
    pub fn check_request_origin(
        &self,
        origin: Option<&str>,
        referer: Option<&str>,
        sec_fetch_site: Option<&str>,
    ) -> Result<()> {
        if sec_fetch_site.is_some_and(|s| s.trim().eq_ignore_ascii_case("cross-site")) {
            return Err(Error::InvalidOrigin);
        }
        let claimed = match (origin, referer) {
            (Some(origin), _) => origin,
            (None, Some(referer)) => referer,
            (None, None) => return Ok(()),
        };
        // `Origin: null` (sandboxed frames, some redirects) parses as no URL: refused.
        match Url::parse(claimed.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && self.is_trusted(&url) => Ok(()),
            _ => Err(Error::InvalidOrigin),
        }
    }

    /// Validates a redirect target. Relative paths resolve against airlock's own URL; the
    /// result must be http(s), carry no credentials, and land on a trusted origin. Returns the
    /// normalised absolute URL (what was checked is what is sent), or `None` when refused.
    pub fn safe_redirect(&self, target: &str) -> Option<Url> {
        if target.is_empty() || target.len() > MAX_REDIRECT_LEN {
            return None;
        }
        // Browsers drop these characters before parsing (WHATWG); refusing them outright keeps
        // an attacker from hiding a second slash or a scheme behind them.
        if target.chars().any(|c| c.is_control() || c == '\\') {
            return None;
        }
        let url = self.own.join(target).ok()?;
        let acceptable = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && self.is_trusted(&url);
        acceptable.then_some(url)
    }

    /// `safe_redirect`, falling back to `default` for a missing or refused target.
    pub fn redirect_or(&self, target: Option<&str>, default: &Url) -> Url {
        target.and_then(|t| self.safe_redirect(t)).unwrap_or_else(|| default.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(
            Url::parse("https://airlock.example.com").unwrap(),
            vec![
                TrustedOrigin::parse("lore=https://lore.example.com").unwrap(),
                TrustedOrigin::parse("apps=https://*.apps.example.com").unwrap(),
                TrustedOrigin::parse("local=http://localhost:3000").unwrap(),
            ],
        )
    }

    #[test]
    fn trusted_origin_entries_parse_or_explain() {
        assert!(TrustedOrigin::parse("lore=https://lore.example.com").is_ok());
        for bad in [
            "https://lore.example.com",
            "=https://lore.example.com",
            "lore=lore.example.com",
            "lore=ftp://lore.example.com",
            "lore=https://lore.example.com/path",
            "lore=https://user@lore.example.com",
            "lo re=https://lore.example.com",
        ] {
            let err = TrustedOrigin::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("trusted_origins:"), "{bad}: {err}");
        }
    }

    #[test]
    fn wildcards_cover_subdomains_only_on_their_scheme_and_port() {
        let p = policy();
        let ok = |u: &str| p.is_trusted(&Url::parse(u).unwrap());
        assert!(ok("https://a.apps.example.com/x"));
        assert!(ok("https://a.b.apps.example.com"));
        assert!(!ok("https://apps.example.com"));
        assert!(!ok("http://a.apps.example.com"));
        assert!(!ok("https://a.apps.example.com:8443"));
        assert!(!ok("https://evilapps.example.com"));
        assert!(ok("http://localhost:3000/"));
        assert!(!ok("http://localhost:3001/"));
        assert!(ok("https://airlock.example.com/login"));
    }

    #[test]
    fn relative_and_trusted_redirects_pass() {
        let p = policy();
        let ok = |t: &str| p.safe_redirect(t).map(|u| u.to_string());
        assert_eq!(ok("/").as_deref(), Some("https://airlock.example.com/"));
        assert_eq!(ok("/account?tab=1#x").as_deref(), Some("https://airlock.example.com/account?tab=1#x"));
        assert_eq!(ok("https://lore.example.com/notes/1").as_deref(), Some("https://lore.example.com/notes/1"));
        assert_eq!(ok("https://x.apps.example.com/").as_deref(), Some("https://x.apps.example.com/"));
        // Encoded slashes stay inside the path: a browser navigates to airlock itself.
        assert_eq!(ok("/%2F%2Fevil.com").as_deref(), Some("https://airlock.example.com/%2F%2Fevil.com"));
    }

    /// Classic open-redirect payloads (OWASP, PayloadsAllTheThings): all refused.
    #[test]
    fn open_redirect_payloads_are_refused() {
        let p = policy();
        let payloads = [
            "//evil.com",
            "///evil.com",
            "////evil.com/%2f..",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "https://evil.com",
            "http://evil.com",
            "https://example.com.evil.com",
            "https://lore.example.com.evil.com/",
            "https://lore.example.com@evil.com",
            "https://evil.com#https://lore.example.com",
            "https://evil.com?https://lore.example.com",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "http://lore.example.com",
            "https:evil.com",
            "https:/evil.com",
            "//evil.com@lore.example.com",
            "https://user:pass@lore.example.com/",
            "https://%65vil.com",
            "https://evil%2ecom",
            "\u{0000}https://evil.com",
            "//%09/evil.com",
            "https://lore.example.com:444/",
        ];
        for payload in payloads {
            let verdict = p.safe_redirect(payload);
            assert!(
                verdict.as_ref().is_none_or(|u| p.is_trusted(u) && u.host_str() != Some("evil.com")),
                "{payload:?} -> {verdict:?}"
            );
            if let Some(url) = verdict {
                assert_eq!(url.origin(), p.own_origin().origin(), "{payload:?} left airlock: {url}");
            }
        }
        assert!(p.safe_redirect(&format!("/{}", "a".repeat(MAX_REDIRECT_LEN))).is_none());
    }

    #[test]
    fn loopback_is_trusted_only_when_asked() {
        let url = Url::parse("http://127.0.0.1:7071/notes").unwrap();
        assert!(!policy().is_trusted(&url));
        let dev = policy().trusting_loopback(true);
        assert!(dev.is_trusted(&url));
        assert!(dev.is_trusted(&Url::parse("http://localhost:3000/").unwrap()));
        assert!(!dev.is_trusted(&Url::parse("https://127.0.0.1.evil.com/").unwrap()));
        assert!(!dev.is_trusted(&Url::parse("http://localhost.evil.com/").unwrap()));
    }

    #[test]
    fn csrf_rule() {
        let p = policy();
        assert!(p.check_request_origin(None, None, None).is_ok());
        assert!(p.check_request_origin(Some("https://airlock.example.com"), None, None).is_ok());
        assert!(p.check_request_origin(Some("https://lore.example.com"), None, Some("same-site")).is_ok());
        assert!(p.check_request_origin(None, Some("https://lore.example.com/page"), None).is_ok());
        for evil in
            ["https://evil.com", "null", "", "https://airlock.example.com.evil.com", "http://airlock.example.com"]
        {
            assert!(matches!(p.check_request_origin(Some(evil), None, None), Err(Error::InvalidOrigin)), "{evil}");
        }
        assert!(p.check_request_origin(None, Some("https://evil.com/"), None).is_err());
        assert!(p.check_request_origin(None, None, Some("cross-site")).is_err());
        assert!(p.check_request_origin(Some("https://airlock.example.com"), None, Some("cross-site")).is_err());
    }
}
