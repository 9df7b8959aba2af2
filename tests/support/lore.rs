//! The LORE demo app (`cargo run -p edge-mw --example lore`) as a real process.

use crate::{browser, free_port, target_dir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LoreProcess {
    pub port: u16,
    pub url: String,
    child: Child,
}

impl LoreProcess {
    /// Starts LORE against `airlock_url` with extra `LORE_*` variables.
    pub async fn start(airlock_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_at(free_port(), airlock_url, env).await
    }

    /// [`Self::start`] on a port chosen beforehand: for an airlock that must trust LORE's origin
    /// (its OAuth resources are URLs on trusted origins) before LORE runs.
    pub async fn start_at(port: u16, airlock_url: &str, env: &[(&str, &str)]) -> Self {
        let binary = target_dir().join("examples").join("lore");
        assert!(binary.exists(), "{} is missing: run the tests with ./scripts/test", binary.display());
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("LORE_LISTEN", format!("127.0.0.1:{port}"))
            .env("LORE_AIRLOCK_URL", airlock_url)
            .env("LORE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn lore");
        let lore = Self { port, url: format!("http://127.0.0.1:{port}"), child };
        let client = browser();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !client.get(lore.at("/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "lore did not answer /health");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lore
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for LoreProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
