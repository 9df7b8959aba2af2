//! What each template renders, built from domain data. Templates only display these; every
//! value is escaped by askama when it is written into the page.

use crate::error::Error;
use crate::store::SessionRecord;
use crate::tokens::TokenRecord;
use crate::tokens::scopes::{Scope, covers};
use askama::Template;
use shared::SessionView;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;
use url::Url;

/// `templates/login.html`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    pub error: Option<String>,
    /// The host the person returns to after signing in, when it is not airlock itself.
    pub returning_to: Option<String>,
    pub redirect: Option<String>,
    pub email: String,
}

impl LoginView {
    pub fn new(own: &Url, redirect: Option<&Url>, email: &str, error: Option<&Error>) -> Self {
        let returning_to = redirect.filter(|url| url.origin() != own.origin()).and_then(|url| {
            let host = url.host_str()?;
            Some(url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}")))
        });
        Self {
            error: error.map(sign_in_error),
            returning_to,
            redirect: redirect.map(|url| url.as_str().to_owned()),
            // Typed input comes back as typed; a pasted megabyte does not.
            email: email.chars().take(320).collect(),
        }
    }
}

/// What a failed sign-in tells the person: what went wrong and what to do next.
fn sign_in_error(error: &Error) -> String {
    match error {
        Error::InvalidCredentials => "That email and password do not match. Check both and try again.".to_owned(),
        Error::RateLimited { retry_after } => format!(
            "Too many failed attempts. For your safety, sign-in is paused: try again in {}.",
            in_words(*retry_after)
        ),
        Error::StoreUnavailable(_) => "Sign-in is temporarily unavailable. Try again in a moment.".to_owned(),
        other => other.to_string(),
    }
}

/// A wait in words, rounded up: "40 seconds", "1 minute", "5 minutes".
pub fn in_words(wait: Duration) -> String {
    let seconds = wait.as_secs().max(1);
    let (count, unit) = if seconds < 60 {
        (seconds, "second")
    } else if seconds < 3600 {
        (seconds.div_ceil(60), "minute")
    } else {
        (seconds.div_ceil(3600), "hour")
    };
    if count == 1 { format!("1 {unit}") } else { format!("{count} {unit}s") }
}

fn when(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_else(|_| at.to_string())
}

/// `templates/account.html`.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView {
    pub user: UserLine,
    pub orgs: Vec<OrgLine>,
    pub sessions: Vec<SessionLine>,
    pub tokens: Vec<TokenLine>,
    pub scope_choices: Vec<ScopeChoice>,
    pub max_expires_days: u32,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
    /// A token created by this very request: its secret, shown this once.
    pub created: Option<CreatedToken>,
    /// The OAuth apps this person allowed.
    pub apps: Vec<AppLine>,
}

pub struct AppLine {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub granted_at: String,
}

impl AppLine {
    pub fn of(consent: crate::oauth::authorize::ConsentRecord, name: String) -> Self {
        Self {
            client_id: consent.client_id,
            name,
            scopes: consent.scopes.iter().map(str::to_owned).collect(),
            granted_at: when(consent.granted_at),
        }
    }
}

pub struct UserLine {
    pub name: String,
    pub email: String,
    pub roles: Vec<&'static str>,
}

pub struct OrgLine {
    pub name: String,
    pub slug: String,
    pub role: &'static str,
}

pub struct SessionLine {
    pub id: String,
    pub current: bool,
    pub summary: String,
    /// Exactly as the browser sent it.
    pub user_agent: String,
    pub ip: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

pub struct TokenLine {
    pub id: String,
    pub name: String,
    pub scopes: Vec<&'static str>,
    pub created_at: String,
    pub expires: String,
}

pub struct ScopeChoice {
    pub value: &'static str,
    pub meaning: &'static str,
    pub checked: bool,
}

pub struct CreatedToken {
    pub name: String,
    pub secret: String,
}

impl AccountView {
    /// The page for `view`'s user; `current` is the id of the session viewing it.
    pub fn new(
        view: &SessionView,
        current: &str,
        power: &[Scope],
        mut sessions: Vec<SessionRecord>,
        tokens: Vec<TokenRecord>,
    ) -> Self {
        // This browser first, then the most recently used.
        sessions.sort_by_key(|s| (s.id != current, std::cmp::Reverse(s.last_seen_at)));
        Self {
            user: UserLine {
                name: view.user.name.clone(),
                email: view.user.email.clone(),
                roles: view.user.roles.iter().map(|r| r.as_str()).collect(),
            },
            orgs: view
                .orgs
                .iter()
                .map(|o| OrgLine { name: o.name.clone(), slug: o.slug.clone(), role: o.role.as_str() })
                .collect(),
            sessions: sessions.into_iter().map(|s| SessionLine::of(s, current)).collect(),
            tokens: tokens.into_iter().map(TokenLine::of).collect(),
            scope_choices: SCOPE_CHOICES
                .iter()
                .filter(|(scope, _)| covers(power, &[*scope]))
                .map(|(scope, meaning)| ScopeChoice { value: scope.as_str(), meaning, checked: *scope == Scope::Read })
                .collect(),
            max_expires_days: crate::tokens::MAX_EXPIRES_DAYS,
            notice: None,
            error: None,
            created: None,
            apps: Vec::new(),
        }
    }
}

/// The scopes a token may be given, in words, narrowest first.
const SCOPE_CHOICES: [(Scope, &str); 5] = [
    (Scope::Read, "read what you can see"),
    (Scope::Write, "read and change data"),
    (Scope::Control, "operate: write, and manage service tokens"),
    (Scope::Audit, "read the audit log"),
    (Scope::All, "everything you can do"),
];

impl SessionLine {
    fn of(s: SessionRecord, current: &str) -> Self {
        let user_agent = s.user_agent.unwrap_or_default();
        Self {
            current: s.id == current,
            summary: summarise_user_agent(&user_agent),
            user_agent: if user_agent.is_empty() { "no user agent sent".to_owned() } else { user_agent },
            ip: s.ip.unwrap_or_else(|| "unknown".to_owned()),
            created_at: when(s.created_at),
            last_seen_at: when(s.last_seen_at),
            expires_at: when(s.expires_at),
            id: s.id,
        }
    }
}

impl TokenLine {
    fn of(t: TokenRecord) -> Self {
        Self {
            scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
            created_at: when(t.created_at),
            expires: t.expires_at.map_or_else(|| "never expires".to_owned(), |at| format!("expires {}", when(at))),
            id: t.id,
            name: t.name,
        }
    }
}

/// A friendly name for a user agent ("Chrome on Linux"), shown beside the string itself. A
/// guess for people, never used for a decision.
pub fn summarise_user_agent(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python"),
        ("node", "Node.js"),
        ("reqwest", "reqwest"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS.iter().find(|(needle, _)| user_agent.contains(needle)).map(|(_, name)| *name);
    let system = SYSTEMS.iter().find(|(needle, _)| user_agent.contains(needle)).map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) if user_agent.is_empty() => "Unknown client".to_owned(),
        (None, None) => "Other client".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_words_rounded_up() {
        assert_eq!(in_words(Duration::from_secs(0)), "1 second");
        assert_eq!(in_words(Duration::from_secs(40)), "40 seconds");
        assert_eq!(in_words(Duration::from_secs(60)), "1 minute");
        assert_eq!(in_words(Duration::from_secs(299)), "5 minutes");
        assert_eq!(in_words(Duration::from_secs(3601)), "2 hours");
    }

    #[test]
    fn user_agents_get_a_friendly_summary() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(summarise_user_agent(chrome), "Chrome on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36 Edg/120";
        assert_eq!(summarise_user_agent(edge), "Edge on Windows");
        let iphone =
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1";
        assert_eq!(summarise_user_agent(iphone), "Safari on iPhone");
        assert_eq!(summarise_user_agent("curl/8.5.0"), "curl");
        assert_eq!(summarise_user_agent(""), "Unknown client");
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let view = LoginView {
            error: Some("<script>alert(1)</script>".into()),
            returning_to: None,
            redirect: Some("https://lore.example.com/\"><img src=x>".into()),
            email: "\"><img src=x onerror=alert(1)>".into(),
        };
        let html = view.render().unwrap();
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        // askama writes `<` as `&#60;` and `"` as `&#34;`.
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(html.contains("value=\"&#34;&#62;&#60;img src=x onerror=alert(1)&#62;\""), "{html}");
    }
}
