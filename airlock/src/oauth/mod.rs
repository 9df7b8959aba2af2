//! The OAuth 2.1 / OpenID Connect provider (contract section 7), free of HTTP: clients
//! ([`clients`], registered by an admin or by themselves ([`registration`]), or named by a
//! metadata document URL ([`cimd`])), the authorization request and its code ([`authorize`]),
//! the device grant ([`device`]), the token endpoint's grants with refresh-token families
//! ([`token`]), and consents ([`authorize::ConsentRecord`]).
//!
//! Every secret it hands out (codes, device and user codes, refresh tokens, client secrets) is
//! stored as its SHA-256 only. Access tokens are RFC 9068 JWTs signed by the key ring of `tokens::keys`; ID tokens
//! are RS256 JWTs for the client.

pub mod authorize;
pub mod cimd;
pub mod clients;
pub mod device;
pub mod registration;
pub mod scopes;
pub mod token;

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The grants a client may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628: a device without a browser (a TV, a CLI over SSH) has its user approve on
    /// another screen.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code", alias = "device_code")]
    DeviceCode,
}

/// The device grant's name, at the token endpoint and in metadata (RFC 8628 section 3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => DEVICE_CODE_GRANT,
        }
    }
}

impl std::str::FromStr for GrantType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            // The short name too, for `airlock client add --grant-types device_code`.
            DEVICE_CODE_GRANT | "device_code" => Ok(Self::DeviceCode),
            other => Err(format!("unknown grant type `{other}`")),
        }
    }
}

/// How the provider behaves, from the configuration.
#[derive(Debug, Clone)]
pub struct OAuthPolicy {
    /// `public_url` without a trailing slash: the one issuer string everywhere.
    pub issuer: String,
    /// airlock's own audience (`jwt_audience`): what a token asked for no `resource` is for.
    pub audience: String,
    /// Resources (RFC 8707) a token may be asked for besides airlock's own: the URLs listed in
    /// `oauth_resources`, and any URL on a trusted origin.
    pub resources: Vec<String>,
    pub origins: crate::origins::OriginPolicy,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token is still answered (concurrent refreshes of one client).
    pub refresh_grace: Duration,
    /// How long a device code (and its user code) may be approved and redeemed.
    pub device_code_ttl: Duration,
}

impl OAuthPolicy {
    /// The audience of a token asked for `resource`: airlock's own without one; else a listed
    /// resource or a URL on a trusted origin (a sibling app's API, `https://lore.example.com/mcp`).
    /// Anything else is `invalid_target`.
    pub fn audience_for(&self, resource: Option<&str>) -> Result<String, Error> {
        let Some(resource) = resource.filter(|r| !r.is_empty()) else { return Ok(self.audience.clone()) };
        let refused = || oauth_error(400, "invalid_target", "this resource is not one airlock issues tokens for");
        // airlock's own APIs, named by the URL its protected-resource metadata gives (RFC 9728):
        // tokens for them carry `jwt_audience`, which is what they accept.
        if resource.trim_end_matches('/') == self.issuer {
            return Ok(self.audience.clone());
        }
        if resource == self.audience || self.resources.iter().any(|r| r == resource) {
            return Ok(resource.to_owned());
        }
        let url = url::Url::parse(resource).map_err(|_| refused())?;
        if url.fragment().is_some() || !url.username().is_empty() || !matches!(url.scheme(), "https" | "http") {
            return Err(refused());
        }
        if self.origins.is_trusted(&url) { Ok(resource.to_owned()) } else { Err(refused()) }
    }
}

/// How long an authorization code may be redeemed.
pub const CODE_TTL: Duration = Duration::from_secs(60);

pub(crate) fn oauth_error(status: u16, code: &'static str, description: impl Into<String>) -> Error {
    Error::OAuth { status, code, description: description.into() }
}

pub(crate) fn invalid_request(description: impl Into<String>) -> Error {
    oauth_error(400, "invalid_request", description)
}

pub(crate) fn invalid_grant(description: impl Into<String>) -> Error {
    oauth_error(400, "invalid_grant", description)
}

pub(crate) fn invalid_client(description: impl Into<String>) -> Error {
    oauth_error(401, "invalid_client", description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_grant_is_named_by_its_urn_and_by_its_short_name() {
        assert_eq!("urn:ietf:params:oauth:grant-type:device_code".parse(), Ok(GrantType::DeviceCode));
        assert_eq!("device_code".parse(), Ok(GrantType::DeviceCode));
        assert_eq!(serde_json::to_value(GrantType::DeviceCode).unwrap(), DEVICE_CODE_GRANT);
        assert_eq!(serde_json::from_value::<GrantType>("device_code".into()).unwrap(), GrantType::DeviceCode);
        assert_eq!(GrantType::DeviceCode.as_str(), DEVICE_CODE_GRANT);
    }
}
