//! Wiring: open the store, build the domain and the router, serve until told to stop.

use crate::config::{Config, StoreUrl};
use crate::error::{Error, Result};
use crate::http::{AppState, router};
use crate::service::Airlock;
use crate::store::DynStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::RedisStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often the embedded store deletes expired sessions (reads ignore them meanwhile).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Opens the configured store; an unreachable one is an error, not a retry loop.
pub async fn open_store(store: &StoreUrl, redis_prefix: &str, timeout: Duration) -> Result<DynStore> {
    match store {
        StoreUrl::Embedded(dir) => {
            let dir = dir.clone();
            let store =
                tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir)).await.map_err(Error::internal)??;
            let store = Arc::new(store);
            store.spawn_sweeper(SWEEP_EVERY);
            Ok(store)
        }
        StoreUrl::Redis(url) => Ok(Arc::new(RedisStore::connect(url, redis_prefix, timeout).await?)),
    }
}

/// Runs airlock until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    let store = open_store(&config.store, &config.redis_prefix, config.store_timeout).await.map_err(|e| match e {
        Error::StoreUnavailable(detail) => Error::config("store", format!("cannot reach the store: {detail}")),
        other => other,
    })?;
    let airlock = Arc::new(Airlock::from_config(store, &config)?);

    if let Some(admin) = airlock
        .bootstrap_admin(config.bootstrap_admin_email.as_deref(), config.bootstrap_admin_password.as_deref())
        .await?
    {
        // Printed, never logged: this is the only time the password exists outside its hash.
        match admin.generated_password {
            Some(password) => println!(
                "airlock: created the bootstrap admin {} with the one-time password {password}\n\
                 airlock: sign in at {}login and change it (airlock user set-password).",
                admin.email, config.public_url
            ),
            None => println!("airlock: created the bootstrap admin {} with the configured password", admin.email),
        }
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::config("listen", format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener.local_addr().map_err(Error::internal)?;
    tracing::info!(listen = %local, public_url = %config.public_url, dev = config.dev, "airlock is listening");
    let app = router(AppState::new(airlock, Arc::new(config)));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(Error::internal)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
