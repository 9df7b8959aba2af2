//! The audit log (contract section 9): who did what to whom, from where, with what outcome.
//! Every record goes to the store (bounded: a capped Redis stream, or the newest entries in the
//! embedded file) and out as a JSON line on the `audit` tracing target. Records carry ids,
//! emails and addresses, never a secret.

use crate::service::Airlock;

pub use crate::store::{AUDIT_CAPACITY, AuditFilter, AuditRecord};

/// One event to record.
pub struct AuditEvent<'a> {
    pub event: &'static str,
    pub actor: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub success: bool,
}

impl<'a> AuditEvent<'a> {
    pub fn new(event: &'static str) -> Self {
        Self { event, actor: None, subject: None, ip: None, success: true }
    }

    pub fn actor(mut self, actor: &'a str) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn subject(mut self, subject: &'a str) -> Self {
        self.subject = Some(subject);
        self
    }

    pub fn ip(mut self, ip: Option<&'a str>) -> Self {
        self.ip = ip;
        self
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }
}

impl Airlock {
    /// Records an event: a JSON line on the `audit` target, and the store. A store failure is
    /// logged, never turned into a failed request.
    pub async fn audit(&self, event: AuditEvent<'_>) {
        let record = AuditRecord {
            time: crate::service::now(),
            event: event.event.to_owned(),
            actor: event.actor.map(str::to_owned),
            subject: event.subject.map(str::to_owned),
            ip: event.ip.map(str::to_owned),
            outcome: if event.success { "success" } else { "failure" }.to_owned(),
        };
        tracing::info!(
            target: "audit",
            event = %record.event,
            actor = record.actor.as_deref().unwrap_or("-"),
            subject = record.subject.as_deref().unwrap_or("-"),
            ip = record.ip.as_deref().unwrap_or("-"),
            outcome = %record.outcome,
            "audit"
        );
        if let Err(e) = self.store.append_audit(&record, AUDIT_CAPACITY).await {
            tracing::warn!(error = %e, event = %record.event, "audit record not stored");
        }
    }

    /// The newest records first, filtered.
    pub async fn audit_log(&self, filter: &AuditFilter) -> crate::error::Result<Vec<AuditRecord>> {
        self.store.audit_log(filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let record = AuditRecord {
            time: time::OffsetDateTime::UNIX_EPOCH,
            event: "admin.user.create".into(),
            actor: Some("a@example.com".into()),
            subject: None,
            ip: None,
            outcome: "success".into(),
        };
        let f = |event: Option<&str>, actor: Option<&str>| AuditFilter {
            event: event.map(str::to_owned),
            actor: actor.map(str::to_owned),
            limit: 10,
        };
        assert!(f(None, None).matches(&record));
        assert!(f(Some("admin.*"), None).matches(&record));
        assert!(f(Some("admin.user.create"), Some("a@example.com")).matches(&record));
        assert!(!f(Some("auth.*"), None).matches(&record));
        assert!(!f(None, Some("b@example.com")).matches(&record));
    }
}
