//! `--url`: the admin commands over a running airlock's HTTP API, authenticated by an API token.
//! Each command is one request to the endpoint the contract names; answers print like the
//! store-backed commands do.

use super::{
    AuditCommand, ClientCommand, Command, GrantCommand, JsonFlag, KeysCommand, MemberCommand, OrgCommand,
    ServiceTokenCommand, SessionCommand, TokenCommand, UserCommand, print_json, print_table, read_password,
};
use crate::error::{Error, Result};
use reqwest::Method;
use serde_json::{Value, json};
use shared::ErrorBody;

pub struct Remote {
    base: url::Url,
    token: String,
    http: reqwest::Client,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A path segment (an email, a name) made safe for a URL path.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

impl Remote {
    pub fn new(url: &str, token: Option<&str>) -> Result<Self> {
        let base = url::Url::parse(url).map_err(|e| Error::config("url", format!("`{url}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::config("url", format!("`{url}` is not an http(s) URL")));
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::config("token", "--url needs an API token in --token or AIRLOCK_TOKEN"))?
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(Self { base, token, http })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = self.base.join(path).map_err(|e| Error::config("url", e.to_string()))?;
        let mut request = self.http.request(method, url.clone()).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| Error::StoreUnavailable(format!("cannot reach {url}: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_value::<ErrorBody>(body)
            .map(|e| format!("{}: {}", e.error, e.message))
            .unwrap_or_else(|_| status.to_string());
        Err(match status.as_u16() {
            400 => Error::BadRequest(message),
            401 => Error::Unauthenticated("the token was refused (unknown, expired or revoked)"),
            403 => Error::Forbidden(message),
            404 => Error::NotFound(message),
            409 => Error::Conflict(message),
            503 => Error::StoreUnavailable(message),
            _ => Error::Internal(format!("{status}: {message}")),
        })
    }

    pub async fn run(&self, command: Command) -> Result<()> {
        match command {
            Command::Serve(_) => Err(Error::config("url", "serve runs locally; --url is for the admin commands")),
            Command::User(cmd) => self.user(cmd).await,
            Command::Org(cmd) => self.org(cmd).await,
            Command::Member(cmd) => self.member(cmd).await,
            Command::Session(cmd) => self.session(cmd).await,
            Command::Token(cmd) => self.token(cmd).await,
            Command::Keys(cmd) => self.keys(cmd).await,
            Command::ServiceToken(cmd) => self.service_token(cmd).await,
            Command::Grant(cmd) => self.grant(cmd).await,
            Command::Audit(cmd) => self.audit(cmd).await,
            Command::Client(cmd) => self.client(cmd).await,
        }
    }

    async fn client(&self, cmd: ClientCommand) -> Result<()> {
        let print = |client: &Value, json: bool| -> Result<()> {
            if json {
                return print_json(client);
            }
            println!("client_id: {}", text(&client["client_id"]));
            if let Some(secret) = client["client_secret"].as_str() {
                println!("client_secret: {secret}");
            }
            println!("name: {}", text(&client["name"]));
            println!("type: {}", if client["public"] == true { "public" } else { "confidential" });
            Ok(())
        };
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
                let mut body = json!({
                    "name": name,
                    "redirect_uris": redirect_uris,
                    "post_logout_redirect_uris": post_logout_redirect_uris,
                    "public": public,
                    "first_party": first_party,
                });
                if !grant_types.is_empty() {
                    body["grant_types"] = json!(grant_types);
                }
                if let Some(scopes) = scopes {
                    body["scopes"] = json!(scopes.replace(',', " "));
                }
                print(&self.call(Method::POST, "/api/admin/clients", Some(body)).await?, json.json)
            }
            ClientCommand::List(JsonFlag { json }) => {
                let clients = self.call(Method::GET, "/api/admin/clients", None).await?;
                if json {
                    return print_json(&clients);
                }
                let rows = clients
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let kind = if c["public"] == true { "public" } else { "confidential" };
                        vec![text(&c["client_id"]), text(&c["name"]), kind.to_owned(), text(&c["redirect_uris"])]
                    })
                    .collect();
                print_table(&["CLIENT ID", "NAME", "TYPE", "REDIRECT URIS"], rows);
                Ok(())
            }
            ClientCommand::Show { client_id, json } => print(
                &self.call(Method::GET, &format!("/api/admin/clients/{}", segment(&client_id)), None).await?,
                json.json,
            ),
            ClientCommand::Remove { client_id } => {
                self.call(Method::DELETE, &format!("/api/admin/clients/{}", segment(&client_id)), None).await?;
                println!("removed {client_id}");
                Ok(())
            }
            ClientCommand::RotateSecret { client_id, json } => {
                let path = format!("/api/admin/clients/{}/rotate-secret", segment(&client_id));
                print(&self.call(Method::POST, &path, None).await?, json.json)
            }
        }
    }

    async fn patch_user(&self, email: &str, body: Value) -> Result<Value> {
        self.call(Method::PATCH, &format!("/api/admin/users/{}", segment(email)), Some(body)).await
    }

    async fn user(&self, cmd: UserCommand) -> Result<()> {
        match cmd {
            UserCommand::Add { email, name, roles, password_stdin } => {
                let (password, generated) = read_password(password_stdin)?;
                let body = json!({"email": email, "name": name, "password": password, "roles": roles});
                let user = self.call(Method::POST, "/api/admin/users", Some(body)).await?;
                println!("created user {} ({})", text(&user["email"]), text(&user["id"]));
                if generated {
                    println!("password: {password}\nSave it now: it will not be shown again.");
                }
            }
            UserCommand::List(JsonFlag { json }) => {
                let users = self.call(Method::GET, "/api/admin/users", None).await?;
                if json {
                    return print_json(&users);
                }
                let rows = users
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        let status = if u["disabled"] == true { "disabled" } else { "active" };
                        vec![text(&u["email"]), text(&u["name"]), text(&u["roles"]), status.to_owned(), text(&u["id"])]
                    })
                    .collect();
                print_table(&["EMAIL", "NAME", "ROLES", "STATUS", "ID"], rows);
            }
            UserCommand::Disable { email } => {
                let user = self.patch_user(&email, json!({"disabled": true})).await?;
                println!("disabled {}; their sessions and tokens have ended", text(&user["email"]));
            }
            UserCommand::Enable { email } => {
                let user = self.patch_user(&email, json!({"disabled": false})).await?;
                println!("enabled {}", text(&user["email"]));
            }
            UserCommand::SetRole { email, roles } => {
                let user = self.patch_user(&email, json!({"roles": roles})).await?;
                println!("{} now has the roles {}", text(&user["email"]), text(&user["roles"]));
            }
            UserCommand::SetPassword { email, password_stdin } => {
                let (password, generated) = read_password(password_stdin)?;
                let user = self.patch_user(&email, json!({"password": password})).await?;
                println!("set the password of {}", text(&user["email"]));
                if generated {
                    println!("password: {password}\nSave it now: it will not be shown again.");
                }
            }
        }
        Ok(())
    }

    async fn org(&self, cmd: OrgCommand) -> Result<()> {
        match cmd {
            OrgCommand::Add { slug, name } => {
                let org = self.call(Method::POST, "/api/admin/orgs", Some(json!({"slug": slug, "name": name}))).await?;
                println!("created org {} ({})", text(&org["slug"]), text(&org["id"]));
            }
            OrgCommand::List(JsonFlag { json }) => {
                let orgs = self.call(Method::GET, "/api/admin/orgs", None).await?;
                if json {
                    return print_json(&orgs);
                }
                let rows = orgs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| vec![text(&o["slug"]), text(&o["name"]), text(&o["id"])])
                    .collect();
                print_table(&["SLUG", "NAME", "ID"], rows);
            }
        }
        Ok(())
    }

    async fn member(&self, cmd: MemberCommand) -> Result<()> {
        match cmd {
            MemberCommand::Add { org, email, role } => {
                let path = format!("/api/admin/orgs/{}/members", segment(&org));
                self.call(Method::POST, &path, Some(json!({"email": email, "role": role}))).await?;
                println!("{email} is now {role} of {org}");
            }
            MemberCommand::Remove { org, email } => {
                let path = format!("/api/admin/orgs/{}/members/{}", segment(&org), segment(&email));
                self.call(Method::DELETE, &path, None).await?;
                println!("removed {email} from {org}");
            }
        }
        Ok(())
    }

    async fn session(&self, cmd: SessionCommand) -> Result<()> {
        match cmd {
            SessionCommand::List { email, json: JsonFlag { json } } => {
                let sessions =
                    self.call(Method::GET, &format!("/api/admin/users/{}/sessions", segment(&email)), None).await?;
                if json {
                    return print_json(&sessions);
                }
                let rows = sessions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        ["id", "created_at", "expires_at", "ip", "user_agent"].iter().map(|k| text(&s[*k])).collect()
                    })
                    .collect();
                print_table(&["ID", "CREATED", "EXPIRES", "IP", "USER AGENT"], rows);
            }
            SessionCommand::Revoke { session_id } => {
                self.call(Method::DELETE, &format!("/api/admin/sessions/{}", segment(&session_id)), None).await?;
                println!("revoked {session_id}");
            }
            SessionCommand::RevokeAll { email } => {
                let done =
                    self.call(Method::DELETE, &format!("/api/admin/users/{}/sessions", segment(&email)), None).await?;
                println!("revoked {} session(s) of {email}", text(&done["revoked"]));
            }
        }
        Ok(())
    }

    /// With `--url`, tokens belong to the user of the token in use; `--user` must name them.
    async fn check_owner(&self, user: &str) -> Result<()> {
        let me = self.call(Method::GET, "/api/auth/session", None).await?;
        if text(&me["user"]["email"]).eq_ignore_ascii_case(user.trim()) || text(&me["user"]["id"]) == user {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "with --url, tokens are managed for the token's own user ({}), not {user}",
                text(&me["user"]["email"])
            )))
        }
    }

    async fn token(&self, cmd: TokenCommand) -> Result<()> {
        match cmd {
            TokenCommand::Generate { name, scopes, role, expires, user } => {
                self.check_owner(&user).await?;
                let body = json!({"name": name, "scopes": scopes, "role": role, "expires_days": expires});
                let made = self.call(Method::POST, "/api/tokens", Some(body)).await?;
                println!("Token generated successfully!");
                println!("Name:    {}", text(&made["name"]));
                println!("ID:      {}", text(&made["id"]));
                println!("Token:   {}", text(&made["token"]));
                println!("Scopes:  {}", text(&made["scopes"]).replace(',', ", "));
                println!("Expires: {}", made["expires_at"].as_str().unwrap_or("never"));
                println!("IMPORTANT: Save this token now: it will not be shown again!");
            }
            TokenCommand::List { all, user, json: JsonFlag { json } } => {
                self.check_owner(&user).await?;
                let tokens = self.call(Method::GET, &format!("/api/tokens?all={all}"), None).await?;
                if json {
                    return print_json(&tokens);
                }
                let rows = tokens
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let status = if t["revoked_at"].is_string() {
                            "revoked"
                        } else if t["active"] == true {
                            "active"
                        } else {
                            "expired"
                        };
                        vec![
                            text(&t["name"]),
                            text(&t["id"]),
                            text(&t["scopes"]).replace(',', ", "),
                            t["expires_at"].as_str().unwrap_or("never").to_owned(),
                            status.to_owned(),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "ID", "SCOPES", "EXPIRES", "STATUS"], rows);
            }
            TokenCommand::Revoke { name_or_id, user } => {
                self.check_owner(&user).await?;
                let done = self.call(Method::DELETE, &format!("/api/tokens/{}", segment(&name_or_id)), None).await?;
                println!("revoked token {} ({})", text(&done["name"]), text(&done["revoked"]));
            }
        }
        Ok(())
    }

    async fn keys(&self, cmd: KeysCommand) -> Result<()> {
        match cmd {
            KeysCommand::Rotate => {
                let fresh = self.call(Method::POST, "/api/admin/keys/rotate", None).await?;
                for key in fresh.as_array().into_iter().flatten() {
                    println!("new {} key {}", text(&key["alg"]), text(&key["kid"]));
                }
            }
            KeysCommand::List(JsonFlag { json }) => {
                let keys = self.call(Method::GET, "/api/admin/keys", None).await?;
                if json {
                    return print_json(&keys);
                }
                let rows = keys
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        let status = if k["active"] == true { "active" } else { "retired" };
                        vec![
                            text(&k["kid"]),
                            text(&k["alg"]),
                            text(&k["created_at"]),
                            status.to_owned(),
                            text(&k["publish_until"]),
                        ]
                    })
                    .collect();
                print_table(&["KID", "ALG", "CREATED", "STATUS", "PUBLISHED UNTIL"], rows);
            }
        }
        Ok(())
    }

    async fn service_token(&self, cmd: ServiceTokenCommand) -> Result<()> {
        match cmd {
            ServiceTokenCommand::Issue { tenant, scopes, resource, ttl } => {
                let body = json!({"tenant_id": tenant, "scopes": scopes, "resource_id": resource, "ttl_seconds": ttl});
                let made = self.call(Method::POST, "/api/service-tokens", Some(body)).await?;
                println!("Service token issued for tenant {tenant}");
                println!("ID:      {}", text(&made["id"]));
                println!("Expires: {}", text(&made["expires_at"]));
                println!("Token:   {}", text(&made["service_token"]));
                println!("IMPORTANT: Save this token now: it will not be shown again!");
            }
            ServiceTokenCommand::Revoke { id } => {
                self.call(Method::DELETE, &format!("/api/service-tokens/{}", segment(&id)), None).await?;
                println!("revoked service token {id}");
            }
        }
        Ok(())
    }

    async fn grant(&self, cmd: GrantCommand) -> Result<()> {
        match cmd {
            GrantCommand::Add { user, org, resource, scopes } => {
                let body = json!({"user": user, "org": org, "resource": resource, "scopes": scopes});
                let grant = self.call(Method::POST, "/api/admin/grants", Some(body)).await?;
                println!("granted {} ({}) as {}", text(&grant["resource"]), text(&grant["scopes"]), text(&grant["id"]));
            }
            GrantCommand::List(JsonFlag { json }) => {
                let grants = self.call(Method::GET, "/api/admin/grants", None).await?;
                if json {
                    return print_json(&grants);
                }
                let rows = grants
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        vec![
                            text(&g["resource"]),
                            text(&g["scopes"]),
                            text(&g["grantee"]["kind"]),
                            text(&g["grantee"]["id"]),
                            text(&g["id"]),
                        ]
                    })
                    .collect();
                print_table(&["RESOURCE", "SCOPES", "TO", "ID", "GRANT"], rows);
            }
        }
        Ok(())
    }

    async fn audit(&self, cmd: AuditCommand) -> Result<()> {
        let AuditCommand::Tail { event, actor, limit, json: JsonFlag { json } } = cmd;
        let mut url = url::Url::parse("http://x/api/admin/audit").map_err(Error::internal)?;
        url.query_pairs_mut().append_pair("limit", &limit.to_string());
        if let Some(event) = &event {
            url.query_pairs_mut().append_pair("event", event);
        }
        if let Some(actor) = &actor {
            url.query_pairs_mut().append_pair("actor", actor);
        }
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let records = self.call(Method::GET, &path, None).await?;
        if json {
            return print_json(&records);
        }
        let records: Vec<crate::audit::AuditRecord> = serde_json::from_value(records).map_err(Error::internal)?;
        super::print_audit(&records);
        Ok(())
    }
}
