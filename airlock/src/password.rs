//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane), always on the
//! blocking pool and never more than `concurrency` at a time, so a sign-in storm cannot starve
//! the async workers that answer session checks.

use crate::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Longest password accepted: argon2 takes any length, but nothing legitimate needs more.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified when the email is unknown, so that both failures cost the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. Infallible constants.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Result<Self> {
        let dummy_hash = hash_now("airlock timing equaliser")?.into();
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash })
    }

    async fn off_worker<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(work).await.map_err(Error::internal)
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String> {
        check_password(password)?;
        let password = password.to_owned();
        self.off_worker(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `phc`. With no hash (unknown user, or a user without a
    /// password) a dummy hash is verified instead and the answer is false: the caller cannot
    /// tell the cases apart by time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool> {
        let password = password.to_owned();
        let (phc, real) = match phc {
            Some(phc) => (phc.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let matched = self.off_worker(move || verify_now(&password, &phc)).await?;
        Ok(real && matched)
    }
}

/// Rules for a new password.
pub fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < 8 {
        return Err(Error::bad_request("the password must be at least 8 characters"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::bad_request(format!("the password must be at most {MAX_PASSWORD_LEN} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let hasher = PasswordHasher::new(1).unwrap();
        let a = hasher.hash("correct horse battery").await.unwrap();
        let b = hasher.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse battery", Some(&a)).await.unwrap());
        assert!(!hasher.verify("wrong horse battery", Some(&a)).await.unwrap());
        assert!(!hasher.verify("airlock timing equaliser", None).await.unwrap());
        assert!(!hasher.verify("x", Some("not a phc string")).await.unwrap());
    }

    #[test]
    fn password_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(check_password("long enough").is_ok());
    }
}
