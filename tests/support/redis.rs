//! A real `redis-server` per test, on a free port, that the test can kill and restart.

use crate::free_port;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    persistent: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A Redis with an append-only file fsynced on every write: a restart keeps everything.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self { port: free_port(), dir, persistent, child: None };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        self.spawn_with(&[]);
    }

    fn spawn_with(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--dir", &self.dir.path().display().to_string()])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            // Redis 7 refuses DEBUG by default; the fault tests stall Redis with `DEBUG SLEEP`.
            .args(["--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(extra);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): run the tests with ./scripts/test, which installs it")
        });
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {} within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whoever answers must be the server just started, not another test's that took the
        // port between `free_port` and now (ours would then have exited).
        let answering = self.process_id();
        assert_eq!(answering, Some(pid), "port {} is answered by another redis-server, not ours", self.port);
    }

    /// The `process_id` the server on our port reports.
    fn process_id(&self) -> Option<u32> {
        let mut conn =
            redis::Client::open(self.url()).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5))).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
        info.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|pid| pid.trim().parse().ok())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL: no goodbye, exactly like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port and directory (a persistent one reloads its data).
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// [`Self::restart`] with extra `redis-server` arguments for this run only (for example
    /// `--key-load-delay` to make a persistent Redis load slowly).
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.kill();
        self.spawn_with(extra);
    }

    /// SIGSTOP: the process freezes. Its sockets stay open and the kernel still accepts new
    /// connections, but nothing answers: a hung host, not a dead one.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("redis-server is running");
        crate::signal_process(child.id(), signal, "redis-server");
    }

    /// A plain connection for the test to inspect what airlock wrote.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url()).and_then(|c| c.get_connection()).expect("connect to test redis")
    }

    /// Every key and every value in the database, as text, for "no secret at rest" checks.
    pub fn dump(&self) -> String {
        let mut conn = self.connection();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("KEYS");
        let mut out = String::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("TYPE");
            let value: Vec<String> = match kind.as_str() {
                "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).expect("GET")],
                "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn).expect("SMEMBERS"),
                "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn).expect("HGETALL"),
                "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query(&mut conn).expect("LRANGE"),
                other => vec![format!("<{other}>")],
            };
            out.push_str(&format!("{key} => {}\n", value.join(" | ")));
        }
        out
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
