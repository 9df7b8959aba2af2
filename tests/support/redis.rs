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

    /// A Redis replicating `master` (`--replicaof`), keeping nothing on disk.
    pub fn start_replica_of(master: &RedisServer) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self { port: free_port(), dir, persistent: false, child: None };
        server.spawn_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
        server
    }

    fn launch(persistent: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self { port: free_port(), dir, persistent, child: None };
        server.spawn();
        server
    }

    /// `INFO <section>` as text.
    pub fn info(&self, section: &str) -> String {
        redis::cmd("INFO").arg(section).query(&mut self.connection()).unwrap_or_default()
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

/// Three (or more) `redis-server --sentinel` processes watching one master, named `mymaster`,
/// with a quorum of 2 and test-friendly timeouts (the master is judged down after
/// `down_after`; Redis's default is 30 s).
pub struct Sentinels {
    pub ports: Vec<u16>,
    _dir: TempDir,
    children: Vec<Child>,
}

pub const SENTINEL_MASTER: &str = "mymaster";

impl Sentinels {
    pub fn start(master: &RedisServer, count: usize, down_after: Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for sentinels");
        let mut ports = Vec::new();
        let mut children = Vec::new();
        for n in 0..count {
            let port = free_port();
            // Sentinel rewrites its configuration file: each gets a writable one of its own.
            let conf = dir.path().join(format!("sentinel-{n}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} {down}\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 10000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
                dir = dir.path().display(),
                master = master.port,
                down = down_after.as_millis(),
            );
            std::fs::write(&conf, text).expect("write sentinel.conf");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server --sentinel");
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "sentinel did not listen on {port} within 10 s");
                std::thread::sleep(Duration::from_millis(20));
            }
            ports.push(port);
            children.push(child);
        }
        Self { ports, _dir: dir, children }
    }

    /// A master, its replica (in sync) and three sentinels aware of both: a deployment ready to
    /// fail over.
    pub fn deployment(down_after: Duration) -> (RedisServer, RedisServer, Sentinels) {
        let master = RedisServer::start();
        let replica = RedisServer::start_replica_of(&master);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !replica.info("replication").contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica did not sync within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sentinels = Sentinels::start(&master, 3, down_after);
        sentinels.wait_until_ready(1);
        (master, replica, sentinels)
    }

    /// `redis+sentinel://127.0.0.1:p1,…/mymaster/0`, as airlock takes it.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}/0", hosts.join(","))
    }

    fn ask(&self, port: u16, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2)).ok()?;
        let mut cmd = redis::cmd("SENTINEL");
        for arg in args {
            cmd.arg(*arg);
        }
        cmd.query(&mut conn).ok()
    }

    /// The master's port as the first sentinel names it now.
    pub fn master_port(&self) -> Option<u16> {
        let value = self.ask(self.ports[0], &["get-master-addr-by-name", SENTINEL_MASTER])?;
        let (_, port): (String, String) = redis::from_redis_value(value).ok()?;
        port.parse().ok()
    }

    /// Waits until every sentinel knows the others and `replicas` replicas: only then can a
    /// failover be voted and carried out.
    pub fn wait_until_ready(&self, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.ports.iter().all(|&port| {
                let sentinels = self.ask(port, &["sentinels", SENTINEL_MASTER]);
                let known = self.ask(port, &["replicas", SENTINEL_MASTER]);
                let count = |v: Option<redis::Value>| match v {
                    Some(redis::Value::Array(items)) => items.len(),
                    _ => 0,
                };
                count(sentinels) + 1 >= self.ports.len() && count(known) >= replicas
            });
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the sentinels did not see each other and the replicas within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real Redis Cluster: `masters` masters and one replica each, made by
/// `redis-cli --cluster create`, with a test-friendly `cluster-node-timeout` (Redis's default is
/// 15 s: a killed master is then replaced after about 20 s).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

/// How long a node may be unreachable before the others judge it failed.
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_millis(2000);

/// A free port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    pub fn start(masters: usize) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..masters * 2 {
            let dir = tempfile::tempdir().expect("temp dir for a cluster node");
            let mut node = RedisServer { port: free_cluster_port(), dir, persistent: false, child: None };
            let config = node.dir.path().join("nodes.conf").display().to_string();
            let timeout = CLUSTER_NODE_TIMEOUT.as_millis().to_string();
            node.spawn_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--cluster-node-timeout",
                &timeout,
            ]);
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ready(masters);
        cluster
    }

    /// Waits until every live node sees `masters` masters each with a replica in sync and the
    /// cluster state `ok`: only then can a failover be carried out.
    pub fn wait_until_ready(&self, masters: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.nodes.iter().filter(|n| n.child.is_some()).all(|node| {
                let nodes = node.cluster("NODES");
                let count = |role: &str| {
                    nodes
                        .lines()
                        .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains(role) && !f.contains("fail")))
                        .count()
                };
                node.cluster("INFO").contains("cluster_state:ok")
                    && count("master") == masters
                    && count("slave") == masters
            }) && self.nodes.iter().filter(|n| n.child.is_some()).all(|node| {
                let info = node.info("replication");
                info.contains("role:master") || info.contains("master_link_status:up")
            });
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not settle within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+cluster://` with every node, as airlock takes it.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The nodes that are masters now (by their own `ROLE`).
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_some() && self.nodes[i].info("replication").contains("role:master"))
            .collect()
    }

    /// The node serving `key`'s slot as master.
    pub fn master_of(&self, key: &str) -> usize {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[self.masters()[0]].connection())
            .expect("KEYSLOT");
        self.masters()
            .into_iter()
            .find(|&i| {
                let owned: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut self.nodes[i].connection()).unwrap_or_default();
                owned.iter().any(|range| match range {
                    redis::Value::Array(parts) => match (parts.first(), parts.get(1), parts.get(2)) {
                        (Some(redis::Value::Int(first)), Some(redis::Value::Int(last)), Some(redis::Value::Array(node))) => {
                            (*first..=*last).contains(&slot)
                                && matches!(node.get(1), Some(redis::Value::Int(port)) if *port == i64::from(self.nodes[i].port))
                        }
                        _ => false,
                    },
                    _ => false,
                })
            })
            .expect("a master serves the slot")
    }

    /// Every key and value of every master, as text, for "no secret at rest" checks.
    pub fn dump(&self) -> String {
        self.masters().into_iter().map(|i| self.nodes[i].dump()).collect()
    }
}

impl RedisServer {
    /// `CLUSTER <sub>` as text.
    pub fn cluster(&self, sub: &str) -> String {
        let Ok(mut conn) =
            redis::Client::open(self.url()).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return String::new();
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        redis::cmd("CLUSTER").arg(sub).query(&mut conn).unwrap_or_default()
    }

    /// Whether the process is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}
