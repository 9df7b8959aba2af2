//! The app's APIs that take OAuth access tokens: RFC 9728 protected resources.
//!
//! A request at or under a resource's path (`/mcp`, `/mcp/…`) is let through only with a bearer
//! access token airlock issued *for that resource*: an RFC 9068 `at+jwt` whose `aud` is the
//! resource URL, verified locally against airlock's JWKS. The audience is what keeps out a
//! token meant for another app or for airlock's own APIs (RFC 8707). Session cookies are not
//! taken there: such APIs serve MCP clients and scripts, and a cookie would let any page the
//! person visits call them.
//!
//! Without a valid token the answer is 401 with `WWW-Authenticate: Bearer resource_metadata=…`,
//! which tells a client where the metadata is (`/.well-known/oauth-protected-resource/<path>`)
//! and, through it, which authorization server to ask (RFC 9728 §5.1). A token without a
//! required scope gets 403 `insufficient_scope` (RFC 6750 §3.1).
//!
//! Access tokens stay valid until they expire (airlock's `jwt_ttl`): that is what local
//! verification trades for not asking airlock on every call. Keep that TTL short.

use crate::client::Verdict;
use crate::headers::Identity;
use crate::jwt::{JwtSettings, JwtVerifier, looks_like_jwt};
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Where RFC 9728 puts a resource's metadata: this, then the resource's path.
pub const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// One protected resource of the app, built and checked by the layer's builder.
#[derive(Debug)]
pub(crate) struct ProtectedResource {
    /// `/mcp` (no trailing slash; empty for a resource that is the whole origin).
    path: String,
    /// [`METADATA_PREFIX`] + `path`.
    metadata_path: String,
    /// The metadata document, rendered once.
    metadata: String,
    /// `resource_metadata="…", scope="…"`: the parameters every challenge carries.
    challenge: String,
    scopes: Vec<String>,
    verifier: Arc<JwtVerifier>,
}

/// Why a request to a protected resource is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No bearer token: the challenge alone, without an error (RFC 6750 §3.1).
    NoToken,
    /// A token that is not a valid access token for this resource.
    InvalidToken,
    /// A valid token without every scope the resource needs.
    InsufficientScope,
    /// Airlock's keys cannot be fetched and none are known yet.
    Unavailable(Duration),
}

impl ProtectedResource {
    /// `resource` is the resource's URL as clients name it (`https://lore.example.com/mcp`);
    /// `issuer` airlock's `public_url`.
    pub fn new(
        resource: &str,
        scopes: Vec<String>,
        issuer: &str,
        jwks_url: Url,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let url = Url::parse(resource).map_err(|e| format!("`{resource}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("`{resource}` is not an http(s) URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{resource}` must have no query and no fragment (RFC 8707 §2)"));
        }
        if let Some(bad) = scopes.iter().find(|s| s.is_empty() || !s.bytes().all(is_scope_char)) {
            return Err(format!("scope `{bad}` is not a valid OAuth scope"));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        let metadata_path = format!("{METADATA_PREFIX}{path}");
        let metadata_url = format!("{}{metadata_path}", url.origin().ascii_serialization());
        let resource = url.to_string();
        let metadata = serde_json::json!({
            "resource": resource,
            "authorization_servers": [issuer],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })
        .to_string();
        let mut challenge = format!("resource_metadata=\"{metadata_url}\"");
        if !scopes.is_empty() {
            challenge.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
        }
        let settings = JwtSettings {
            jwks_url,
            revoked_url: None,
            issuer: issuer.to_owned(),
            audiences: vec![resource],
            revocation_refresh: Duration::from_secs(5),
            token_type: Some("at+jwt"),
        };
        Ok(Self {
            path,
            metadata_path,
            metadata,
            challenge,
            scopes,
            verifier: Arc::new(JwtVerifier::new(settings, http)),
        })
    }

    /// The length of the resource's path: the longer, the more specific.
    pub fn path_len(&self) -> usize {
        self.path.len()
    }

    /// Whether `path` is this resource's metadata document.
    pub fn is_metadata(&self, path: &str) -> bool {
        path == self.metadata_path
    }

    /// Whether `path` is the resource or under it.
    pub fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The metadata document: public, cacheable for a while, and readable from any origin (a
    /// browser-based client discovers the authorization server through it).
    pub fn metadata_response(&self, method: &Method) -> Response<String> {
        let mut response = match *method {
            Method::GET | Method::HEAD => Response::new(self.metadata.clone()),
            Method::OPTIONS => {
                let mut preflight = Response::new(String::new());
                *preflight.status_mut() = StatusCode::NO_CONTENT;
                preflight
            }
            _ => {
                let mut refused = Response::new(r#"{"error":"method_not_allowed"}"#.to_owned());
                *refused.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                refused
            }
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        response
    }

    /// The caller behind the request's bearer token, if it may use this resource.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Arc<Identity>, Refusal> {
        let Some(value) = headers.get(AUTHORIZATION) else { return Err(Refusal::NoToken) };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| token.len() <= 4096 && looks_like_jwt(token))
            .ok_or(Refusal::InvalidToken)?;
        match self.verifier.verify(token).await {
            Verdict::Authenticated { identity, .. } => {
                let granted = &identity.view.auth.scopes;
                if self.scopes.iter().all(|needed| granted.contains(needed)) {
                    Ok(identity)
                } else {
                    Err(Refusal::InsufficientScope)
                }
            }
            Verdict::Unauthenticated => Err(Refusal::InvalidToken),
            Verdict::Unavailable { retry_after } => Err(Refusal::Unavailable(retry_after)),
        }
    }

    /// The `WWW-Authenticate` value for a refusal (RFC 6750 §3, RFC 9728 §5.1).
    pub fn challenge(&self, refusal: Refusal) -> HeaderValue {
        let value = match refusal {
            Refusal::InvalidToken => format!("Bearer error=\"invalid_token\", {}", self.challenge),
            Refusal::InsufficientScope => format!("Bearer error=\"insufficient_scope\", {}", self.challenge),
            Refusal::NoToken | Refusal::Unavailable(_) => format!("Bearer {}", self.challenge),
        };
        // Built from a parsed URL and checked scopes: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// The 401 or 403 of a refusal (not [`Refusal::Unavailable`], which is the degraded answer).
    pub fn refusal_response(&self, refusal: Refusal) -> Response<String> {
        let (status, error, message) = match refusal {
            Refusal::InsufficientScope => {
                (StatusCode::FORBIDDEN, "insufficient_scope", "this token lacks a scope this API needs")
            }
            Refusal::InvalidToken => {
                (StatusCode::UNAUTHORIZED, "invalid_token", "this token is not a valid access token for this API")
            }
            Refusal::NoToken | Refusal::Unavailable(_) => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", "this API takes an OAuth access token")
            }
        };
        let body = serde_json::json!({"error": error, "message": message}).to_string();
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(WWW_AUTHENTICATE, self.challenge(refusal));
        response
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(url: &str, scopes: &[&str]) -> Result<ProtectedResource, String> {
        let jwks = Url::parse("http://127.0.0.1:7070/.well-known/jwks.json").unwrap();
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        ProtectedResource::new(url, scopes, "https://airlock.example.com", jwks, reqwest::Client::new())
    }

    #[test]
    fn paths_and_metadata_follow_rfc_9728() {
        let mcp = resource("https://lore.example.com/mcp", &["read"]).unwrap();
        assert!(mcp.covers("/mcp") && mcp.covers("/mcp/") && mcp.covers("/mcp/x"));
        assert!(!mcp.covers("/mcpx") && !mcp.covers("/") && !mcp.covers("/api/mcp"));
        assert!(mcp.is_metadata("/.well-known/oauth-protected-resource/mcp"));
        assert!(!mcp.is_metadata("/.well-known/oauth-protected-resource"));
        let doc: serde_json::Value = serde_json::from_str(mcp.metadata_response(&Method::GET).body()).unwrap();
        assert_eq!(doc["resource"], "https://lore.example.com/mcp");
        assert_eq!(doc["authorization_servers"], serde_json::json!(["https://airlock.example.com"]));
        assert_eq!(doc["scopes_supported"], serde_json::json!(["read"]));
        assert_eq!(
            mcp.challenge(Refusal::NoToken),
            "Bearer resource_metadata=\"https://lore.example.com/.well-known/oauth-protected-resource/mcp\", \
             scope=\"read\""
        );
        assert!(
            mcp.challenge(Refusal::InsufficientScope)
                .to_str()
                .unwrap()
                .starts_with("Bearer error=\"insufficient_scope\", ")
        );
        assert_eq!(mcp.refusal_response(Refusal::InsufficientScope).status(), StatusCode::FORBIDDEN);
        assert_eq!(mcp.refusal_response(Refusal::InvalidToken).status(), StatusCode::UNAUTHORIZED);

        let whole = resource("https://lore.example.com", &[]).unwrap();
        assert!(whole.covers("/") && whole.covers("/anything"));
        assert!(whole.is_metadata("/.well-known/oauth-protected-resource"));
        assert!(!whole.challenge(Refusal::NoToken).to_str().unwrap().contains("scope="));
    }

    #[test]
    fn bad_resources_are_refused() {
        assert!(resource("lore.example.com/mcp", &[]).is_err());
        assert!(resource("ftp://lore.example.com/mcp", &[]).is_err());
        assert!(resource("https://lore.example.com/mcp?x=1", &[]).is_err());
        assert!(resource("https://lore.example.com/mcp#f", &[]).is_err());
        assert!(resource("https://lore.example.com/mcp", &["a\"b"]).is_err());
        assert!(resource("https://lore.example.com/mcp", &[""]).is_err());
    }

    #[tokio::test]
    async fn requests_without_a_usable_bearer_are_refused_before_any_key_is_fetched() {
        let mcp = resource("https://lore.example.com/mcp", &["read"]).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(mcp.check(&headers).await.unwrap_err(), Refusal::NoToken);
        for bad in ["Basic dXNlcjpwYXNz", "Bearer alk_notajwt", "Bearer a.b", "Bearer"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(mcp.check(&headers).await.unwrap_err(), Refusal::InvalidToken, "{bad}");
        }
    }
}
