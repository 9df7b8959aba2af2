//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): what MCP
//! clients and other apps that arrive unannounced use to get a `client_id`.
//!
//! A registered client is never first-party (the consent page always shows, with the host it
//! returns to) and may use only the code flow and refresh tokens: `client_credentials` would let
//! anyone mint tokens for a client nobody vouched for. The registration access token, shown once,
//! is kept as its SHA-256, like every other secret.

use super::clients::{ClientRecord, NewClient, RegisteredClient, check_redirect_uri};
use super::scopes;
use super::{GrantType, oauth_error};
use crate::error::{Error, Result};
use crate::secrets::{hash_secret, secure_eq};
use crate::service::Airlock;
use crate::store::{Durability, Records};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The client metadata of RFC 7591 section 2 that airlock reads; the rest is ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// `web` (default) or `native`.
    #[serde(default)]
    pub application_type: Option<String>,
}

/// Scopes a registered client may ask for when it names none.
const DEFAULT_SCOPES: &str = "openid profile email offline_access";

fn invalid_metadata(description: impl Into<String>) -> Error {
    oauth_error(400, "invalid_client_metadata", description)
}

fn invalid_redirect(description: impl Into<String>) -> Error {
    oauth_error(400, "invalid_redirect_uri", description)
}

fn new_registration_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("alg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A registration as RFC 7591 answers it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub client: RegisteredClient,
    /// For RFC 7592 (read, update, delete), shown once.
    pub registration_access_token: Option<String>,
}

impl ClientMetadata {
    /// Checks the metadata and turns it into a client to register.
    fn to_new_client(&self, dev: bool) -> Result<NewClient> {
        let name = self.client_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Unnamed app".into());
        let grants = self.grants()?;
        if self.redirect_uris.is_empty() && grants.contains(&GrantType::AuthorizationCode) {
            return Err(invalid_redirect("redirect_uris is required"));
        }
        let native = match self.application_type.as_deref() {
            None | Some("web") => false,
            Some("native") => true,
            Some(other) => {
                return Err(invalid_metadata(format!("application_type `{}` is unknown", other.escape_debug())));
            }
        };
        for uri in &self.redirect_uris {
            check_redirect_uri(uri, dev || native).map_err(|e| invalid_redirect(e.to_string()))?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri, dev).map_err(|e| invalid_metadata(e.to_string()))?;
        }
        if self.response_types.iter().flatten().any(|r| r != "code") {
            return Err(invalid_metadata("only the code response type is supported"));
        }
        let public = match self.token_endpoint_auth_method.as_deref() {
            None | Some("client_secret_basic") | Some("client_secret_post") => false,
            Some("none") => true,
            Some(other) => {
                return Err(invalid_metadata(format!(
                    "token_endpoint_auth_method `{}` is unsupported",
                    other.escape_debug()
                )));
            }
        };
        let scopes = scopes::parse(self.scope.as_deref().unwrap_or(DEFAULT_SCOPES))
            .map_err(|e| invalid_metadata(e.to_string()))?;
        Ok(NewClient {
            name,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            public,
            first_party: false,
            grant_types: Some(grants),
            scopes: Some(scopes.to_text()),
        })
    }
}

impl ClientMetadata {
    /// The grants asked for: the code flow and refresh tokens when none are named; the code flow
    /// is implied unless the client names the device grant without it (a device that has no
    /// redirect to register). `client_credentials` is never for a client nobody vouched for.
    fn grants(&self) -> Result<Vec<GrantType>> {
        let Some(named) = &self.grant_types else {
            return Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
        };
        let mut grants = Vec::new();
        for grant in named {
            let grant = match grant.as_str() {
                "authorization_code" => GrantType::AuthorizationCode,
                "refresh_token" => GrantType::RefreshToken,
                super::DEVICE_CODE_GRANT => GrantType::DeviceCode,
                other => {
                    return Err(invalid_metadata(format!(
                        "a registered client may use authorization_code, refresh_token and the device grant, not `{}`",
                        other.escape_debug()
                    )));
                }
            };
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        if !grants.contains(&GrantType::DeviceCode) && !grants.contains(&GrantType::AuthorizationCode) {
            grants.insert(0, GrantType::AuthorizationCode);
        }
        Ok(grants)
    }
}

/// The metadata a client record is described by, in RFC 7591's words.
pub fn metadata_of(client: &ClientRecord) -> ClientMetadata {
    ClientMetadata {
        client_name: Some(client.name.clone()),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        grant_types: Some(client.grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
        response_types: Some(vec!["code".into()]),
        token_endpoint_auth_method: Some(if client.is_public() { "none" } else { "client_secret_basic" }.into()),
        scope: Some(client.scopes.to_text()),
        application_type: None,
    }
}

impl Airlock {
    /// `POST /oauth/register`.
    pub async fn register_dynamically(
        &self,
        metadata: &ClientMetadata,
        dev: bool,
        now: OffsetDateTime,
    ) -> Result<Registration> {
        let new = metadata.to_new_client(dev)?;
        let mut registered = self.register_client(new, dev, now).await?;
        let token = new_registration_token();
        let client = ClientRecord { registration_token_hash: Some(hash_secret(&token)), ..registered.client.clone() };
        self.store.put(&client, Durability::Stored).await?;
        registered.client = client;
        Ok(Registration { client: registered, registration_access_token: Some(token) })
    }

    /// The dynamically registered client `client_id`, for the bearer of its registration access
    /// token (RFC 7592). Anything else, an unknown client included, is `invalid_token`.
    pub async fn registered_client(&self, client_id: &str, token: &str) -> Result<ClientRecord> {
        let refused = || oauth_error(401, "invalid_token", "the registration access token is invalid");
        let client = self.client(client_id).await?.ok_or_else(refused)?;
        match &client.registration_token_hash {
            Some(hash) if secure_eq(hash, &hash_secret(token)) => Ok(client),
            _ => Err(refused()),
        }
    }

    /// RFC 7592 update: the metadata replaced (the id, secret and registration token stay).
    pub async fn update_registration(
        &self,
        client_id: &str,
        token: &str,
        metadata: &ClientMetadata,
        dev: bool,
    ) -> Result<ClientRecord> {
        let current = self.registered_client(client_id, token).await?;
        let new = metadata.to_new_client(dev)?;
        if new.public != current.is_public() {
            return Err(invalid_metadata("token_endpoint_auth_method cannot change"));
        }
        let updated = ClientRecord {
            name: new.name,
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            grant_types: new.grant_types.unwrap_or_default(),
            scopes: scopes::parse(new.scopes.as_deref().unwrap_or(DEFAULT_SCOPES))?,
            ..current
        };
        self.store.put(&updated, Durability::Stored).await?;
        Ok(updated)
    }

    /// RFC 7592 delete.
    pub async fn delete_registration(&self, client_id: &str, token: &str) -> Result<()> {
        self.registered_client(client_id, token).await?;
        self.remove_client(client_id).await.map(|_| ())
    }
}
