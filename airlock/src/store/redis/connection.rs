//! Which Redis airlock talks to, and the connection it keeps to it.
//!
//! - `redis://`, `rediss://`, `redis+unix://`: one server at a fixed address.
//! - `redis+sentinel://[user:password@]host:port[,host:port…]/<master name>[/<db>]`: the master
//!   that the sentinels name *now*. redis-rs resolves a sentinel master only when it connects,
//!   and its `ConnectionManager` reconnects to the address it first had, so after a failover it
//!   would keep knocking on the dead (or demoted) master. Here every reconnection asks the
//!   sentinels again, as the Sentinel client specification requires: a connection that is
//!   refused, reset, timed out, or answers `READONLY` (a stalled master that came back as a
//!   replica) is retired, and the next command resolves the master afresh.
//! - `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, some nodes
//!   listed, the rest discovered (redis-rs `cluster-async`, which follows `MOVED` and refreshes
//!   its slot map after a failover). Keys are laid out so that every script and transaction
//!   stays in one slot (see the store's module docs).

use crate::error::{Error, Result};
use redis::aio::MultiplexedConnection;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// A connection to one server (standalone, or the master the sentinels named), or to a whole
/// Cluster: what every store command runs on.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection, Arc<SlotRoutes>),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn, _) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn, _) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn, _) => conn.get_db(),
        }
    }
}

impl Conn {
    /// `GET key`, as bytes: the session check. On a Cluster, sent on the connection to the
    /// master of the key's slot ([`SlotRoutes`]); through redis-rs's cluster connection, which
    /// follows redirections, when that fails or no route is known yet.
    pub async fn get_bytes(&mut self, key: &str) -> redis::RedisResult<Option<Vec<u8>>> {
        let mut get = redis::cmd("GET");
        get.arg(key);
        match self {
            Self::Single(conn) => get.query_async(conn).await,
            Self::Cluster(conn, routes) => {
                if let Some(mut direct) = routes.master_of(key) {
                    match get.query_async(&mut direct).await {
                        Ok(value) => return Ok(value),
                        // Moved, a node gone, a demoted master: the map is stale. A GET is safe
                        // to send again.
                        Err(_) => routes.forget(),
                    }
                }
                routes.refresh_soon(conn.clone());
                // The master: a replica may not have a revocation yet.
                let route = Route::with_key(key, SlotAddr::Master);
                let value = conn
                    .route_command(get, RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)))
                    .await?;
                Ok(redis::from_redis_value(value)?)
            }
        }
    }
}

/// The masters of a Cluster by slot, each with a connection of its own, for the session check.
///
/// redis-rs's cluster connection hands every command to a task of its own, which hands it to
/// the node's connection task: one hop more than a single connection, a fifth more work per
/// check. Here a check's `GET` goes on the node's connection itself. The map is read from
/// `CLUSTER SLOTS` (through the cluster connection), dropped at the first failure on it, and
/// read again in the background, at most every [`ROUTES_REFRESH_EVERY`]; meanwhile checks take
/// the cluster connection, which follows redirections itself.
pub struct SlotRoutes {
    current: RwLock<Option<Arc<RoutesMap>>>,
    last_refresh: std::sync::Mutex<Option<std::time::Instant>>,
    /// How a node is reached: the URL's credentials, the store timeout.
    credentials: Credentials,
    timeout: Duration,
}

/// A URL's user name and password.
type Credentials = (Option<String>, Option<String>);

struct RoutesMap {
    by_slot: HashMap<Slot, usize>,
    masters: Vec<MultiplexedConnection>,
}

/// Least time between two readings of the slot map.
const ROUTES_REFRESH_EVERY: Duration = Duration::from_millis(500);

impl SlotRoutes {
    fn new(credentials: Credentials, timeout: Duration) -> Self {
        Self { current: RwLock::new(None), last_refresh: std::sync::Mutex::new(None), credentials, timeout }
    }

    fn master_of(&self, key: &str) -> Option<MultiplexedConnection> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let map = current.as_ref()?;
        map.by_slot.get(&Slot::for_key(key)).map(|&node| map.masters[node].clone())
    }

    fn forget(&self) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Reads the slot map again in the background, unless that was done a moment ago.
    fn refresh_soon(self: &Arc<Self>, cluster: ClusterConnection) {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < ROUTES_REFRESH_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let routes = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(routes.timeout, routes.read_map(cluster)).await {
                Ok(Ok(map)) => *routes.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(map)),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "redis cluster: no slot map; checks take the cluster connection")
                }
                Err(_) => tracing::debug!("redis cluster: no slot map in time; checks take the cluster connection"),
            }
        });
    }

    async fn read_map(&self, mut cluster: ClusterConnection) -> redis::RedisResult<RoutesMap> {
        let ranges: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut cluster).await?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let mut by_slot = HashMap::new();
        let mut masters: Vec<MultiplexedConnection> = Vec::new();
        let mut nodes: HashMap<(String, i64), usize> = HashMap::new();
        for range in ranges {
            // `[first, last, [host, port, id], replicas…]`
            let Value::Array(parts) = range else { continue };
            let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                continue;
            };
            let (Some(host), Some(Value::Int(port))) = (master.first(), master.get(1)) else { continue };
            let host: String = redis::from_redis_value(host.clone())?;
            let node = match nodes.get(&(host.clone(), *port)) {
                Some(&node) => node,
                None => {
                    let conn = self.connect(&host, *port, &config).await?;
                    masters.push(conn);
                    nodes.insert((host, *port), masters.len() - 1);
                    masters.len() - 1
                }
            };
            for slot in (*first..=*last).filter_map(|n| u16::try_from(n).ok().and_then(Slot::new)) {
                by_slot.insert(slot, node);
            }
        }
        Ok(RoutesMap { by_slot, masters })
    }

    async fn connect(
        &self,
        host: &str,
        port: i64,
        config: &redis::AsyncConnectionConfig,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let invalid = |what: &str| RedisError::from((ErrorKind::Client, "cluster node", what.to_owned()));
        let mut url = url::Url::parse("redis://localhost/").map_err(|e| invalid(&e.to_string()))?;
        url.set_host(Some(host)).map_err(|e| invalid(&e.to_string()))?;
        url.set_port(u16::try_from(port).ok()).map_err(|()| invalid("port"))?;
        if let Some(user) = &self.credentials.0 {
            url.set_username(user).map_err(|()| invalid("user name"))?;
        }
        if let Some(password) = &self.credentials.1 {
            url.set_password(Some(password)).map_err(|()| invalid("password"))?;
        }
        redis::Client::open(url.as_str())?.get_multiplexed_async_connection_with_config(config).await
    }
}

/// User info and `host[:port]` list of a multi-host URL (`redis+sentinel://`,
/// `redis+cluster://`): the `url` crate cannot read a comma-separated authority, and redis-rs
/// has no parser for these forms, so it is split here; each part is percent-decoded by `url`'s
/// own rules.
struct Authority {
    hosts: Vec<(String, u16)>,
    username: Option<String>,
    password: Option<String>,
}

impl Authority {
    fn parse(authority: &str, default_port: u16, bad: &dyn Fn(&str) -> Error) -> Result<Self> {
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let decode = |part: &str| {
            url::form_urlencoded::parse(format!("x={part}").as_bytes()).next().map(|(_, v)| v.into_owned())
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                (decode(user).filter(|u| !u.is_empty()), decode(pass).filter(|p| !p.is_empty()))
            }
        };
        let mut parsed = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, port.parse::<u16>().map_err(|_| bad("a port is not a number"))?),
                None => (host, default_port),
            };
            if name.is_empty() || name.contains(['/', '?', '#', '@']) {
                return Err(bad("a host address is empty or malformed"));
            }
            parsed.push((name.to_owned(), port));
        }
        Ok(Self { hosts: parsed, username, password })
    }
}

/// A parsed `redis+sentinel://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The port sentinels listen on when a URL names none.
const SENTINEL_PORT: u16 = 26379;

impl SentinelUrl {
    /// Parses `redis+sentinel://[user:password@]h1[:p1],h2[:p2]/<master>[/<db>]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |problem: &str| Error::config("store", format!("{problem} in {}", super::redact_url(text)));
        let rest = text.strip_prefix("redis+sentinel://").ok_or_else(|| bad("not a redis+sentinel:// URL"))?;
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no master name (…/mymaster/0)"))?;
        let Authority { hosts: sentinels, username, password } = Authority::parse(authority, SENTINEL_PORT, &bad)?;
        let mut segments = path.trim_end_matches('/').split('/');
        let master = segments.next().filter(|m| !m.is_empty()).ok_or_else(|| bad("no master name"))?;
        let db = match segments.next() {
            None => 0,
            Some(db) => db.parse::<i64>().map_err(|_| bad("the database is not a number"))?,
        };
        if segments.next().is_some() {
            return Err(bad("more than /<master>/<db> in the path"));
        }
        Ok(Self { sentinels, master: master.to_owned(), db, username, password })
    }

    fn client(&self) -> Result<SentinelClient> {
        let addrs = self.sentinels.iter().map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port));
        let mut builder = SentinelClientBuilder::new(addrs, &self.master, SentinelServerType::Master)
            .map_err(|e| Error::config("store", format!("sentinel: {e}")))?
            .set_client_to_redis_db(self.db);
        // The credentials are the data nodes' (sentinels are commonly left without a password).
        if let Some(user) = &self.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_redis_password(password);
        }
        builder.build().map_err(|e| Error::config("store", format!("sentinel: {e}")))
    }
}

/// A parsed `redis+cluster://` URL: the nodes to start from (the rest are discovered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    pub nodes: Vec<(String, u16)>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The port cluster nodes listen on when a URL names none.
const REDIS_PORT: u16 = 6379;

impl ClusterUrl {
    /// Parses `redis+cluster://[user:password@]h1[:p1],h2[:p2][/]`. A Cluster has one database
    /// (0), so a path other than `/` is refused.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |problem: &str| Error::config("store", format!("{problem} in {}", super::redact_url(text)));
        let rest = text.strip_prefix("redis+cluster://").ok_or_else(|| bad("not a redis+cluster:// URL"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return Err(bad("a path (a Redis Cluster has only database 0)"));
        }
        let Authority { hosts: nodes, username, password } = Authority::parse(authority, REDIS_PORT, &bad)?;
        Ok(Self { nodes, username, password })
    }

    fn client(&self, timeout: Duration) -> Result<ClusterClient> {
        let nodes = self.nodes.iter().map(|(host, port)| format!("redis://{host}:{port}/"));
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            // Enough to follow the redirections of a failover; every call is bounded by the
            // store timeout besides, and a write is never sent again after that.
            .retries(2)
            .min_retry_wait(20)
            .max_retry_wait(200);
        if let Some(user) = &self.username {
            builder = builder.username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.password(password);
        }
        builder.build().map_err(|e| Error::config("store", format!("cluster: {e}")))
    }
}

/// How the connection finds its server.
enum Target {
    Standalone(redis::Client),
    /// The client, and the URL's credentials (for the check's own connections to each master).
    Cluster(Box<(ClusterClient, Credentials)>),
    /// The client that resolves the master, and the URL (for asking the sentinels directly).
    Sentinel(Box<(tokio::sync::Mutex<SentinelClient>, SentinelUrl)>),
}

/// The connection in use, and how to make a new one.
///
/// The [`ConnectionManager`] replaces a connection that reports itself closed or reset. It does
/// not replace one that merely stops answering (a lost NAT or conntrack entry, a vanished host, a
/// failed-over address: no FIN, no RST), and would time out on it for as long as the kernel
/// keeps the socket, which is many minutes. So a command that times out retires its manager:
/// the next command connects afresh. Like go-redis discarding a connection after a timeout, this
/// also never reuses a stream whose state is unknown. Behind sentinels, a lost connection or a
/// `READONLY` answer retires it too, so that the next command asks who the master is now.
///
/// There are two connections ([`Lane`]): one multiplexes every ordinary command; the other
/// carries only the writes that wait for a replica (`WAIT`), because Redis reads nothing more
/// from a client blocked in `WAIT`, and the session checks behind it would wait too.
pub struct Connection {
    target: Target,
    config: ConnectionManagerConfig,
    lanes: [LaneState; 2],
    timeout: Duration,
}

/// Which of the two connections a command goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Commands = 0,
    /// Revocations: the write, `ROLE` and `WAIT`.
    Durable = 1,
}

/// A lane's connection, and the address it goes to (`None` on a Cluster).
type Current = (Conn, Option<ConnectionAddr>);

#[derive(Default)]
struct LaneState {
    /// The manager with the address it connects to, and its generation, so concurrent
    /// failures retire it only once. `None` until the next command connects (behind sentinels:
    /// resolves the master).
    current: RwLock<(u64, Option<Current>)>,
    /// One resolution at a time; the others wait for its result.
    connecting: tokio::sync::Mutex<()>,
}

impl LaneState {
    fn manager(&self) -> Option<(u64, Conn)> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.1.as_ref().map(|(manager, _)| (current.0, manager.clone()))
    }

    fn manager_with_addr(&self) -> Option<(u64, Conn, Option<ConnectionAddr>)> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.1.clone().map(|(manager, addr)| (current.0, manager, addr))
    }
}

/// Whether a replica, as `SENTINEL REPLICAS` describes it (flat name/value pairs), is one the
/// sentinels could promote: not judged down and not out of their reach.
fn promotable(fields: &[String]) -> bool {
    let flags = fields.chunks_exact(2).find(|pair| pair[0] == "flags").map(|pair| pair[1].as_str()).unwrap_or("");
    !flags.split(',').any(|flag| matches!(flag, "s_down" | "o_down" | "disconnected"))
}

/// Whether a command failed because its connection was gone: closed, reset or refused.
pub fn connection_lost(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_connection_refusal()
}

fn read_only(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly))
}

impl Connection {
    /// Connects to `url` (standalone or sentinel), failing within `timeout` when no server
    /// answers.
    pub async fn open(url: &str, timeout: Duration) -> Result<Self> {
        let target = if url.starts_with("redis+sentinel://") {
            let parsed = SentinelUrl::parse(url)?;
            Target::Sentinel(Box::new((tokio::sync::Mutex::new(parsed.client()?), parsed)))
        } else if url.starts_with("redis+cluster://") {
            let parsed = ClusterUrl::parse(url)?;
            let credentials = (parsed.username.clone(), parsed.password.clone());
            Target::Cluster(Box::new((parsed.client(timeout)?, credentials)))
        } else {
            let client = redis::Client::open(url)
                .map_err(|e| Error::config("store", format!("invalid Redis URL {}: {e}", super::redact_url(url))))?;
            Target::Standalone(client)
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = Self { target, config, lanes: Default::default(), timeout };
        let label = super::redact_url(url);
        let (_, mut manager) = tokio::time::timeout(timeout, connection.get(Lane::Commands))
            .await
            .map_err(|_| super::unavailable(format!("no answer from {label} within {timeout:?}")))?
            .map_err(|e| super::unavailable(format!("{label}: {e}")))?;
        // A lazy manager connects on first use: make that use now, so that an unreachable store
        // stops startup.
        tokio::time::timeout(timeout, redis::cmd("PING").query_async::<()>(&mut manager))
            .await
            .map_err(|_| super::unavailable(format!("no answer from {label} within {timeout:?}")))?
            .map_err(|e| super::unavailable(format!("{label}: {e}")))?;
        Ok(connection)
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// The manager in use and its generation, connecting (or resolving the master) first when
    /// the last one was retired. The hot path: nothing is copied but the manager's handle.
    pub async fn get(&self, lane: Lane) -> redis::RedisResult<(u64, Conn)> {
        if let Some(current) = self.lanes[lane as usize].manager() {
            return Ok(current);
        }
        self.connect(lane).await.map(|(generation, manager, _)| (generation, manager))
    }

    /// [`Self::get`], with the address the manager connects to (`None` for a Cluster).
    pub async fn get_with_addr(&self, lane: Lane) -> redis::RedisResult<(u64, Conn, Option<ConnectionAddr>)> {
        if let Some(current) = self.lanes[lane as usize].manager_with_addr() {
            return Ok(current);
        }
        self.connect(lane).await
    }

    async fn connect(&self, lane: Lane) -> redis::RedisResult<(u64, Conn, Option<ConnectionAddr>)> {
        let state = &self.lanes[lane as usize];
        let _one_at_a_time = state.connecting.lock().await;
        if let Some(current) = state.manager_with_addr() {
            return Ok(current);
        }
        let client = match &self.target {
            Target::Standalone(client) => client.clone(),
            // Asks the sentinels in turn and checks the answer with `ROLE`.
            Target::Sentinel(sentinel) => sentinel.0.lock().await.async_get_client().await?,
            // Reads the slot map from the first node that answers; redis-rs keeps it current.
            Target::Cluster(cluster) => {
                let (client, credentials) = &**cluster;
                let routes = Arc::new(SlotRoutes::new(credentials.clone(), self.timeout));
                let conn = Conn::Cluster(client.get_async_connection().await?, routes);
                let mut current = state.current.write().unwrap_or_else(PoisonError::into_inner);
                current.1 = Some((conn.clone(), None));
                return Ok((current.0, conn, None));
            }
        };
        let addr = Some(client.get_connection_info().addr().clone());
        let manager = Conn::Single(ConnectionManager::new_lazy_with_config(client, self.config.clone())?);
        let mut current = state.current.write().unwrap_or_else(PoisonError::into_inner);
        current.1 = Some((manager.clone(), addr.clone()));
        Ok((current.0, manager, addr))
    }

    /// Whether a master at `addr` that lists no replica may answer a revocation as done: a
    /// standalone server may; behind sentinels, only while they still name it the master (a
    /// stalled master that woke up believes it is one until they demote it) and know no replica
    /// they could promote (one merely cut off from the master could be, and lack the change).
    /// Asks the sentinels directly, in turn, as the client specification does; the first that
    /// answers decides.
    pub async fn may_answer_without_replicas(&self, addr: Option<&ConnectionAddr>) -> redis::RedisResult<bool> {
        let (Target::Sentinel(sentinel), Some(addr)) = (&self.target, addr) else { return Ok(true) };
        let url = &sentinel.1;
        let mut last_error = None;
        for (host, port) in &url.sentinels {
            let asked = async {
                let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                let (master_host, master_port): (String, u16) = redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&url.master)
                    .query_async(&mut conn)
                    .await?;
                if ConnectionAddr::Tcp(master_host, master_port) != *addr {
                    return Ok(false);
                }
                let replicas: Vec<Vec<String>> =
                    redis::cmd("SENTINEL").arg("replicas").arg(&url.master).query_async(&mut conn).await?;
                Ok(!replicas.iter().any(|fields| promotable(fields)))
            };
            match asked.await {
                Ok(answer) => return Ok(answer),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| RedisError::from((ErrorKind::Client, "no sentinel listed"))))
    }

    /// Drops the manager of generation `seen` after `error`, when that is what the error asks
    /// for; the next command connects afresh.
    pub fn after_error(&self, lane: Lane, seen: u64, error: Option<&RedisError>) {
        let retire = match (error, &self.target) {
            // No answer in time: the stream's state is unknown.
            (None, _) => true,
            (Some(e), _) if e.is_timeout() => true,
            // Behind sentinels the address itself may be stale.
            (Some(e), Target::Sentinel(_)) => connection_lost(e) || read_only(e),
            // redis-rs reconnects to a node and rereads the slot map itself.
            (Some(_), Target::Standalone(_) | Target::Cluster(_)) => false,
        };
        if !retire {
            return;
        }
        let mut current = self.lanes[lane as usize].current.write().unwrap_or_else(PoisonError::into_inner);
        if current.0 == seen && current.1.is_some() {
            *current = (seen + 1, None);
            match error {
                Some(e) => tracing::warn!(error = %e, "redis: the next command opens a new connection"),
                None => tracing::warn!("redis did not answer in time; the next command opens a new connection"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_replicas_the_sentinels_can_reach_and_think_up_count_as_promotable() {
        let replica = |flags: &str| -> Vec<String> {
            ["name", "127.0.0.1:6380", "flags", flags, "role-reported", "slave"].map(String::from).to_vec()
        };
        assert!(promotable(&replica("slave")));
        assert!(!promotable(&replica("s_down,slave,disconnected")));
        assert!(!promotable(&replica("slave,o_down")));
        assert!(promotable(&["name".to_owned(), "x".to_owned()]), "no flags: nothing says it is down");
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_the_master_and_the_database() {
        let url = SentinelUrl::parse("redis+sentinel://h1:26380,h2,10.0.0.3:5000/mymaster/2").unwrap();
        assert_eq!(url.sentinels, vec![("h1".into(), 26380), ("h2".into(), 26379), ("10.0.0.3".into(), 5000)]);
        assert_eq!((url.master.as_str(), url.db), ("mymaster", 2));
        assert_eq!((url.username, url.password), (None, None));

        let with_password = SentinelUrl::parse("redis+sentinel://:s%40cret@h1:26379/mymaster").unwrap();
        assert_eq!((with_password.db, with_password.password.as_deref()), (0, Some("s@cret")));
        let with_user = SentinelUrl::parse("redis+sentinel://app:pw@h1/m/0/").unwrap();
        assert_eq!((with_user.username.as_deref(), with_user.password.as_deref()), (Some("app"), Some("pw")));
    }

    #[test]
    fn malformed_sentinel_urls_are_refused_without_echoing_the_password() {
        for bad in [
            "redis+sentinel://h1:26379",
            "redis+sentinel://h1:26379/",
            "redis+sentinel://h1:port/m/0",
            "redis+sentinel://,h2/m",
            "redis+sentinel://h1/m/zero",
            "redis+sentinel://h1/m/0/extra",
            "redis+sentinel://:hunter2@h1:x/m",
        ] {
            let error = SentinelUrl::parse(bad).unwrap_err().to_string();
            assert!(error.starts_with("store: "), "{bad}: {error}");
            assert!(!error.contains("hunter2"), "{bad}: {error}");
        }
    }
}
