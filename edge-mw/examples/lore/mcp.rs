//! LORE's MCP endpoint, `POST /mcp`: the official Rust MCP SDK (`rmcp`) over streamable HTTP,
//! with one tool, `whoami`.
//!
//! The endpoint knows nothing of OAuth: edge-mw, in front of it, lets through only bearer
//! access tokens airlock issued for `<LORE_PUBLIC_URL>/mcp` and hands the tool the verified
//! caller as an [`AuthUser`] in the request's extensions.

use edge_mw::AuthUser;
use rmcp::handler::server::tool::Extension;
use rmcp::model::CallToolResult;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, tool, tool_router};
use std::sync::Arc;

/// The MCP server: stateless, one value per request.
#[derive(Debug, Clone, Default)]
pub struct LoreMcp;

#[tool_router(server_handler)]
impl LoreMcp {
    /// Who is calling: the person and the OAuth client behind the access token.
    #[tool(description = "Who is calling: the signed-in person and the app acting for them")]
    async fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> Result<CallToolResult, ErrorData> {
        // edge-mw runs before this service on every request to /mcp: no user means a
        // misconfigured app, not a caller to describe.
        let user = parts
            .extensions
            .get::<AuthUser>()
            .ok_or_else(|| ErrorData::internal_error("no verified caller on this request", None))?;
        let auth = &user.session_view().auth;
        Ok(CallToolResult::structured(serde_json::json!({
            "sub": user.id(),
            "client_id": auth.client_id,
            "scopes": auth.scopes,
            "method": auth.method,
        })))
    }
}

/// The tower service to mount at `/mcp`. `hosts` are the `Host` values it answers to (the SDK
/// refuses others, against DNS rebinding).
pub fn service(hosts: Vec<String>) -> StreamableHttpService<LoreMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        // Plain JSON answers for plain request-response tools; the SDK falls back to SSE when
        // a handler sends anything before its result.
        .with_json_response(true)
        .with_sse_keep_alive(None);
    StreamableHttpService::new(|| Ok(LoreMcp), Arc::new(LocalSessionManager::default()), config)
}
