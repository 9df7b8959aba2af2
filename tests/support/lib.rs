//! Support for the whole-system tests: real `redis-server` processes on free ports, real
//! `airlock` processes, and HTTP clients with cookie jars. Nothing here is a mock.
//!
//! Binaries come from the same `target/<profile>` directory as the test binary itself; `cargo
//! test --workspace` builds them first (the airlock package has integration tests, so Cargo
//! builds its binary).

pub mod airlock;
pub mod browser;
pub mod lore;
pub mod proxy;
pub mod redis;
pub mod reverse_proxy;
pub mod tls;

pub use airlock::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess};
pub use lore::LoreProcess;
pub use proxy::FaultProxy;
pub use redis::{CLUSTER_NODE_TIMEOUT, RedisCluster, RedisServer, Sentinels};
pub use reverse_proxy::{ProxyKind, ReverseProxy};
pub use tls::{TlsFront, https_browser};

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port on loopback")
}

/// `target/<profile>/`, found from the running test binary (`target/<profile>/deps/system-…`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test binary");
    exe.parent().and_then(|deps| deps.parent()).expect("test binary inside target/<profile>/deps").to_path_buf()
}

/// A built binary of the workspace, or a loud failure saying how to build it.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `./scripts/test` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// Polls `check` until it is true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HTTP client with its own cookie jar, no redirects followed, and a generous timeout (tests
/// that measure a bound set their own).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The workspace root (`target/<profile>/..`/..).
pub fn repo_root() -> PathBuf {
    let target = target_dir();
    target.parent().and_then(|t| t.parent()).expect("target/<profile> inside the workspace").to_path_buf()
}

/// The virtualenv Python `./scripts/test` prepares (PyJWT, python-jose), or a loud failure.
pub fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run the tests with ./scripts/test, which creates it", python.display());
    python
}

/// Sends `signal` to process `pid`; after `SIGSTOP`, waits until every thread of it has stopped.
///
/// kill(2) returns once the signal is queued, while a thread running on another core may still
/// answer a request or two: a test that stops a process to cause an outage must not race it.
pub fn signal_process(pid: u32, signal: i32, what: &str) {
    let pid_t = i32::try_from(pid).expect("pid fits in pid_t");
    // SAFETY: kill(2) on a child the caller spawned and has not waited for.
    let rc = unsafe { libc::kill(pid_t, signal) };
    assert_eq!(rc, 0, "signal {signal} to {what}: {}", std::io::Error::last_os_error());
    if signal != libc::SIGSTOP {
        return;
    }
    let all_stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
        tasks.flatten().all(|task| {
            // `pid (comm) S …`: the state follows the last `)`.
            std::fs::read_to_string(task.path().join("stat"))
                .ok()
                .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['T', 't'])))
                .unwrap_or(false)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !all_stopped() {
        assert!(Instant::now() < deadline, "{what} did not stop within 5 s of SIGSTOP");
        std::thread::sleep(Duration::from_millis(1));
    }
}
