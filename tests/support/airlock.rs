//! A real `airlock serve` process on a free port, with its output captured.

use crate::{browser, free_port, workspace_binary};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

/// How to start airlock. `store: None` gives an embedded store in a fresh temp dir.
#[derive(Clone, Debug)]
pub struct AirlockOptions {
    pub store: Option<String>,
    pub dev: bool,
    pub env: BTreeMap<String, String>,
}

impl Default for AirlockOptions {
    fn default() -> Self {
        Self { store: None, dev: true, env: BTreeMap::new() }
    }
}

impl AirlockOptions {
    pub fn redis(url: &str) -> Self {
        Self { store: Some(url.to_owned()), ..Self::default() }
    }

    /// Airlock as deployed for subdomains of `example.test`: not `--dev`, served (behind a TLS
    /// front) as `public_url`, the cookie on `example.test`, trusting `trusted_origins`.
    pub fn example_test(public_url: &str, trusted_origins: &str) -> Self {
        Self { dev: false, ..Self::default() }
            .env("AIRLOCK_PUBLIC_URL", public_url)
            .env("AIRLOCK_COOKIE_DOMAIN", "example.test")
            .env("AIRLOCK_SECRET", "an-airlock-test-secret-of-32-chars!!")
            .env("AIRLOCK_TRUSTED_ORIGINS", trusted_origins)
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }
}

pub struct AirlockProcess {
    pub port: u16,
    pub url: String,
    options: AirlockOptions,
    store: String,
    /// Keeps the embedded store's directory alive across restarts.
    _data: Option<TempDir>,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
}

impl AirlockProcess {
    pub async fn start(options: AirlockOptions) -> Self {
        let (store, data) = match &options.store {
            Some(store) => (store.clone(), None),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                (format!("embedded:{}", dir.path().join("data").display()), Some(dir))
            }
        };
        let port = free_port();
        let mut process = Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            options,
            store,
            _data: data,
            child: None,
            output: Arc::default(),
        };
        process.spawn().await;
        process
    }

    /// The embedded store's directory, if this process uses one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.store.strip_prefix("embedded:").map(Path::new)
    }

    pub fn store(&self) -> &str {
        &self.store
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_binary("airlock"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AIRLOCK_STORE", &self.store)
            .env("AIRLOCK_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("AIRLOCK_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AIRLOCK_LOG", "info");
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn spawn(&mut self) {
        let mut args = vec!["serve", "--listen"];
        let listen = format!("127.0.0.1:{}", self.port);
        args.push(&listen);
        if self.options.dev {
            args.push("--dev");
        }
        let mut child =
            self.command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn airlock");
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = self.output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut out) = output.lock() {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            });
        }
        self.child = Some(child);
        let health = format!("{}/health", self.url);
        let client = browser();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = client.get(&health).send().await
                && resp.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("airlock exited with {status} before answering:\n{}", self.output());
            }
            assert!(Instant::now() < deadline, "airlock did not answer /health within 30 s:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything airlock printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL after five seconds.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: airlock hangs (its port still accepts connections, nothing answers).
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("airlock is running");
        crate::signal_process(child.id(), signal, "airlock");
    }

    /// Starts a stopped or killed process again on the same port and store.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "airlock is still running");
        self.spawn().await;
    }

    /// Stops (if still running) and starts again on the same port and store; after
    /// [`Self::kill`] this is the fresh start that follows a crash.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// Runs `airlock <args>` against the same store and environment (the process must be stopped
    /// for an embedded store).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn airlock cli");
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("airlock cli")
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Signs `client` in and returns the response.
    pub async fn sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        client
            .post(self.at("/api/auth/sign-in"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("sign-in request")
    }

    /// A client signed in as the bootstrap admin.
    pub async fn admin(&self) -> reqwest::Client {
        let client = browser();
        let resp = self.sign_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(resp.status(), 200, "admin sign-in failed: {}", resp.text().await.unwrap_or_default());
        client
    }

    /// Creates a user through the admin API; returns its id.
    pub async fn add_user(&self, admin: &reqwest::Client, email: &str, password: &str, roles: &[&str]) -> String {
        let resp = admin
            .post(self.at("/api/admin/users"))
            .json(&serde_json::json!({"email": email, "password": password, "roles": roles}))
            .send()
            .await
            .expect("create user");
        assert_eq!(resp.status(), 201, "create user: {}", resp.text().await.unwrap_or_default());
        let body: serde_json::Value = resp.json().await.expect("user json");
        body["id"].as_str().expect("user id").to_owned()
    }
}

impl Drop for AirlockProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
