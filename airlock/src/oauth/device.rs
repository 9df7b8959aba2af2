//! The device authorization grant (RFC 8628): a device without a usable browser (a TV, a CLI
//! over SSH) asks for a pair of codes, shows the short `user_code` to its user, and polls the
//! token endpoint with the long `device_code` while the user, signed in on another screen, types
//! the user code on `/device`, sees which client asks for what, and approves or denies.
//!
//! Both codes are stored as SHA-256 only (the record's id and a unique key). The user code is
//! short enough to type, so it is never enough by itself: a person must see the client and
//! press Approve (section 5.4), and wrong guesses are counted and banned per user (section 5.1).

use super::authorize::requested_scopes;
use super::clients::ClientRecord;
use super::scopes::OAuthScopes;
use super::token::{Grant, TokenSet};
use super::{GrantType, OAuthPolicy, invalid_grant, oauth_error};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::secrets::{hash_secret, new_id};
use crate::service::Airlock;
use crate::store::{Durability, Record, Records, Spec, Versioned};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// Consonants only, without look-alikes (RFC 8628 section 6.1): no vowels (no words spelled by
/// accident), no digits (0/O, 1/I), case-insensitive.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8: about 34 bits, which the guess limit below makes far out of reach within a code's life.
const USER_CODE_LEN: usize = 8;
/// How often a device may poll, at first (RFC 8628 section 3.2 suggests 5 s).
pub const POLL_INTERVAL_SECS: u64 = 5;
/// What a `slow_down` adds to the interval (section 3.5).
const SLOW_DOWN_SECS: u64 = 5;
/// How long an expired device code is still recognised, so that its device hears
/// `expired_token` rather than an unknown code.
const EXPIRED_MEMORY: time::Duration = time::Duration::minutes(10);
/// Wrong user codes a person may type in [`GUESS_WINDOW`] before a ban of [`GUESS_BAN`].
const MAX_WRONG_CODES: u64 = 5;
const GUESS_WINDOW: Duration = Duration::from_secs(600);
const GUESS_BAN: Duration = Duration::from_secs(600);

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceState {
    /// Waiting for its user.
    Pending,
    /// Approved by `user_id`, whose session began at `auth_time`.
    Approved {
        user_id: String,
        #[serde(with = "time::serde::rfc3339")]
        auth_time: OffsetDateTime,
    },
    Denied,
    /// Its tokens were issued: a device code is single use.
    Redeemed,
}

/// A device authorization, stored under the SHA-256 of its device code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: String,
    /// SHA-256 of the normalised user code: the unique key the page finds it by.
    pub user_code_hash: String,
    pub client_id: String,
    pub scopes: OAuthScopes,
    pub resource: Option<String>,
    /// Seconds the device must wait between polls (grows with each `slow_down`).
    pub interval: u64,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_poll: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub state: DeviceState,
}

impl Record for DeviceRecord {
    const SPEC: Spec = Spec { name: "oauth_device", table: "oauth_device_codes", all: None, owned: None };

    fn id(&self) -> &str {
        &self.id
    }

    fn unique_keys(&self) -> Vec<(&'static str, String)> {
        vec![("user_code", self.user_code_hash.clone())]
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        Some(self.expires_at + EXPIRED_MEMORY)
    }
}

/// The answer of the device authorization endpoint (RFC 8628 section 3.2).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As shown to people: `BCDF-GHJK`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// A pending device authorization a person typed the code of, with the client that asks.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    pub client: ClientRecord,
    pub scopes: OAuthScopes,
    /// The code as the person should see it again (`BCDF-GHJK`).
    pub user_code: String,
}

fn new_device_code() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LEN).map(|_| char::from(USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())])).collect()
}

/// `BCDFGHJK` → `BCDF-GHJK`.
fn display_user_code(code: &str) -> String {
    let (head, tail) = code.split_at(code.len() / 2);
    format!("{head}-{tail}")
}

/// A user code as typed (any case, with dashes or spaces) in its one stored form, or `None`
/// when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

fn guess_key(user_id: &str) -> String {
    format!("device:{user_id}")
}

fn secs(duration: Duration) -> Result<time::Duration> {
    time::Duration::try_from(duration).map_err(Error::internal)
}

impl Airlock {
    /// `POST /oauth/device_authorization`: a device code and a user code for `client`, asking
    /// for `scope` and `resource` under the same rules as the authorization endpoint.
    pub async fn authorize_device(
        &self,
        client: &ClientRecord,
        scope: Option<&str>,
        resource: Option<&str>,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<DeviceAuthorization> {
        if !client.allows(GrantType::DeviceCode) {
            return Err(oauth_error(400, "unauthorized_client", "this client may not use the device grant"));
        }
        let scopes = requested_scopes(client, scope)?;
        let resource = resource.filter(|r| !r.is_empty());
        policy.audience_for(resource)?;
        let device_code = new_device_code();
        // A user code is short: another pending one may hold it. A few draws find a free one.
        for _ in 0..5 {
            let user_code = new_user_code();
            let record = DeviceRecord {
                id: hash_secret(&device_code),
                user_code_hash: hash_secret(&user_code),
                client_id: client.client_id.clone(),
                scopes: scopes.clone(),
                resource: resource.map(str::to_owned),
                interval: POLL_INTERVAL_SECS,
                last_poll: None,
                expires_at: now + secs(policy.device_code_ttl)?,
                state: DeviceState::Pending,
            };
            match self.store.insert(&record).await {
                Ok(()) => {
                    // The page shows the code as the device does: `BCDF-GHJK` (URL-safe as is).
                    let user_code = display_user_code(&user_code);
                    let verification_uri = format!("{}/device", policy.issuer);
                    let verification_uri_complete = format!("{verification_uri}?user_code={user_code}");
                    return Ok(DeviceAuthorization {
                        device_code,
                        user_code,
                        verification_uri,
                        verification_uri_complete,
                        expires_in: policy.device_code_ttl.as_secs(),
                        interval: POLL_INTERVAL_SECS,
                    });
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("no free user code after five draws"))
    }

    /// The pending authorization `typed` names, for the person `user_id` on the device page.
    /// `None` for a wrong, expired or already answered code, which counts as a wrong guess;
    /// too many of those are [`Error::RateLimited`], before any lookup.
    pub async fn pending_device(
        &self,
        typed: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingDevice>> {
        Ok(self.device_by_user_code(typed, user_id, now).await?.map(|(read, client)| PendingDevice {
            client,
            scopes: read.record.scopes.clone(),
            user_code: display_user_code(&normalize_user_code(typed).unwrap_or_default()),
        }))
    }

    /// The person's answer on the device page: approve (binding the authorization to them and
    /// to their sign-in at `auth_time`) or deny. `None` when the code is no longer pending.
    pub async fn decide_device(
        &self,
        typed: &str,
        user_id: &str,
        email: &str,
        auth_time: OffsetDateTime,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<Option<ClientRecord>> {
        let Some((read, client)) = self.device_by_user_code(typed, user_id, now).await? else { return Ok(None) };
        let state = if approve {
            DeviceState::Approved { user_id: user_id.to_owned(), auth_time }
        } else {
            DeviceState::Denied
        };
        let decided = DeviceRecord { state, ..read.record.clone() };
        // Answered meanwhile (another tab, another person with the code): this answer is void.
        if !self.store.swap(&decided, &read, Durability::Stored).await? {
            return Ok(None);
        }
        let event = if approve { "oauth.device.approve" } else { "oauth.device.deny" };
        self.audit(AuditEvent::new(event).actor(email).subject(&client.client_id)).await;
        Ok(Some(client))
    }

    async fn device_by_user_code(
        &self,
        typed: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Versioned<DeviceRecord>, ClientRecord)>> {
        let key = guess_key(user_id);
        if let Some(retry_after) = self.store.ban_remaining(&key).await? {
            return Err(Error::RateLimited { retry_after });
        }
        let found = match normalize_user_code(typed) {
            Some(code) => self.store.find::<DeviceRecord>("user_code", &hash_secret(&code)).await?,
            None => None,
        };
        let pending = match found {
            Some(record) if record.state == DeviceState::Pending && record.expires_at > now => {
                // Read again with its version, for the compare-and-set of an answer.
                match self.store.get_versioned::<DeviceRecord>(&record.id).await? {
                    Some(read) => match self.client(&read.record.client_id).await? {
                        Some(client) if client.allows(GrantType::DeviceCode) => Some((read, client)),
                        _ => None,
                    },
                    None => None,
                }
            }
            _ => None,
        };
        if pending.is_none() {
            let failures = self.store.count_failure(&key, GUESS_WINDOW).await?;
            if failures >= MAX_WRONG_CODES {
                self.store.ban(&key, GUESS_BAN).await?;
                self.audit(AuditEvent::new("oauth.device.guesses").actor(user_id).failed()).await;
            }
        }
        Ok(pending)
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: the device's poll. Pending
    /// (or `slow_down` when it polls faster than its interval), denied, expired, or the tokens
    /// of a code redemption, once.
    pub async fn redeem_device_code(
        &self,
        client: &ClientRecord,
        device_code: &str,
        policy: &OAuthPolicy,
        now: OffsetDateTime,
    ) -> Result<TokenSet> {
        const BAD_CODE: &str = "the device code is invalid or already used";
        if !client.allows(GrantType::DeviceCode) {
            return Err(oauth_error(400, "unauthorized_client", "this client may not use the device grant"));
        }
        let id = hash_secret(device_code);
        loop {
            let read = self.store.get_versioned::<DeviceRecord>(&id).await?.ok_or_else(|| invalid_grant(BAD_CODE))?;
            let record = &read.record;
            if record.client_id != client.client_id {
                return Err(invalid_grant(BAD_CODE));
            }
            match &record.state {
                DeviceState::Redeemed => return Err(invalid_grant(BAD_CODE)),
                DeviceState::Denied => return Err(oauth_error(400, "access_denied", "the user denied the request")),
                _ if record.expires_at <= now => {
                    return Err(oauth_error(400, "expired_token", "the device code expired; start again"));
                }
                DeviceState::Pending => {
                    // Pacing matters only while nothing is decided (slow_down is a kind of pending).
                    let wait = secs(Duration::from_secs(record.interval))?;
                    let too_fast = record.last_poll.is_some_and(|last| now - last < wait);
                    let interval = if too_fast { record.interval + SLOW_DOWN_SECS } else { record.interval };
                    let polled = DeviceRecord { last_poll: Some(now), interval, ..record.clone() };
                    if !self.store.swap(&polled, &read, Durability::Stored).await? {
                        continue;
                    }
                    return Err(if too_fast {
                        oauth_error(400, "slow_down", format!("poll at most every {interval} seconds"))
                    } else {
                        oauth_error(400, "authorization_pending", "the user has not answered yet")
                    });
                }
                DeviceState::Approved { user_id, auth_time } => {
                    let user = self.active_user(user_id).await?;
                    let redeemed = DeviceRecord { state: DeviceState::Redeemed, ..record.clone() };
                    if !self.store.swap(&redeemed, &read, Durability::Stored).await? {
                        // Polled concurrently: whichever swapped first has the tokens.
                        continue;
                    }
                    let family = (record.scopes.contains("offline_access") && client.allows(GrantType::RefreshToken))
                        .then(|| new_id("fam"));
                    let memberships = self.store.memberships_of(&user.id).await?;
                    let grant = Grant {
                        client,
                        user: &user,
                        scopes: &record.scopes,
                        resource: record.resource.as_deref(),
                        auth_time: *auth_time,
                        nonce: None,
                        family: family.as_deref(),
                    };
                    let tokens = self.issue(&grant, &memberships, policy, now, true).await?;
                    self.audit(AuditEvent::new("oauth.token.issue").actor(&client.client_id).subject(&user.email))
                        .await;
                    return Ok(tokens);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_consonants_and_typed_codes_normalise() {
        for _ in 0..100 {
            let code = new_user_code();
            assert_eq!(code.len(), 8);
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
            assert_eq!(normalize_user_code(&display_user_code(&code).to_lowercase()).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_user_code(" bcdf-ghjk ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("BCDF GHJK").as_deref(), Some("BCDFGHJK"));
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "a vowel is never in a code");
        assert_eq!(normalize_user_code("BCDF-GHJ0"), None, "nor a digit");
        assert_eq!(normalize_user_code(""), None);
    }

    #[test]
    fn device_states_round_trip_as_tagged_json() {
        let approved = DeviceState::Approved { user_id: "usr_1".into(), auth_time: OffsetDateTime::UNIX_EPOCH };
        let json = serde_json::to_string(&approved).unwrap();
        assert!(json.contains("\"state\":\"approved\""), "{json}");
        assert_eq!(serde_json::from_str::<DeviceState>(&json).unwrap(), approved);
    }
}
