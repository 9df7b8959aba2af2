//! Sign-in, the live session check with its sliding refresh, and revocation.

pub mod throttle;

use crate::accounts::normalize_email;
use crate::accounts::password::MAX_PASSWORD_LEN;
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::secrets::{looks_like_session_token, new_session_id, new_session_token, secure_eq, session_token_hash};
use crate::service::{Airlock, SessionPolicy};
use crate::store::shard;
use crate::store::{Membership, Principal, RenderedPrincipal, SessionBundle, SessionRecord, UserRecord};
use serde_json::value::RawValue;
use shared::{AuthInfo, AuthMethod, OrgView, SessionInfo, SessionView, UserView};
use std::sync::{Arc, LazyLock, OnceLock};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest user agent kept with a session.
const MAX_USER_AGENT: usize = 256;

/// Where a sign-in comes from, kept with the session for the owner's session list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A signed-in session: the cookie's token (to be set once, never stored) and the view.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub session: SessionRecord,
    pub view: SessionView,
}

/// The answer of a live check.
#[derive(Debug, Clone)]
pub struct CheckedSession {
    pub session: Arc<SessionRecord>,
    pub principal: Arc<Principal>,
    /// The expiry moved: the cookie must be set again with the new Max-Age.
    pub refreshed: bool,
}

impl CheckedSession {
    pub fn user(&self) -> &UserRecord {
        &self.principal.user
    }

    /// The full view of contract section 3.
    pub fn view(&self) -> SessionView {
        session_view(&self.principal.user, &self.principal.memberships, Some(&self.session), session_auth())
    }

    /// [`Self::view`] as JSON, the same bytes (a unit test holds them equal), but with the
    /// principal's part rendered once per principal and the rest written straight into the
    /// body: this is the body of the hottest answer airlock gives, and going through serde's
    /// map serializer for its fixed keys cost more than the store lookup behind it.
    pub fn view_json(&self) -> Result<Vec<u8>> {
        let rendered = self.principal.rendered()?;
        let (user, orgs, auth) = (rendered.user.get(), rendered.orgs.get(), session_auth_json()?.get());
        let mut body = Vec::with_capacity(user.len() + orgs.len() + auth.len() + 160);
        body.extend_from_slice(b"{\"user\":");
        body.extend_from_slice(user.as_bytes());
        body.extend_from_slice(b",\"orgs\":");
        body.extend_from_slice(orgs.as_bytes());
        body.extend_from_slice(b",\"session\":{\"id\":");
        serde_json::to_writer(&mut body, &self.session.id).map_err(Error::internal)?;
        // RFC 3339 timestamps hold digits, `-`, `:`, `.`, `+`, `T` and `Z`: nothing to escape.
        for (key, at) in
            [(&b",\"created_at\":\""[..], self.session.created_at), (b"\",\"expires_at\":\"", self.session.expires_at)]
        {
            body.extend_from_slice(key);
            at.format_into(&mut body, &Rfc3339).map_err(Error::internal)?;
        }
        body.extend_from_slice(b"\"},\"auth\":");
        body.extend_from_slice(auth.as_bytes());
        body.push(b'}');
        Ok(body)
    }
}

impl Principal {
    fn rendered(&self) -> Result<&RenderedPrincipal> {
        if let Some(rendered) = self.rendered.get() {
            return Ok(rendered);
        }
        let rendered = RenderedPrincipal {
            user: serde_json::value::to_raw_value(&user_view(&self.user)).map_err(Error::internal)?,
            orgs: serde_json::value::to_raw_value(&org_views(&self.memberships)).map_err(Error::internal)?,
        };
        // Two threads may render at once; both render the same bytes and the first one stays.
        Ok(self.rendered.get_or_init(|| rendered))
    }
}

/// The full view of contract section 3.
pub fn session_view(
    user: &UserRecord,
    memberships: &[Membership],
    session: Option<&SessionRecord>,
    auth: AuthInfo,
) -> SessionView {
    SessionView {
        user: user_view(user),
        orgs: org_views(memberships),
        session: session.map(|s| SessionInfo { id: s.id.clone(), created_at: s.created_at, expires_at: s.expires_at }),
        auth,
    }
}

fn user_view(user: &UserRecord) -> UserView {
    UserView { id: user.id.clone(), email: user.email.clone(), name: user.name.clone(), roles: user.roles.clone() }
}

fn org_views(memberships: &[Membership]) -> Vec<OrgView> {
    memberships
        .iter()
        .map(|m| OrgView { id: m.org.id.clone(), slug: m.org.slug.clone(), name: m.org.name.clone(), role: m.role })
        .collect()
}

/// How a browser session authenticates: every scope its user's roles allow.
static SESSION_AUTH: LazyLock<AuthInfo> = LazyLock::new(|| AuthInfo::new(AuthMethod::Session, vec!["*".to_owned()]));

fn session_auth() -> AuthInfo {
    SESSION_AUTH.clone()
}

/// [`SESSION_AUTH`], serialized once: it is the same in every session's view.
fn session_auth_json() -> Result<&'static RawValue> {
    static RENDERED: OnceLock<Box<RawValue>> = OnceLock::new();
    if let Some(rendered) = RENDERED.get() {
        return Ok(rendered);
    }
    let rendered = serde_json::value::to_raw_value(&*SESSION_AUTH).map_err(Error::internal)?;
    Ok(RENDERED.get_or_init(|| rendered))
}

impl SessionPolicy {
    /// Whether using a session at `now` should move its expiry. Sliding refresh happens once
    /// less than `ttl - update_age` remains; with an idle timeout, also once a quarter of it
    /// has passed since the last refresh, so that an active user is never timed out.
    pub fn refresh_due(&self, session: &SessionRecord, now: OffsetDateTime) -> bool {
        let remaining = session.expires_at - now;
        let threshold = self.ttl.saturating_sub(self.update_age);
        if remaining < threshold {
            return true;
        }
        self.idle_timeout.is_some_and(|idle| now - session.last_seen_at > idle / 4)
    }

    /// Whether a session has been idle for longer than the idle timeout.
    pub fn idle_expired(&self, session: &SessionRecord, now: OffsetDateTime) -> bool {
        self.idle_timeout.is_some_and(|idle| now - session.last_seen_at > idle)
    }
}

impl Airlock {
    /// Checks credentials and opens a new session (a new token every time: no fixation).
    /// Unknown email, wrong password, no password and disabled user all fail the same way and
    /// cost the same argon2 work.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: ClientInfo,
        now: OffsetDateTime,
    ) -> Result<SignedIn> {
        // Throttling counts by what was typed (normalised when it can be), so an unknown email is
        // throttled like a known one.
        let normalized = normalize_email(email);
        let account = normalized.as_deref().unwrap_or(email).chars().take(254).collect::<String>();
        match self.check_throttle(&account, client.ip.as_deref()).await {
            Ok(()) => {}
            Err(e @ Error::RateLimited { .. }) => {
                crate::telemetry::sign_in_failure("rate_limited");
                let event = AuditEvent::new("auth.login.fail").actor(&account).subject("rate_limited");
                self.audit(event.ip(client.ip.as_deref()).failed()).await;
                return Err(e);
            }
            // The store is down: answer at once, do not wait on it again to audit.
            Err(e) => return Err(e),
        }
        let user = match &normalized {
            Ok(email) => self.store.user_by_email(email).await?,
            Err(_) => None,
        };
        let password = if password.len() > MAX_PASSWORD_LEN { "" } else { password };
        let usable = user.as_ref().filter(|u| !u.disabled).and_then(|u| u.password_hash.as_deref());
        let matched = self.hasher.verify(password, usable).await?;
        let user = match user {
            Some(user) if matched => user,
            _ => {
                crate::telemetry::sign_in_failure("invalid_credentials");
                let event = AuditEvent::new("auth.login.fail").actor(&account).subject("invalid_credentials");
                self.audit(event.ip(client.ip.as_deref()).failed()).await;
                self.record_sign_in_failure(&account, client.ip.as_deref()).await?;
                return Err(Error::InvalidCredentials);
            }
        };

        // The token and id name the user's shard: a store split over nodes finds the session
        // beside its user from either.
        let shard = shard::of_user(&user.id);
        let token = new_session_token(&shard);
        let session = SessionRecord {
            id: new_session_id(&shard),
            token_hash: session_token_hash(&token),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + self.sessions.ttl,
            last_seen_at: now,
            user_agent: client.user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
            ip: client.ip,
        };
        self.store.create_session(&session).await?;
        self.audit(
            AuditEvent::new("auth.login.success").actor(&user.email).subject(&session.id).ip(session.ip.as_deref()),
        )
        .await;
        let memberships = self.store.memberships_of(&user.id).await?;
        let view = session_view(&user, &memberships, Some(&session), session_auth());
        Ok(SignedIn { token, session, view })
    }

    /// The live check behind `GET /api/auth/session`: one store call, plus one write only when
    /// the sliding refresh is due.
    pub async fn check_session(&self, token: &str, now: OffsetDateTime) -> Result<CheckedSession> {
        let checked = self.check_session_inner(token, now).await;
        crate::telemetry::session_check(match &checked {
            Ok(c) if c.refreshed => "refreshed",
            Ok(_) => "valid",
            Err(Error::Unauthenticated(_)) => "unauthenticated",
            Err(Error::StoreUnavailable(_)) => "store_unavailable",
            Err(_) => "error",
        });
        checked
    }

    async fn check_session_inner(&self, token: &str, now: OffsetDateTime) -> Result<CheckedSession> {
        const UNKNOWN: Error = Error::Unauthenticated("no valid session");
        if !looks_like_session_token(token) {
            return Err(UNKNOWN);
        }
        let token_hash = session_token_hash(token);
        let SessionBundle { mut session, principal } =
            self.store.load_session(&token_hash, now).await?.ok_or(UNKNOWN)?;
        // The lookup was by hash; comparing again in constant time costs nothing and guards
        // against a store that matched loosely.
        if !secure_eq(&session.token_hash, &token_hash) || !session.is_live(now) {
            return Err(UNKNOWN);
        }
        if principal.user.disabled {
            return Err(Error::Unauthenticated("this account is disabled"));
        }
        if self.sessions.idle_expired(&session, now) {
            self.store.delete_session(&session.id).await?;
            return Err(Error::Unauthenticated("the session timed out"));
        }
        let refreshed = self.sessions.refresh_due(&session, now);
        if refreshed {
            // Copied only here: the store may still hand the old record to other checks.
            let session = Arc::make_mut(&mut session);
            session.expires_at = now + self.sessions.ttl;
            session.last_seen_at = now;
            if !self.store.refresh_session(session).await? {
                return Err(Error::Unauthenticated("the session was revoked"));
            }
        }
        Ok(CheckedSession { session, principal, refreshed })
    }

    /// Ends the session behind `token`, if any. Whether there was one.
    pub async fn sign_out(&self, token: &str, now: OffsetDateTime) -> Result<bool> {
        if !looks_like_session_token(token) {
            return Ok(false);
        }
        match self.store.load_session(&session_token_hash(token), now).await? {
            Some(bundle) => {
                let deleted = self.store.delete_session(&bundle.session.id).await?;
                self.audit(
                    AuditEvent::new("auth.logout").actor(&bundle.principal.user.email).subject(&bundle.session.id),
                )
                .await;
                Ok(deleted)
            }
            None => {
                // Perhaps signed out by an earlier attempt that answered 503.
                self.store.fence().await?;
                Ok(false)
            }
        }
    }

    pub async fn sessions_of(&self, user_id: &str, now: OffsetDateTime) -> Result<Vec<SessionRecord>> {
        self.store.sessions_of(user_id, now).await
    }

    /// Revokes one session of `owner` (any user's when `owner` is `None`, for admins), audited
    /// as done by `actor`. A session of someone else is reported as not found, never revealed.
    pub async fn revoke_session(
        &self,
        id: &str,
        owner: Option<&str>,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<SessionRecord> {
        let found = self.store.session_by_id(id, now).await?.filter(|s| owner.is_none_or(|o| o == s.user_id));
        let Some(session) = found else {
            // Perhaps revoked by an earlier attempt that answered 503.
            self.store.fence().await?;
            return Err(Error::not_found(format!("session {id}")));
        };
        self.store.delete_session(&session.id).await?;
        self.audit(AuditEvent::new("session.revoke").actor(actor).subject(&session.id)).await;
        Ok(session)
    }

    /// Revokes every session of `user` except `keep`, audited as done by `actor`; how many.
    pub async fn revoke_sessions_of(&self, user: &UserRecord, keep: Option<&str>, actor: &str) -> Result<usize> {
        let count = self.store.delete_sessions_of(&user.id, keep).await?;
        self.audit(AuditEvent::new("session.revoke").actor(actor).subject(&user.email)).await;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(expires_in: time::Duration, seen_ago: time::Duration, now: OffsetDateTime) -> SessionRecord {
        SessionRecord {
            id: "ses_1".into(),
            token_hash: "h".into(),
            user_id: "usr_1".into(),
            created_at: now - time::Duration::days(1),
            expires_at: now + expires_in,
            last_seen_at: now - seen_ago,
            user_agent: None,
            ip: None,
        }
    }

    #[test]
    fn the_rendered_view_is_the_view() {
        use crate::store::{Membership, OrgRecord};
        let now = crate::service::now();
        let org = |slug: &str| OrgRecord {
            id: format!("org_{slug}"),
            slug: slug.into(),
            name: format!("{slug} \"quoted\" \u{e9}"),
            created_at: now,
        };
        let user = UserRecord {
            id: "usr_1".into(),
            email: "ada@example.com".into(),
            name: "Ada \\ Lovelace\n".into(),
            password_hash: Some("$argon2id$secret".into()),
            roles: vec![shared::GlobalRole::Admin],
            disabled: false,
            created_at: now,
        };
        let memberships = vec![
            Membership { org: org("zeta"), role: shared::OrgRole::Viewer },
            Membership { org: org("acme"), role: shared::OrgRole::Operator },
        ];
        let checked = CheckedSession {
            session: Arc::new(session(time::Duration::days(7), time::Duration::ZERO, now)),
            principal: Arc::new(Principal::new(user, memberships)),
            refreshed: false,
        };
        for _ in 0..2 {
            // Rendering, then the kept rendering.
            let rendered = checked.view_json().unwrap();
            assert_eq!(rendered, serde_json::to_vec(&checked.view()).unwrap());
            assert!(!String::from_utf8(rendered).unwrap().contains("argon2"), "no password hash in the view");
        }
        assert_eq!(checked.view().orgs[0].slug, "acme", "orgs sorted by slug");
    }

    #[test]
    fn refresh_is_due_only_after_update_age() {
        let now = crate::service::now();
        let policy = SessionPolicy {
            ttl: Duration::from_secs(7 * 86_400),
            update_age: Duration::from_secs(86_400),
            idle_timeout: None,
        };
        let fresh = session(time::Duration::days(7) - time::Duration::hours(1), time::Duration::hours(1), now);
        assert!(!policy.refresh_due(&fresh, now));
        let day_old = session(time::Duration::days(6) - time::Duration::minutes(1), time::Duration::days(1), now);
        assert!(policy.refresh_due(&day_old, now));
    }

    #[test]
    fn idle_timeout_refreshes_active_sessions_and_ends_idle_ones() {
        let now = crate::service::now();
        let policy = SessionPolicy {
            ttl: Duration::from_secs(7 * 86_400),
            update_age: Duration::from_secs(86_400),
            idle_timeout: Some(Duration::from_secs(3600)),
        };
        let active = session(time::Duration::days(7) - time::Duration::minutes(20), time::Duration::minutes(20), now);
        assert!(policy.refresh_due(&active, now));
        assert!(!policy.idle_expired(&active, now));
        let idle = session(time::Duration::days(6), time::Duration::minutes(61), now);
        assert!(policy.idle_expired(&idle, now));
    }
}
