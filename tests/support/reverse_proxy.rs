//! Real reverse proxies in front of airlock: nginx (`auth_request`) and Caddy (`forward_auth`),
//! each a child process on a free loopback port with a generated config in its own temp dir.
//! A missing binary is a loud failure, never a skipped test.

use crate::free_port;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Caddy,
}

impl ProxyKind {
    /// The binary's name and the Debian package that installs it.
    fn binary(self) -> (&'static str, &'static str) {
        match self {
            ProxyKind::Nginx => ("nginx", "nginx"),
            ProxyKind::Caddy => ("caddy", "caddy"),
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary().0)
    }
}

/// Finds `name` on `PATH` or in the sbin/bin directories Debian installs to (`/usr/sbin` is not
/// on every user's `PATH`), or panics saying how to install it.
pub fn proxy_binary(kind: ProxyKind) -> PathBuf {
    let (name, package) = kind.binary();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let fallback = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(fallback)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| {
            panic!(
                "{name} is missing (not on PATH, nor in /usr/sbin or /usr/bin): the forward-auth tests need a real \
                 {name}; install it (Debian: apt-get install {package}) or run ./scripts/test, which installs it"
            )
        })
}

/// A running nginx or Caddy. Killed (with every process it started) on drop.
pub struct ReverseProxy {
    pub kind: ProxyKind,
    pub port: u16,
    pub url: String,
    dir: TempDir,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
}

impl ReverseProxy {
    /// nginx with `server_body` inside `server { listen 127.0.0.1:<port>; ... }`.
    pub async fn nginx(server_body: &str) -> Self {
        Self::start(ProxyKind::Nginx, server_body).await
    }

    /// Caddy with `site_body` inside the site block `http://127.0.0.1:<port> { ... }`.
    pub async fn caddy(site_body: &str) -> Self {
        Self::start(ProxyKind::Caddy, site_body).await
    }

    /// Starts `kind` with `body` as its one server/site block, retrying on another port if the
    /// free port was taken in the meantime.
    pub async fn start(kind: ProxyKind, body: &str) -> Self {
        let binary = proxy_binary(kind);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            // nginx workers run as `nobody` when the master is root: they must reach the temp dirs.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
            let mut cmd = Command::new(&binary);
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CACHE_HOME", dir.path().join("cache"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Its own process group, so that drop also ends nginx's worker processes.
                .process_group(0);
            match kind {
                ProxyKind::Nginx => {
                    let conf = dir.path().join("nginx.conf");
                    std::fs::create_dir_all(dir.path().join("temp")).expect("nginx temp dir");
                    std::fs::write(&conf, nginx_conf(dir.path(), port, body)).expect("write nginx.conf");
                    cmd.arg("-p")
                        .arg(dir.path())
                        .arg("-e")
                        .arg(dir.path().join("error.log"))
                        .arg("-c")
                        .arg(&conf)
                        .args(["-g", "daemon off;"]);
                }
                ProxyKind::Caddy => {
                    let conf = dir.path().join("Caddyfile");
                    std::fs::write(&conf, caddyfile(dir.path(), port, body)).expect("write Caddyfile");
                    cmd.arg("run").arg("--config").arg(&conf).args(["--adapter", "caddyfile"]);
                }
            }
            let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut proxy = Self {
                kind,
                port,
                url: format!("http://127.0.0.1:{port}"),
                dir,
                child: Some(child),
                output: Arc::default(),
            };
            proxy.capture_output();
            match proxy.wait_until_listening().await {
                Ok(()) => return proxy,
                Err(logs) if attempt < 3 && logs.contains("in use") => continue,
                Err(logs) => panic!("{kind} did not start on port {port}:\n{logs}"),
            }
        }
    }

    fn capture_output(&mut self) {
        let child = self.child.as_mut().expect("spawned");
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
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
    }

    /// Until the port accepts connections; the logs if the process exits first or takes > 20 s.
    async fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                // Let the reader threads catch the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(format!("exited with {status}\n{}", self.logs()));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 20 s\n{}", self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Everything the proxy printed, and nginx's error log.
    pub fn logs(&self) -> String {
        let mut logs = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        if let Ok(error_log) = std::fs::read_to_string(self.dir.path().join("error.log")) {
            logs.push_str(&error_log);
        }
        logs
    }

    /// The generated config, for failure messages.
    pub fn config(&self) -> String {
        let name = match self.kind {
            ProxyKind::Nginx => "nginx.conf",
            ProxyKind::Caddy => "Caddyfile",
        };
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn signal_group(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on the process group of a child we spawned with `process_group(0)`
            // and have not reaped yet, so the group id cannot have been reused.
            unsafe {
                libc::kill(-(child.id() as i32), signal);
            }
        }
    }
}

impl Drop for ReverseProxy {
    fn drop(&mut self) {
        // SIGTERM lets nginx's master stop its workers; SIGKILL the group if that takes long.
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        if let Some(child) = self.child.as_mut() {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.signal_group(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn nginx_conf(dir: &Path, port: u16, server_body: &str) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{
    worker_connections 256;
}}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/temp/client_body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
{server_body}
    }}
}}
"
    )
}

fn caddyfile(dir: &Path, port: u16, site_body: &str) -> String {
    let d = dir.display();
    format!(
        "{{
    admin off
    auto_https off
    storage file_system {d}/storage
}}

http://127.0.0.1:{port} {{
    bind 127.0.0.1
{site_body}
}}
"
    )
}
