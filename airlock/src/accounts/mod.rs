//! Users, orgs and memberships: what the admin API and CLI manage.

pub mod password;

use crate::error::{Error, Result};
use crate::secrets::{new_id, new_password};
use crate::service::Airlock;
use crate::store::{Membership, OrgRecord, UserRecord};
use shared::{GlobalRole, OrgRole};

/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Normalises an email for storage and lookup: trimmed, lowercased, plausibly shaped.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= MAX_EMAIL_LEN
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if plausible { Ok(email) } else { Err(Error::bad_request("a valid email address is required")) }
}

/// Org slugs: 1 to 63 lowercase letters, digits and `-`, as in a DNS label.
pub fn check_slug(slug: &str) -> Result<String> {
    let slug = slug.trim().to_ascii_lowercase();
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if valid { Ok(slug) } else { Err(Error::bad_request("an org slug is 1-63 lowercase letters, digits or `-`")) }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::bad_request("a name is at most 200 printable characters"));
    }
    Ok(name.to_owned())
}

/// A user to create.
#[derive(Debug, Default, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    /// `None`: the user cannot sign in with a password until one is set.
    pub password: Option<String>,
    pub roles: Vec<GlobalRole>,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    pub name: Option<String>,
    pub roles: Option<Vec<GlobalRole>>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// The bootstrap admin created on first start.
#[derive(Debug)]
pub struct Bootstrapped {
    pub email: String,
    /// Set when airlock generated the password (it is shown once); `None` when it was given.
    pub generated_password: Option<String>,
}

fn dedup_roles(mut roles: Vec<GlobalRole>) -> Vec<GlobalRole> {
    roles.sort();
    roles.dedup();
    roles
}

impl Airlock {
    pub async fn add_user(&self, new: NewUser) -> Result<UserRecord> {
        let email = normalize_email(&new.email)?;
        let name = match new.name {
            Some(name) => check_name(&name)?,
            None => email.split('@').next().unwrap_or_default().to_owned(),
        };
        let password_hash = match &new.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let user = UserRecord {
            id: new_id("usr"),
            email,
            name,
            password_hash,
            roles: dedup_roles(new.roles),
            disabled: false,
            created_at: crate::service::now(),
        };
        self.store.create_user(&user).await?;
        Ok(user)
    }

    /// Finds a user by id (`usr_…`) or email.
    pub async fn find_user(&self, id_or_email: &str) -> Result<UserRecord> {
        let found = if id_or_email.contains('@') {
            self.store.user_by_email(&normalize_email(id_or_email)?).await?
        } else {
            self.store.user_by_id(id_or_email).await?
        };
        found.ok_or_else(|| Error::not_found(format!("user {id_or_email}")))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.store.list_users().await
    }

    /// Applies `patch`. Disabling a user ends all their sessions at once.
    pub async fn update_user(&self, id_or_email: &str, patch: UserPatch) -> Result<UserRecord> {
        let mut user = self.find_user(id_or_email).await?;
        if let Some(name) = patch.name {
            user.name = check_name(&name)?;
        }
        if let Some(roles) = patch.roles {
            user.roles = dedup_roles(roles);
        }
        if let Some(password) = patch.password {
            user.password_hash = Some(self.hasher.hash(&password).await?);
        }
        if let Some(disabled) = patch.disabled {
            user.disabled = disabled;
        }
        self.store.update_user(&user).await?;
        if user.disabled {
            self.store.delete_sessions_of(&user.id, None).await?;
            self.revoke_tokens_of(&user.id, crate::service::now()).await?;
            self.revoke_families_of(&user.id, None).await?;
        }
        Ok(user)
    }

    pub async fn add_org(&self, slug: &str, name: Option<&str>) -> Result<OrgRecord> {
        let slug = check_slug(slug)?;
        let name = match name {
            Some(name) => check_name(name)?,
            None => slug.clone(),
        };
        let org = OrgRecord { id: new_id("org"), slug, name, created_at: crate::service::now() };
        self.store.create_org(&org).await?;
        Ok(org)
    }

    pub async fn list_orgs(&self) -> Result<Vec<OrgRecord>> {
        self.store.list_orgs().await
    }

    pub async fn find_org(&self, slug: &str) -> Result<OrgRecord> {
        let slug = check_slug(slug).map_err(|_| Error::not_found(format!("org {slug}")))?;
        self.store.org_by_slug(&slug).await?.ok_or_else(|| Error::not_found(format!("org {slug}")))
    }

    /// Adds a member, or changes their role.
    pub async fn add_member(&self, slug: &str, email: &str, role: OrgRole) -> Result<(OrgRecord, UserRecord)> {
        let org = self.find_org(slug).await?;
        let user = self.find_user(email).await?;
        self.store.put_membership(&org.id, &user.id, role).await?;
        Ok((org, user))
    }

    pub async fn remove_member(&self, slug: &str, email: &str) -> Result<()> {
        let org = self.find_org(slug).await?;
        let user = self.find_user(email).await?;
        if self.store.remove_membership(&org.id, &user.id).await? {
            Ok(())
        } else {
            Err(Error::not_found(format!("membership of {} in {}", user.email, org.slug)))
        }
    }

    pub async fn memberships_of(&self, user: &UserRecord) -> Result<Vec<Membership>> {
        self.store.memberships_of(&user.id).await
    }

    /// On first start with no users, creates an admin. The password comes from the
    /// configuration or is generated (and returned, to be shown once).
    pub async fn bootstrap_admin(&self, email: Option<&str>, password: Option<&str>) -> Result<Option<Bootstrapped>> {
        if !self.store.list_users().await?.is_empty() {
            return Ok(None);
        }
        let email = email.unwrap_or("admin@localhost");
        let generated_password = password.is_none().then(new_password);
        let password = password.map(str::to_owned).or_else(|| generated_password.clone());
        let user = self
            .add_user(NewUser {
                email: email.to_owned(),
                name: Some("Administrator".to_owned()),
                password,
                roles: vec![GlobalRole::Admin],
            })
            .await;
        match user {
            Ok(user) => Ok(Some(Bootstrapped { email: user.email, generated_password })),
            // Another instance bootstrapped at the same moment.
            Err(Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a da@example.com", "ada@exa\u{0}mple.com"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(check_slug("Acme").unwrap(), "acme");
        assert!(check_slug("acme-2").is_ok());
        for bad in ["", "-acme", "ac me", "acme/x", "ácme", &"a".repeat(64)] {
            assert!(check_slug(bad).is_err(), "{bad:?}");
        }
    }
}
