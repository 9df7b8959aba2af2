//! Sign-in throttling (contract section 9): failures are counted per account and per client IP
//! in the store, so every instance shares them; past the limit the account or address is banned
//! for a while and answered 429 with `Retry-After`, before any password is checked, so a correct
//! password is no way around a ban. Defaults follow Authelia's regulation: 3 failures in 2
//! minutes ban for 5 minutes (per account); a shared address gets a larger allowance.

use crate::error::{Error, Result};
use crate::service::Airlock;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures_per_account: u64,
    pub max_failures_per_ip: u64,
    pub window: Duration,
    pub ban: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures_per_account: 3,
            max_failures_per_ip: 20,
            window: Duration::from_secs(120),
            ban: Duration::from_secs(300),
        }
    }
}

fn account_key(email: &str) -> String {
    format!("acct:{email}")
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl Airlock {
    /// 429 while the account or the address is banned.
    pub async fn check_throttle(&self, email: &str, ip: Option<&str>) -> Result<()> {
        let mut keys = vec![account_key(email)];
        keys.extend(ip.map(ip_key));
        let mut longest: Option<Duration> = None;
        for key in keys {
            if let Some(remaining) = self.store.ban_remaining(&key).await? {
                longest = Some(longest.map_or(remaining, |l| l.max(remaining)));
            }
        }
        match longest {
            Some(retry_after) => Err(Error::RateLimited { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in; bans the account or address that reached its limit.
    pub async fn record_sign_in_failure(&self, email: &str, ip: Option<&str>) -> Result<()> {
        let policy = self.throttle;
        let mut counted = vec![(account_key(email), policy.max_failures_per_account)];
        counted.extend(ip.map(|ip| (ip_key(ip), policy.max_failures_per_ip)));
        for (key, limit) in counted {
            let failures = self.store.count_failure(&key, policy.window).await?;
            if failures >= limit {
                self.store.ban(&key, policy.ban).await?;
                tracing::warn!(target: "audit", subject = %key, failures, ban_secs = policy.ban.as_secs(), "sign-in banned");
            }
        }
        Ok(())
    }
}
