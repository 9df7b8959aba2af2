//! Wiring: open the store, build the domain and the router, serve until told to stop.

use crate::config::{Config, StoreUrl};
use crate::error::{Error, Result};
use crate::http::{App, AppState, app};
use crate::service::Airlock;
use crate::store::DynStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::RedisStore;
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

/// How often an instance rereads the signing keys, to pick up a rotation made elsewhere.
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(30);

fn spawn_key_reloader(airlock: &Arc<Airlock>) {
    let weak = Arc::downgrade(airlock);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(airlock) = weak.upgrade() else { break };
            if let Err(e) = airlock.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    });
}

/// Runs airlock until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    // First: metric handles taken before the recorder exists would record nowhere.
    let metrics = crate::telemetry::install();
    let store = open_store(&config.store, &config.redis_prefix, config.store_timeout).await.map_err(|e| match e {
        Error::StoreUnavailable(detail) => Error::config("store", format!("cannot reach the store: {detail}")),
        other => other,
    })?;
    let airlock = Arc::new(Airlock::from_config(store, &config)?);
    if config.secret.is_none() {
        tracing::warn!("no AIRLOCK_SECRET (--dev): signing keys are sealed with a fixed development secret");
    }
    airlock.init_keys(config.signing_secret(), config.public_url.as_str(), config.jwt_audience.clone()).await?;
    spawn_key_reloader(&airlock);

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
    serve_connections(listener, app(AppState::new(airlock, Arc::new(config), metrics))).await;
    Ok(())
}

/// Longest a client may take to send its request headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves HTTP/1.1 and HTTP/2 on `listener` until SIGINT/SIGTERM. Unlike `axum::serve`, this
/// bounds how long a client may dribble its headers, so a stalled client never holds a
/// connection forever (bodies are bounded by the body-reading middleware).
async fn serve_connections(listener: tokio::net::TcpListener, app: App) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            tower::ServiceExt::map_request(app.clone(), move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period");
    }
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
