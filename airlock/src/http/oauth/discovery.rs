//! The discovery documents: `/.well-known/openid-configuration` and
//! `/.well-known/oauth-authorization-server` answer the very same JSON (one issuer string,
//! byte for byte, as MCP clients compare it), and `/.well-known/oauth-protected-resource`
//! describes airlock's own APIs (RFC 9728).

use super::policy;
use crate::error::Error;
use crate::http::AppState;
use crate::oauth::scopes::IDENTITY_SCOPES;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn endpoint(issuer: &str, path: &str) -> String {
    format!("{issuer}{path}")
}

/// The authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0).
pub fn metadata(issuer: &str, registration: bool) -> Value {
    let mut scopes: Vec<&str> = IDENTITY_SCOPES.to_vec();
    scopes.extend(["read", "write", "control", "audit"]);
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint(issuer, "/oauth/authorize"),
        "token_endpoint": endpoint(issuer, "/oauth/token"),
        "device_authorization_endpoint": endpoint(issuer, "/oauth/device_authorization"),
        "userinfo_endpoint": endpoint(issuer, "/oauth/userinfo"),
        "revocation_endpoint": endpoint(issuer, "/oauth/revoke"),
        "introspection_endpoint": endpoint(issuer, "/oauth/introspect"),
        "jwks_uri": endpoint(issuer, "/.well-known/jwks.json"),
        "end_session_endpoint": endpoint(issuer, "/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            crate::oauth::DEVICE_CODE_GRANT,
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
        "scopes_supported": scopes,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "azp",
            "email", "email_verified", "name", "orgs",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "prompt_values_supported": ["none", "login", "consent"],
    });
    if registration {
        doc["registration_endpoint"] = json!(endpoint(issuer, "/oauth/register"));
    }
    doc
}

fn cacheable(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /.well-known/openid-configuration` and `GET /.well-known/oauth-authorization-server`.
pub async fn authorization_server(State(state): State<AppState>) -> Result<Response, Error> {
    Ok(cacheable(metadata(&policy(&state)?.issuer, state.config.oauth_dynamic_registration)))
}

/// `GET /.well-known/oauth-protected-resource`: airlock's own APIs as a protected resource.
pub async fn protected_resource(State(state): State<AppState>) -> Result<Response, Error> {
    let policy = policy(&state)?;
    Ok(cacheable(json!({
        // A URL, as RFC 9728 asks; a token asked for it carries `jwt_audience`.
        "resource": policy.issuer,
        "authorization_servers": [policy.issuer],
        "scopes_supported": ["read", "write", "control", "audit"],
        "bearer_methods_supported": ["header"],
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metadata_names_one_issuer_and_only_s256() {
        let doc = super::metadata("https://airlock.example.com", true);
        assert_eq!(doc["registration_endpoint"], "https://airlock.example.com/oauth/register");
        assert!(super::metadata("https://airlock.example.com", false).get("registration_endpoint").is_none());
        assert_eq!(doc["issuer"], "https://airlock.example.com");
        assert_eq!(doc["token_endpoint"], "https://airlock.example.com/oauth/token");
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
        assert_eq!(doc["device_authorization_endpoint"], "https://airlock.example.com/oauth/device_authorization");
        let grants = doc["grant_types_supported"].as_array().unwrap();
        assert!(grants.iter().any(|g| g == "urn:ietf:params:oauth:grant-type:device_code"), "{grants:?}");
    }
}
