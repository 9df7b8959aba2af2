//! OAuth clients (contract section 7): registered by an admin (`airlock client add`,
//! `POST /api/admin/clients`). Confidential clients hold a secret, shown once and kept as its
//! SHA-256; public clients (CLIs, MCP clients, native apps) hold none and prove themselves with
//! PKCE alone.

use super::scopes::{self, OAuthScopes};
use super::{GrantType, invalid_client};
use crate::error::{Error, Result};
use crate::secrets::{hash_secret, new_id, secure_eq};
use crate::service::Airlock;
use crate::store::{Durability, Record, Records, Spec};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

/// Prefix of client secrets, so that scanners and people recognise a leaked one.
pub const CLIENT_SECRET_PREFIX: &str = "alc_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// What the client may ask for; for `client_credentials`, what it is given.
    pub scopes: OAuthScopes,
    /// Trusted to skip the consent page (the organisation's own apps).
    pub first_party: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// For a client that registered itself (RFC 7591): the SHA-256 of its registration access
    /// token (RFC 7592).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
}

/// OAuth clients: `oauth_client:<client id>` listed in `oauth_clients` on Redis, the
/// `oauth_clients` table embedded.
impl Record for ClientRecord {
    const SPEC: Spec = Spec { name: "oauth_client", table: "oauth_clients", all: Some("oauth_clients"), owned: None };

    fn id(&self) -> &str {
        &self.client_id
    }
}

impl ClientRecord {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `requested` names: an exact match, or, for a loopback
    /// redirect of a public (native) client, the same URI on any port (RFC 8252 section 7.3).
    /// No `requested`: the one registered, if there is exactly one.
    pub fn redirect_uri(&self, requested: Option<&str>) -> Option<String> {
        let Some(requested) = requested else {
            return match self.redirect_uris.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            };
        };
        if self.redirect_uris.iter().any(|r| r == requested) {
            return Some(requested.to_owned());
        }
        let asked = Url::parse(requested).ok()?;
        let loopback = |url: &Url| url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]"));
        if !self.is_public() || !loopback(&asked) {
            return None;
        }
        self.redirect_uris.iter().find_map(|registered| {
            let mut registered = Url::parse(registered).ok()?;
            if !loopback(&registered) {
                return None;
            }
            registered.set_port(asked.port()).ok()?;
            (registered == asked).then(|| requested.to_owned())
        })
    }

    /// Checks the client's secret, in constant time. A public client has none to check.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<()> {
        match (&self.secret_hash, secret) {
            (None, None) => Ok(()),
            (Some(hash), Some(secret)) if secure_eq(hash, &hash_secret(secret)) => Ok(()),
            (None, Some(_)) => Err(invalid_client("a public client has no secret")),
            _ => Err(invalid_client("client authentication failed")),
        }
    }
}

/// A client to register.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret).
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub first_party: bool,
    /// Default: `authorization_code` and `refresh_token` (with redirect URIs), else
    /// `client_credentials`.
    #[serde(default)]
    pub grant_types: Option<Vec<GrantType>>,
    /// Default: `openid profile email offline_access`.
    #[serde(default)]
    pub scopes: Option<String>,
}

/// A registered client with its secret, shown this once.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: ClientRecord,
    pub secret: Option<String>,
}

fn new_client_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{CLIENT_SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A redirect URI a client may register: absolute, no fragment; `https`, or `http` on a
/// loopback address (native apps, RFC 8252) or on any host in `--dev`; or a private-use scheme
/// (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str, dev: bool) -> Result<()> {
    let bad = |why: &str| Error::bad_request(format!("redirect URI `{uri}`: {why}"));
    let url = Url::parse(uri).map_err(|e| bad(&e.to_string()))?;
    if url.fragment().is_some() {
        return Err(bad("a redirect URI has no fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if dev || matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")) => Ok(()),
        "http" => Err(bad("use https (http only on a loopback address)")),
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err(bad("not a scheme a redirect may use")),
        // A private-use scheme of a native app: reverse-DNS, with a dot (RFC 8252 section 7.1).
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(bad("use https, a loopback http address, or a reverse-DNS private-use scheme")),
    }
}

impl Airlock {
    /// Registers a client; its secret, if confidential, is in the answer only.
    pub async fn register_client(&self, new: NewClient, dev: bool, now: OffsetDateTime) -> Result<RegisteredClient> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::bad_request("a client needs a name of at most 100 characters"));
        }
        for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris) {
            check_redirect_uri(uri, dev)?;
        }
        let grant_types = match new.grant_types {
            Some(grants) if !grants.is_empty() => grants,
            _ if new.redirect_uris.is_empty() => vec![GrantType::ClientCredentials],
            _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        if grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
            return Err(Error::bad_request("the authorization_code grant needs at least one redirect URI"));
        }
        if grant_types.contains(&GrantType::ClientCredentials) && new.public {
            return Err(Error::bad_request("a public client cannot use client_credentials: it has no secret"));
        }
        let scopes = match new.scopes.as_deref() {
            Some(text) => scopes::parse(text)?,
            None => scopes::parse(scopes::DEFAULT_CLIENT_SCOPES)?,
        };
        let secret = (!new.public).then(new_client_secret);
        let client = ClientRecord {
            client_id: new_id("cli"),
            name: name.to_owned(),
            secret_hash: secret.as_deref().map(hash_secret),
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            grant_types,
            scopes,
            first_party: new.first_party,
            created_at: now,
            registration_token_hash: None,
        };
        self.store.insert(&client).await?;
        Ok(RegisteredClient { client, secret })
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        self.store.get::<ClientRecord>(client_id).await
    }

    pub async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let mut clients = self.store.all::<ClientRecord>().await?;
        clients.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
        Ok(clients)
    }

    /// Removes a client: its tokens stop refreshing at once (a revocation, so replicated).
    pub async fn remove_client(&self, client_id: &str) -> Result<ClientRecord> {
        self.store
            .delete::<ClientRecord>(client_id, Durability::Replicated)
            .await?
            .ok_or_else(|| Error::not_found(format!("client {client_id}")))
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<RegisteredClient> {
        let read = self
            .store
            .get_versioned::<ClientRecord>(client_id)
            .await?
            .ok_or_else(|| Error::not_found(format!("client {client_id}")))?;
        if read.record.is_public() {
            return Err(Error::bad_request("a public client has no secret to rotate"));
        }
        let secret = new_client_secret();
        let client = ClientRecord { secret_hash: Some(hash_secret(&secret)), ..read.record.clone() };
        if !self.store.swap(&client, &read, Durability::Replicated).await? {
            return Err(Error::conflict(format!("client {client_id} changed meanwhile; try again")));
        }
        Ok(RegisteredClient { client, secret: Some(secret) })
    }

    /// The client `client_id` names: a registered one, or, for a URL, the one its metadata
    /// document describes (fetched or cached; a document that cannot be used is
    /// `invalid_client`, saying why).
    pub async fn resolve_client(&self, client_id: &str, now: OffsetDateTime) -> Result<Option<ClientRecord>> {
        match self.metadata_documents.url_of(client_id) {
            Some(url) => self.metadata_documents.client(&url, now).await.map(Some),
            None => self.client(client_id).await,
        }
    }

    /// The client `client_id`, authenticated by `secret` (none for a public client). An unknown
    /// client and a wrong secret are told apart by nobody: both are `invalid_client`.
    pub async fn authenticate_client(&self, client_id: &str, secret: Option<&str>) -> Result<ClientRecord> {
        let client = self
            .resolve_client(client_id, crate::service::now())
            .await?
            .ok_or_else(|| invalid_client("client authentication failed"))?;
        client.authenticate(secret)?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, redirects: &[&str]) -> ClientRecord {
        ClientRecord {
            client_id: "cli_1".into(),
            name: "App".into(),
            secret_hash: (!public).then(|| hash_secret("s3cret")),
            redirect_uris: redirects.iter().map(|r| r.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: scopes::parse("openid").unwrap(),
            first_party: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            registration_token_hash: None,
        }
    }

    #[test]
    fn redirect_uris_match_exactly_with_loopback_ports_relaxed_for_native_clients() {
        let web = client(false, &["https://app.example.com/cb", "http://127.0.0.1:8080/cb"]);
        assert_eq!(web.redirect_uri(Some("https://app.example.com/cb")).as_deref(), Some("https://app.example.com/cb"));
        assert_eq!(web.redirect_uri(Some("https://app.example.com/cb/")), None, "exact match");
        assert_eq!(web.redirect_uri(Some("https://app.example.com/cb?x=1")), None);
        assert_eq!(web.redirect_uri(Some("http://127.0.0.1:9999/cb")), None, "confidential: no port relaxation");
        assert_eq!(web.redirect_uri(None), None, "two registered: must say which");

        let native = client(true, &["http://127.0.0.1/callback"]);
        assert!(native.redirect_uri(Some("http://127.0.0.1:53123/callback")).is_some(), "any port");
        assert_eq!(native.redirect_uri(Some("http://127.0.0.1:53123/other")), None, "same path only");
        assert_eq!(native.redirect_uri(Some("http://localhost:53123/callback")), None, "same host only");
        assert_eq!(native.redirect_uri(None).as_deref(), Some("http://127.0.0.1/callback"));
    }

    #[test]
    fn secrets_are_checked_and_public_clients_have_none() {
        let confidential = client(false, &[]);
        assert!(confidential.authenticate(Some("s3cret")).is_ok());
        assert!(confidential.authenticate(Some("wrong")).is_err());
        assert!(confidential.authenticate(None).is_err());
        let public = client(true, &[]);
        assert!(public.authenticate(None).is_ok());
        assert!(public.authenticate(Some("anything")).is_err());
    }

    #[test]
    fn only_safe_redirect_uris_register() {
        for ok in
            ["https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb", "com.example.app:/cb"]
        {
            assert!(check_redirect_uri(ok, false).is_ok(), "{ok}");
        }
        for bad in
            ["http://app.example.com/cb", "https://app.example.com/cb#x", "javascript:alert(1)", "cb", "myapp:/cb"]
        {
            assert!(check_redirect_uri(bad, false).is_err(), "{bad}");
        }
        assert!(check_redirect_uri("http://app.example.com/cb", true).is_ok(), "--dev allows http");
    }
}
