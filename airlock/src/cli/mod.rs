//! The `airlock` command line: `serve`, and the admin nouns working against the configured
//! store or, with `--url`, against a running airlock's HTTP API (contract section 8).

mod remote;

use crate::accounts::{NewUser, UserPatch};
use crate::app;
use crate::config::{Config, LogFormat, RawConfig, StoreUrl};
use crate::error::{Error, Result};
use crate::secrets::new_password;
use crate::service::{Airlock, SessionPolicy};
use crate::tokens::NewToken;
use crate::tokens::scopes::{Scope, TokenRole, user_power};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use shared::{GlobalRole, OrgRole};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Parser, Debug)]
#[command(name = "airlock", version, about = "One sign-in for a family of web apps on one parent domain.")]
pub struct Cli {
    /// TOML configuration file; `AIRLOCK_*` environment variables override its keys.
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Drive a running airlock over its HTTP API instead of opening the store (e.g.
    /// `https://airlock.example.com`); needs an admin's API token in `--token`.
    #[arg(long, global = true, env = "AIRLOCK_URL")]
    url: Option<String>,
    /// API token for `--url` (prefer the AIRLOCK_TOKEN variable: arguments show in `ps`).
    #[arg(long, global = true, env = "AIRLOCK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the session service.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage org memberships.
    #[command(subcommand)]
    Member(MemberCommand),
    /// List and revoke sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Generate, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Rotate and list the JWT signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Issue and revoke headless service tokens (read-only JWTs for CI).
    #[command(subcommand, name = "service-token")]
    ServiceToken(ServiceTokenCommand),
    /// Grant users or orgs access to repositories (urc-<id>), for token exchange.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Register and manage OAuth clients (apps that sign people in with airlock).
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Add {
        /// What people see on the consent page.
        name: String,
        /// A redirect URI (repeat for more). Loopback ones accept any port for public clients.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send people back to (repeat for more).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a CLI, a native or browser app): no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// The organisation's own app: no consent page.
        #[arg(long)]
        first_party: bool,
        /// Comma-separated grants (authorization_code, refresh_token, client_credentials).
        #[arg(long = "grant-types", value_delimiter = ',')]
        grant_types: Vec<crate::oauth::GrantType>,
        /// Space- or comma-separated scopes the client may ask for (or, for
        /// client_credentials, is given).
        #[arg(long)]
        scopes: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List clients.
    List(JsonFlag),
    /// Show one client.
    Show {
        client_id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a client: its refresh tokens stop working.
    Remove { client_id: String },
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret {
        client_id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// The newest audit records, newest first.
    Tail {
        /// Only this event (e.g. auth.login.fail), or a prefix ending in `*` (admin.*).
        #[arg(long)]
        event: Option<String>,
        /// Only records by this actor.
        #[arg(long)]
        actor: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
enum GrantCommand {
    /// Grant a user or an org `urc-<id>` (or every repository: `urc-*`).
    Add {
        #[arg(long, conflicts_with = "org", required_unless_present = "org")]
        user: Option<String>,
        #[arg(long)]
        org: Option<String>,
        /// urc-<id> or urc-*.
        resource: String,
        /// Comma-separated scopes (default read).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<Scope>,
    },
    /// List grants.
    List(JsonFlag),
}

#[derive(Subcommand, Debug)]
enum ServiceTokenCommand {
    /// Issue a service token; the JWT is printed once.
    Issue {
        /// The tenant (service account) the token speaks for: `sub` is `svc:<tenant>`.
        #[arg(long)]
        tenant: String,
        /// Comma-separated read scopes, e.g. read:repo,read:blob.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Restrict the token to one repository: `resources: ["urc-<ID>"]`.
        #[arg(long)]
        resource: Option<String>,
        /// Lifetime in seconds (at most service_token_max_ttl).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Revoke a service token by id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create new signing keys; the old ones stay in the JWKS until their tokens have expired.
    Rotate,
    /// List the signing keys (never their private parts).
    List(JsonFlag),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Generate an API token for a user; the secret is printed once.
    Generate {
        name: String,
        /// Comma-separated scopes: *, control, write, read, audit.
        #[arg(long, value_delimiter = ',', conflicts_with = "role")]
        scopes: Option<Vec<Scope>>,
        /// A role instead of scopes: admin (*), operator (control,write,read), viewer (read),
        /// auditor (read,audit). Neither: viewer.
        #[arg(long)]
        role: Option<TokenRole>,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires: Option<u32>,
        /// The user who owns the token.
        #[arg(long)]
        user: String,
    },
    /// List a user's tokens.
    List {
        /// Include revoked and expired tokens.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke a token by name or id.
    Revoke {
        name_or_id: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Local development: plain http on localhost, no Secure cookie, no secret required.
    #[arg(long)]
    dev: bool,
    /// Address to listen on (overrides `listen`).
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Args, Debug)]
struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user. Without --password-stdin a random password is generated and shown once.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Global role (repeat or comma-separate for several): admin, operator, auditor.
        #[arg(long = "role", value_delimiter = ',')]
        roles: Vec<GlobalRole>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List(JsonFlag),
    /// Disable a user: their sessions end at once and they cannot sign in.
    Disable { email: String },
    /// Enable a disabled user.
    Enable { email: String },
    /// Replace a user's global roles (none to remove all).
    SetRole { email: String, roles: Vec<GlobalRole> },
    /// Set a user's password (from standard input, or generated and shown once).
    SetPassword {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// Create an organisation.
    Add {
        slug: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List organisations.
    List(JsonFlag),
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a user to an org, or change their role there.
    Add {
        org: String,
        email: String,
        /// owner, admin, operator, member or viewer.
        #[arg(long)]
        role: OrgRole,
    },
    /// Remove a user from an org.
    Remove { org: String, email: String },
}

#[derive(Subcommand, Debug)]
enum SessionCommand {
    /// List a user's live sessions.
    List {
        email: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke one session.
    Revoke { session_id: String },
    /// Revoke every session of a user.
    RevokeAll { email: String },
}

/// Parses the command line, runs it, and maps errors to one line and an exit code: 2 for bad
/// configuration, 1 for anything else.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("airlock: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Config { .. }) => {
            eprintln!("airlock: configuration error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("airlock: {e}");
            ExitCode::from(1)
        }
    }
}

fn load_raw(cli_config: Option<&PathBuf>) -> Result<RawConfig> {
    RawConfig::load(cli_config.map(PathBuf::as_path), |key| std::env::var(key).ok())
}

async fn run(cli: Cli) -> Result<()> {
    if let Some(url) = &cli.url
        && !matches!(cli.command, Command::Serve(_))
    {
        let remote = remote::Remote::new(url, cli.token.as_deref())?;
        return remote.run(cli.command).await;
    }
    let mut raw = load_raw(cli.config.as_ref())?;
    match cli.command {
        Command::Serve(args) => {
            if let Some(listen) = args.listen {
                raw.listen = Some(listen);
            }
            let config = Config::from_raw(raw, args.dev)?;
            init_tracing(config.log_format);
            app::serve(config).await
        }
        Command::User(cmd) => user(&connect(raw).await?, cmd).await,
        Command::Org(cmd) => org(&connect(raw).await?, cmd).await,
        Command::Member(cmd) => member(&connect(raw).await?, cmd).await,
        Command::Session(cmd) => session(&connect(raw).await?, cmd).await,
        Command::Token(cmd) => token(&connect(raw).await?, cmd).await,
        Command::Keys(cmd) => keys(&connect(raw.clone()).await?, &raw, cmd).await,
        Command::ServiceToken(cmd) => service_token(&connect(raw.clone()).await?, &raw, cmd).await,
        Command::Grant(cmd) => grant(&connect(raw.clone()).await?, cmd).await,
        Command::Audit(cmd) => audit(&connect(raw).await?, cmd).await,
        Command::Client(cmd) => client(&connect(raw).await?, cmd).await,
    }
}

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // redis-rs logs every attempt to reach a Cluster node at `warn`: during a failover, one line
    // per attempt. airlock says what a failing store means itself (503s, `store_errors_total`).
    let filter = EnvFilter::try_from_env("AIRLOCK_LOG").unwrap_or_else(|_| EnvFilter::new("info,redis=error"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The domain over the configured store, for the admin commands. These need only the store
/// keys of the configuration.
async fn connect(raw: RawConfig) -> Result<Airlock> {
    let dev = Config::from_raw(RawConfig { store: raw.store.clone(), ..Default::default() }, true)?;
    let timeout = match raw.store_timeout.as_deref() {
        Some(t) => crate::config::parse_duration("store_timeout", t)?,
        None => Duration::from_secs(2),
    };
    let prefix = raw.redis_prefix.clone().unwrap_or_else(|| dev.redis_prefix.clone());
    let store = app::open_store(&dev.store, &prefix, timeout).await.map_err(|e| match (&dev.store, e) {
        (StoreUrl::Embedded(dir), Error::StoreUnavailable(_)) => Error::StoreUnavailable(format!(
            "the embedded store {} is in use by a running airlock: use --url http://… with an admin's \
             API token in AIRLOCK_TOKEN, or stop the server first",
            dir.display()
        )),
        (_, e) => e,
    })?;
    Airlock::new(store, SessionPolicy::from(&dev), 1)
}

fn read_password(from_stdin: bool) -> Result<(String, bool)> {
    if !from_stdin {
        return Ok((new_password(), true));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("password (then Enter):");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| Error::bad_request(format!("cannot read the password: {e}")))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value).map_err(Error::internal)?);
    Ok(())
}

fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn date(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn roles_text<T: std::fmt::Display>(roles: &[T]) -> String {
    if roles.is_empty() { "-".to_owned() } else { roles.iter().map(ToString::to_string).collect::<Vec<_>>().join(",") }
}

async fn user(airlock: &Airlock, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add { email, name, roles, password_stdin } => {
            let (password, generated) = read_password(password_stdin)?;
            let user = airlock.add_user(NewUser { email, name, password: Some(password.clone()), roles }).await?;
            println!("created user {} ({})", user.email, user.id);
            if generated {
                println!("password: {password}\nSave it now: it will not be shown again.");
            }
        }
        UserCommand::List(JsonFlag { json }) => {
            let users = airlock.list_users().await?;
            if json {
                let out: Vec<_> = users
                    .iter()
                    .map(|u| {
                        serde_json::json!({"id": u.id, "email": u.email, "name": u.name, "roles": u.roles,
                        "disabled": u.disabled, "created_at": date(u.created_at)})
                    })
                    .collect();
                return print_json(&out);
            }
            let rows = users
                .into_iter()
                .map(|u| {
                    vec![
                        u.email,
                        u.name,
                        roles_text(&u.roles),
                        if u.disabled { "disabled" } else { "active" }.into(),
                        u.id,
                    ]
                })
                .collect();
            print_table(&["EMAIL", "NAME", "ROLES", "STATUS", "ID"], rows);
        }
        UserCommand::Disable { email } => {
            let user = airlock.update_user(&email, UserPatch { disabled: Some(true), ..Default::default() }).await?;
            println!("disabled {}; their sessions have ended", user.email);
        }
        UserCommand::Enable { email } => {
            let user = airlock.update_user(&email, UserPatch { disabled: Some(false), ..Default::default() }).await?;
            println!("enabled {}", user.email);
        }
        UserCommand::SetRole { email, roles } => {
            let user = airlock.update_user(&email, UserPatch { roles: Some(roles), ..Default::default() }).await?;
            println!("{} now has the roles {}", user.email, roles_text(&user.roles));
        }
        UserCommand::SetPassword { email, password_stdin } => {
            let (password, generated) = read_password(password_stdin)?;
            let user = airlock
                .update_user(&email, UserPatch { password: Some(password.clone()), ..Default::default() })
                .await?;
            println!("set the password of {}", user.email);
            if generated {
                println!("password: {password}\nSave it now: it will not be shown again.");
            }
        }
    }
    Ok(())
}

async fn org(airlock: &Airlock, cmd: OrgCommand) -> Result<()> {
    match cmd {
        OrgCommand::Add { slug, name } => {
            let org = airlock.add_org(&slug, name.as_deref()).await?;
            println!("created org {} ({})", org.slug, org.id);
        }
        OrgCommand::List(JsonFlag { json }) => {
            let orgs = airlock.list_orgs().await?;
            if json {
                return print_json(&orgs);
            }
            print_table(&["SLUG", "NAME", "ID"], orgs.into_iter().map(|o| vec![o.slug, o.name, o.id]).collect());
        }
    }
    Ok(())
}

async fn member(airlock: &Airlock, cmd: MemberCommand) -> Result<()> {
    match cmd {
        MemberCommand::Add { org, email, role } => {
            let (org, user) = airlock.add_member(&org, &email, role).await?;
            println!("{} is now {role} of {}", user.email, org.slug);
        }
        MemberCommand::Remove { org, email } => {
            airlock.remove_member(&org, &email).await?;
            println!("removed {email} from {org}");
        }
    }
    Ok(())
}

async fn session(airlock: &Airlock, cmd: SessionCommand) -> Result<()> {
    let now = crate::service::now();
    match cmd {
        SessionCommand::List { email, json: JsonFlag { json } } => {
            let user = airlock.find_user(&email).await?;
            let sessions = airlock.sessions_of(&user.id, now).await?;
            if json {
                let out: Vec<_> = sessions
                    .iter()
                    .map(|s| {
                        serde_json::json!({"id": s.id, "created_at": date(s.created_at),
                        "last_seen_at": date(s.last_seen_at), "expires_at": date(s.expires_at),
                        "user_agent": s.user_agent, "ip": s.ip})
                    })
                    .collect();
                return print_json(&out);
            }
            let rows = sessions
                .into_iter()
                .map(|s| {
                    vec![
                        s.id,
                        date(s.created_at),
                        date(s.expires_at),
                        s.ip.unwrap_or_default(),
                        s.user_agent.unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["ID", "CREATED", "EXPIRES", "IP", "USER AGENT"], rows);
        }
        SessionCommand::Revoke { session_id } => {
            let session = airlock.revoke_session(&session_id, None, "cli", now).await?;
            println!("revoked {}", session.id);
        }
        SessionCommand::RevokeAll { email } => {
            let user = airlock.find_user(&email).await?;
            let count = airlock.revoke_sessions_of(&user, None, "cli").await?;
            println!("revoked {count} session(s) of {}", user.email);
        }
    }
    Ok(())
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

async fn token(airlock: &Airlock, cmd: TokenCommand) -> Result<()> {
    let now = crate::service::now();
    match cmd {
        TokenCommand::Generate { name, scopes, role, expires, user } => {
            let owner = airlock.find_user(&user).await?;
            // Whoever holds the store acts for the owner: the owner's own power is the limit.
            let power = user_power(&owner.roles);
            let issued = airlock
                .create_token(&owner, &power, NewToken { name, scopes, role, expires_days: expires }, "cli", now)
                .await?;
            let record = issued.record;
            println!("Token generated successfully!");
            println!("Name:    {}", record.name);
            println!("ID:      {}", record.id);
            println!("Token:   {}", issued.secret);
            println!("Scopes:  {}", scopes_text(&record.scopes));
            println!("Expires: {}", record.expires_at.map(date).unwrap_or_else(|| "never".to_owned()));
            println!("IMPORTANT: Save this token now: it will not be shown again!");
        }
        TokenCommand::List { all, user, json: JsonFlag { json } } => {
            let owner = airlock.find_user(&user).await?;
            let tokens = airlock.list_tokens(&owner.id, all, now).await?;
            if json {
                let out: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({"id": t.id, "name": t.name, "scopes": t.scopes, "role": t.role,
                        "created_at": date(t.created_at), "expires_at": t.expires_at.map(date),
                        "revoked_at": t.revoked_at.map(date), "active": t.is_active(now)})
                    })
                    .collect();
                return print_json(&out);
            }
            let rows = tokens
                .into_iter()
                .map(|t| {
                    let status = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.is_active(now) {
                        "active"
                    } else {
                        "expired"
                    };
                    vec![
                        t.name.clone(),
                        t.id.clone(),
                        scopes_text(&t.scopes),
                        t.expires_at.map(date).unwrap_or_else(|| "never".to_owned()),
                        status.to_owned(),
                    ]
                })
                .collect();
            print_table(&["NAME", "ID", "SCOPES", "EXPIRES", "STATUS"], rows);
        }
        TokenCommand::Revoke { name_or_id, user } => {
            let owner = airlock.find_user(&user).await?;
            let token = airlock.revoke_token(&owner.id, &name_or_id, "cli", now).await?;
            println!("revoked token {} ({})", token.name, token.id);
        }
    }
    Ok(())
}

/// The token settings of the server's configuration, and its keys opened with its secret (the
/// same configuration as the server's opens them).
async fn open_keys(airlock: &Airlock, raw: &RawConfig) -> Result<Config> {
    let config = Config::from_raw(
        RawConfig {
            secret: raw.secret.clone(),
            public_url: raw.public_url.clone(),
            listen: raw.listen.clone(),
            jwt_audience: raw.jwt_audience.clone(),
            access_token_ttl: raw.access_token_ttl.clone(),
            service_token_max_ttl: raw.service_token_max_ttl.clone(),
            ..Default::default()
        },
        true,
    )?;
    airlock.init_keys(config.signing_secret(), config.public_url.as_str(), config.jwt_audience.clone()).await?;
    Ok(config)
}

async fn service_token(airlock: &Airlock, raw: &RawConfig, cmd: ServiceTokenCommand) -> Result<()> {
    let config = open_keys(airlock, raw).await?;
    let now = crate::service::now();
    match cmd {
        ServiceTokenCommand::Issue { tenant, scopes, resource, ttl } => {
            let request = crate::tokens::service_tokens::ServiceTokenRequest {
                tenant_id: tenant,
                scopes,
                resource_id: resource,
                ttl: Duration::from_secs(ttl),
                alg: crate::tokens::keys::KeyAlg::Rs256,
            };
            let (record, jwt) = airlock.issue_service_token(request, "cli", config.service_token_max_ttl, now).await?;
            println!("Service token issued for tenant {}", record.tenant_id);
            println!("ID:      {}", record.id);
            println!("Scopes:  {}", record.scopes.join(", "));
            println!("Expires: {}", date(record.expires_at));
            println!("Token:   {jwt}");
            println!("IMPORTANT: Save this token now: it will not be shown again!");
        }
        ServiceTokenCommand::Revoke { id } => {
            let record = airlock.revoke_service_token(&id, now).await?;
            println!("revoked service token {} (tenant {})", record.id, record.tenant_id);
        }
    }
    Ok(())
}

async fn keys(airlock: &Airlock, raw: &RawConfig, cmd: KeysCommand) -> Result<()> {
    let config = open_keys(airlock, raw).await?;
    match cmd {
        KeysCommand::Rotate => {
            let window = time::Duration::try_from(config.key_publish_window()).map_err(Error::internal)?;
            for key in airlock.rotate_keys(window).await? {
                println!("new {} key {}", key.alg.as_str(), key.kid);
            }
            println!("retired keys stay published for {}s, until their last token expires", window.whole_seconds());
        }
        KeysCommand::List(JsonFlag { json }) => {
            let keys = airlock.key_records().await?;
            if json {
                let out: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({"kid": k.kid, "alg": k.alg.as_str(), "created_at": date(k.created_at),
                        "retired_at": k.retired_at.map(date), "publish_until": k.publish_until.map(date),
                        "active": k.is_active()})
                    })
                    .collect();
                return print_json(&out);
            }
            let rows = keys
                .into_iter()
                .map(|k| {
                    let status = if k.is_active() { "active".to_owned() } else { "retired".to_owned() };
                    let until = k.publish_until.map(date).unwrap_or_else(|| "-".to_owned());
                    vec![k.kid, k.alg.as_str().to_owned(), date(k.created_at), status, until]
                })
                .collect();
            print_table(&["KID", "ALG", "CREATED", "STATUS", "PUBLISHED UNTIL"], rows);
        }
    }
    Ok(())
}

fn print_client(client: &crate::oauth::clients::ClientRecord, secret: Option<&str>, json: bool) -> Result<()> {
    if json {
        return print_json(&crate::http::admin::ClientOut::of(client.clone(), secret.map(str::to_owned)));
    }
    println!("client_id: {}", client.client_id);
    if let Some(secret) = secret {
        println!("client_secret: {secret}");
    }
    println!("name: {}", client.name);
    println!("type: {}", if client.is_public() { "public" } else { "confidential" });
    println!("grant_types: {}", client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(","));
    println!("scopes: {}", client.scopes);
    for uri in &client.redirect_uris {
        println!("redirect_uri: {uri}");
    }
    Ok(())
}

async fn client(airlock: &Airlock, cmd: ClientCommand) -> Result<()> {
    let now = crate::service::now();
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            grant_types,
            scopes,
            json,
        } => {
            let new = crate::oauth::clients::NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                scopes: scopes.map(|s| s.replace(',', " ")),
            };
            let registered = airlock.register_client(new, false, now).await?;
            airlock
                .audit(
                    crate::audit::AuditEvent::new("oauth.client.register")
                        .actor("cli")
                        .subject(&registered.client.client_id),
                )
                .await;
            print_client(&registered.client, registered.secret.as_deref(), json.json)?;
        }
        ClientCommand::List(JsonFlag { json }) => {
            let clients = airlock.clients().await?;
            if json {
                let out: Vec<_> = clients.into_iter().map(|c| crate::http::admin::ClientOut::of(c, None)).collect();
                return print_json(&out);
            }
            let rows = clients
                .into_iter()
                .map(|c| {
                    let kind = if c.is_public() { "public" } else { "confidential" };
                    vec![c.client_id.clone(), c.name.clone(), kind.to_owned(), c.redirect_uris.join(" ")]
                })
                .collect();
            print_table(&["CLIENT ID", "NAME", "TYPE", "REDIRECT URIS"], rows);
        }
        ClientCommand::Show { client_id, json } => {
            let client =
                airlock.client(&client_id).await?.ok_or_else(|| Error::not_found(format!("client {client_id}")))?;
            print_client(&client, None, json.json)?;
        }
        ClientCommand::Remove { client_id } => {
            let client = airlock.remove_client(&client_id).await?;
            airlock
                .audit(crate::audit::AuditEvent::new("oauth.client.remove").actor("cli").subject(&client.client_id))
                .await;
            println!("removed {}", client.client_id);
        }
        ClientCommand::RotateSecret { client_id, json } => {
            let rotated = airlock.rotate_client_secret(&client_id).await?;
            airlock.audit(crate::audit::AuditEvent::new("oauth.client.rotate").actor("cli").subject(&client_id)).await;
            print_client(&rotated.client, rotated.secret.as_deref(), json.json)?;
        }
    }
    Ok(())
}

async fn grant(airlock: &Airlock, cmd: GrantCommand) -> Result<()> {
    match cmd {
        GrantCommand::Add { user, org, resource, scopes } => {
            let grant = airlock.add_grant(user.as_deref(), org.as_deref(), &resource, scopes).await?;
            println!(
                "granted {} ({}) to {}",
                grant.resource,
                scopes_text(&grant.scopes),
                user.or(org).unwrap_or_default()
            );
        }
        GrantCommand::List(JsonFlag { json }) => {
            let grants = airlock.list_grants().await?;
            if json {
                return print_json(&grants);
            }
            let rows = grants
                .into_iter()
                .map(|g| {
                    let (kind, id) = match g.grantee {
                        crate::tokens::grants::Grantee::User(id) => ("user", id),
                        crate::tokens::grants::Grantee::Org(id) => ("org", id),
                    };
                    vec![g.resource, scopes_text(&g.scopes), kind.to_owned(), id, g.id]
                })
                .collect();
            print_table(&["RESOURCE", "SCOPES", "TO", "ID", "GRANT"], rows);
        }
    }
    Ok(())
}

fn print_audit(records: &[crate::audit::AuditRecord]) {
    let rows = records
        .iter()
        .map(|r| {
            let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            vec![
                date(r.time),
                r.event.clone(),
                or_dash(&r.actor),
                or_dash(&r.subject),
                or_dash(&r.ip),
                r.outcome.clone(),
            ]
        })
        .collect();
    print_table(&["TIME", "EVENT", "ACTOR", "SUBJECT", "IP", "OUTCOME"], rows);
}

async fn audit(airlock: &Airlock, cmd: AuditCommand) -> Result<()> {
    let AuditCommand::Tail { event, actor, limit, json: JsonFlag { json } } = cmd;
    let filter = crate::audit::AuditFilter { event, actor, limit: limit.clamp(1, 1000) };
    let records = airlock.audit_log(&filter).await?;
    if json {
        return print_json(&records);
    }
    print_audit(&records);
    Ok(())
}
