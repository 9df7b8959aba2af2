//! Faults against real processes: Redis killed, restarted and stalled under a running airlock,
//! airlock itself restarted and crashed on the embedded store, and airlock started with no
//! reachable store. Contract: 503 `store_unavailable` with `Retry-After` while the store is out,
//! within the store timeout (never a 500, never a hang), and recovery without a restart.

use airlock_system_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, FaultProxy, RedisServer, browser, eventually,
    free_port, workspace_binary,
};
use futures::future::join_all;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The store timeout every Redis test configures.
const STORE_TIMEOUT: &str = "1s";
/// The store timeout plus a margin: a request slower than this during an outage is a hang.
const BOUND: Duration = Duration::from_secs(3);
/// Past this a request has hung for sure; the client gives up so the test fails instead of
/// waiting for the default client timeout.
const HANG: Duration = Duration::from_secs(10);
/// How long airlock may take to notice that Redis is back.
const RECOVERY: Duration = Duration::from_secs(10);

/// One answer, read to the end, with how long it took.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    elapsed: Duration,
}

async fn call(what: &str, request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request
        .timeout(HANG)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer within {HANG:?} (a hang?): {e}"));
    let status = response.status().as_u16();
    let retry_after = response.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap_or("<not text>").to_owned());
    let text = response.text().await.unwrap_or_else(|e| panic!("{what}: body not read within {HANG:?}: {e}"));
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, retry_after, body, elapsed: started.elapsed() }
}

/// 503 `store_unavailable`, a usable `Retry-After`, and fast.
fn assert_unavailable(what: &str, answer: &Answer) {
    assert_eq!(answer.status, 503, "{what}: {answer:?}");
    assert_eq!(answer.body["error"], "store_unavailable", "{what}: {answer:?}");
    assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message: {answer:?}");
    let retry_after = answer.retry_after.as_deref().unwrap_or_default();
    assert!(retry_after.parse::<u64>().is_ok_and(|s| s >= 1), "{what}: Retry-After in seconds: {answer:?}");
    assert!(
        answer.elapsed < BOUND,
        "{what}: took {:?}, past the store timeout ({STORE_TIMEOUT}) plus margin: {answer:?}",
        answer.elapsed
    );
}

fn session_check(airlock: &AirlockProcess, client: &reqwest::Client) -> reqwest::RequestBuilder {
    client.get(airlock.at("/api/auth/session"))
}

fn ready(airlock: &AirlockProcess) -> reqwest::RequestBuilder {
    browser().get(airlock.at("/ready"))
}

fn health(airlock: &AirlockProcess) -> reqwest::RequestBuilder {
    browser().get(airlock.at("/health"))
}

fn sign_in(airlock: &AirlockProcess) -> reqwest::RequestBuilder {
    browser().post(airlock.at("/api/auth/sign-in")).json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
}

/// Prints airlock's output if the test fails while it lives: the first thing to read.
struct ShowOutputOnPanic<'a>(&'a AirlockProcess);

impl Drop for ShowOutputOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- airlock output ({}) ---\n{}--- end ---", self.0.url, self.0.output());
        }
    }
}

/// `(user id, session id)` of a live session view.
fn who(view: &Value) -> (String, String) {
    let user = view["user"]["id"].as_str().unwrap_or_else(|| panic!("a user id in {view}"));
    let session = view["session"]["id"].as_str().unwrap_or_else(|| panic!("a session id in {view}"));
    (user.to_owned(), session.to_owned())
}

/// Signs the admin in and returns the client, with the session it holds.
async fn signed_in(airlock: &AirlockProcess) -> (reqwest::Client, (String, String)) {
    let client = airlock.admin().await;
    let answer = call("session check", session_check(airlock, &client)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["user"]["email"], ADMIN_EMAIL);
    (client, who(&answer.body))
}

/// Waits until Redis itself answers a `PING` on a fresh connection (started and loaded).
fn wait_until_serving(redis: &RedisServer) {
    const REDIS_UP: Duration = Duration::from_secs(30);
    let deadline = Instant::now() + REDIS_UP;
    let mut last = None;
    while Instant::now() < deadline {
        let pong = redis::Client::open(redis.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        match pong {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis did not serve within {REDIS_UP:?}: {last:?}");
}

async fn airlock_on(redis: &RedisServer) -> AirlockProcess {
    AirlockProcess::start(AirlockOptions::redis(&redis.url()).env("AIRLOCK_STORE_TIMEOUT", STORE_TIMEOUT)).await
}

/// Everything a browser, a middleware and a probe see while Redis is down: fast 503s.
async fn assert_outage_answers(airlock: &AirlockProcess, client: &reqwest::Client, round: usize) {
    let answer = call("session check", session_check(airlock, client)).await;
    assert_unavailable(&format!("round {round}: GET /api/auth/session"), &answer);
    let answer = call("ready", ready(airlock)).await;
    assert_unavailable(&format!("round {round}: GET /ready"), &answer);
    let answer = call("sign-in", sign_in(airlock)).await;
    assert_unavailable(&format!("round {round}: POST /api/auth/sign-in"), &answer);
    let answer = call("health", health(airlock)).await;
    assert_eq!(answer.status, 200, "round {round}: /health while the store is down: {answer:?}");
}

/// Polls the session check until it answers `want`; every answer on the way must be a 503 or
/// `want`, never a 500 or a hang. Returns the last answer and how long recovery took.
async fn recovers_to(airlock: &AirlockProcess, client: &reqwest::Client, want: u16) -> (Answer, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut last = None;
    let recovered = eventually(RECOVERY, async || {
        let answer = call("session check during recovery", session_check(airlock, client)).await;
        assert!(answer.status == want || answer.status == 503, "during recovery only 503 or {want}: {answer:?}");
        assert!(answer.elapsed < BOUND, "during recovery, a slow answer: {answer:?}");
        seen.push(answer.status);
        let done = answer.status == want;
        last = Some(answer);
        done
    })
    .await;
    assert!(recovered, "airlock did not recover within {RECOVERY:?}; answers seen: {seen:?}\n{}", airlock.output());
    (last.expect("one answer at least"), started.elapsed())
}

#[tokio::test]
async fn redis_killed_answers_503_fast_never_500() {
    let mut redis = RedisServer::start();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, _) = signed_in(&airlock).await;
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);

    redis.kill();
    let down = Instant::now();
    // The first round meets the dead connection, the later ones a reconnect that keeps failing.
    for round in 1..=3 {
        assert_outage_answers(&airlock, &client, round).await;
    }

    // A burst of concurrent requests: every one a fast 503, none a 500, none hanging.
    let burst = (0..50).map(|i| {
        let (what, request) = match i % 3 {
            0 => ("burst session check", session_check(&airlock, &client)),
            1 => ("burst ready", ready(&airlock)),
            _ => ("burst sign-in", sign_in(&airlock)),
        };
        async move { (what, call(what, request).await) }
    });
    let started = Instant::now();
    let answers = join_all(burst).await;
    let slowest = answers.iter().map(|(_, a)| a.elapsed).max().unwrap_or_default();
    for (what, answer) in &answers {
        assert_unavailable(what, answer);
    }
    eprintln!(
        "redis down for {:?}: burst of 50 answered in {:?} (slowest {slowest:?})",
        down.elapsed(),
        started.elapsed()
    );

    // Still alive and still failing fast after all that.
    assert_outage_answers(&airlock, &client, 4).await;
}

#[tokio::test]
async fn persistent_redis_restart_resumes_with_sessions_intact() {
    let mut redis = RedisServer::start_persistent();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    redis.kill();
    assert_outage_answers(&airlock, &client, 1).await;
    redis.restart();
    wait_until_serving(&redis);

    // Once Redis serves again, so does airlock: no stale connection answers for it.
    let answer = call("first session check after the restart", session_check(&airlock, &client)).await;
    eprintln!("persistent redis restarted: first session check {} in {:?}", answer.status, answer.elapsed);
    assert_eq!(answer.status, 200, "the first check once Redis is back: {answer:?}");
    assert_eq!(who(&answer.body), before, "the same session of the same user after the restart");
    assert_eq!(answer.body["user"]["email"], ADMIN_EMAIL);
    let answer = call("ready", ready(&airlock)).await;
    assert_eq!(answer.status, 200, "/ready after recovery: {answer:?}");
    // Writes work again too: a fresh sign-in.
    let answer = call("sign-in", sign_in(&airlock)).await;
    assert_eq!(answer.status, 200, "sign-in after recovery: {answer:?}");
}

#[tokio::test]
async fn redis_restart_while_idle_resumes() {
    // Nobody calls while Redis is down: the first calls after it is back meet a connection
    // that died unnoticed.
    let mut redis = RedisServer::start_persistent();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    redis.kill();
    redis.restart();
    wait_until_serving(&redis);

    let answer = call("first session check after the restart", session_check(&airlock, &client)).await;
    eprintln!("redis restarted while airlock was idle: first session check {} in {:?}", answer.status, answer.elapsed);
    assert_eq!(answer.status, 200, "the first check once Redis is back: {answer:?}");
    assert_eq!(who(&answer.body), before);
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
}

#[tokio::test]
async fn volatile_redis_restart_resumes_with_sessions_gone() {
    let mut redis = RedisServer::start();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, _) = signed_in(&airlock).await;

    redis.kill();
    assert_outage_answers(&airlock, &client, 1).await;
    redis.restart();
    wait_until_serving(&redis);

    // Everything was in memory: the session is gone, which is a 401, not a 500 or a 503.
    let answer = call("first session check after the restart", session_check(&airlock, &client)).await;
    eprintln!("volatile redis restarted: first session check {} in {:?}", answer.status, answer.elapsed);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.body["error"], "unauthenticated", "{answer:?}");
    let answer = call("ready", ready(&airlock)).await;
    assert_eq!(answer.status, 200, "/ready after recovery: {answer:?}");
    // So is the admin user: a sign-in is refused as bad credentials, not as an outage.
    let answer = call("sign-in", sign_in(&airlock)).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.body["error"], "invalid_credentials", "{answer:?}");
}

#[tokio::test]
async fn stalled_redis_answers_503_within_the_timeout_then_recovers() {
    const STALL_SECS: u64 = 3;
    let redis = RedisServer::start();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    // DEBUG must be allowed (Redis 7 needs --enable-debug-command), or this test proves nothing.
    let mut conn = redis.connection();
    let probe: redis::RedisResult<String> = redis::cmd("DEBUG").arg("SLEEP").arg(0).query(&mut conn);
    assert_eq!(probe.as_deref(), Ok("OK"), "DEBUG SLEEP must be allowed on the test Redis");

    // Redis is single-threaded: while it sleeps, it answers nobody.
    let (sent, sending) = std::sync::mpsc::channel();
    let stall = std::thread::spawn(move || {
        sent.send(Instant::now()).expect("signal");
        let done: redis::RedisResult<String> = redis::cmd("DEBUG").arg("SLEEP").arg(STALL_SECS).query(&mut conn);
        done.expect("DEBUG SLEEP");
    });
    let stalled_at = sending.recv().expect("stall thread started");
    // Let the command reach Redis before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let answer = call("session check", session_check(&airlock, &client)).await;
    assert_unavailable("GET /api/auth/session on a stalled Redis", &answer);
    let first = answer.elapsed;
    let answer = call("ready", ready(&airlock)).await;
    assert_unavailable("GET /ready on a stalled Redis", &answer);
    assert!(
        stalled_at.elapsed() < Duration::from_secs(STALL_SECS),
        "the checks above must have run inside the stall: {:?}",
        stalled_at.elapsed()
    );
    eprintln!("stalled redis: session check answered 503 in {first:?}, /ready in {:?}", answer.elapsed);

    // Back by itself once Redis wakes up: same session, same user.
    let (answer, _) = recovers_to(&airlock, &client, 200).await;
    let since_stall = stalled_at.elapsed();
    eprintln!("stalled redis: session check back {since_stall:?} after the {STALL_SECS} s stall began");
    assert_eq!(who(&answer.body), before);
    assert!(
        since_stall < Duration::from_secs(STALL_SECS) + BOUND,
        "recovery should follow the end of the stall, took {since_stall:?}"
    );
    stall.join().expect("stall thread");
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
    // Replies to the timed-out requests arrived late: they must not be taken for answers to
    // later ones. Several checks in a row all see the right user.
    for _ in 0..10 {
        let answer = call("session check", session_check(&airlock, &client)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(who(&answer.body), before);
    }
}

#[tokio::test]
async fn hung_redis_answers_503_within_the_timeout_then_recovers() {
    // SIGSTOP: connections stay open and new ones are accepted by the kernel, but nothing
    // answers, for longer than several store timeouts. Only timeouts can save airlock here.
    const PAUSE: Duration = Duration::from_secs(6);
    let redis = RedisServer::start();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    redis.pause();
    let paused_at = Instant::now();
    let mut rounds = 0;
    // Each burst takes about one store timeout; stop in time to resume on schedule.
    while paused_at.elapsed() + Duration::from_secs(2) < PAUSE {
        rounds += 1;
        let burst = (0..20).map(|i| {
            let (what, request) = match i % 3 {
                0 => ("session check on a hung Redis", session_check(&airlock, &client)),
                1 => ("/ready on a hung Redis", ready(&airlock)),
                _ => ("sign-in on a hung Redis", sign_in(&airlock)),
            };
            async move { (what, call(what, request).await) }
        });
        for (what, answer) in join_all(burst).await {
            assert_unavailable(what, &answer);
        }
        let answer = call("health", health(&airlock)).await;
        assert_eq!(answer.status, 200, "/health while Redis hangs: {answer:?}");
    }
    assert!(rounds >= 3, "the pause must outlast several store timeouts: {rounds} rounds");
    eprintln!("hung redis: {rounds} bursts of 20, all 503 within the bound, in {:?}", paused_at.elapsed());

    tokio::time::sleep(PAUSE.saturating_sub(paused_at.elapsed())).await;
    redis.resume();
    let (answer, took) = recovers_to(&airlock, &client, 200).await;
    eprintln!("hung redis resumed: session check back in {took:?}");
    assert_eq!(who(&answer.body), before);
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
    for _ in 0..10 {
        let answer = call("session check", session_check(&airlock, &client)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(who(&answer.body), before, "late replies must not answer later requests");
    }
    let info: String = redis::cmd("INFO").arg("clients").query(&mut redis.connection()).expect("INFO");
    eprintln!(
        "hung redis: after recovery {}",
        info.lines().find(|l| l.starts_with("connected_clients")).unwrap_or("?")
    );
}

#[tokio::test]
async fn silently_dead_redis_connection_is_replaced() {
    // The path to Redis dies without a FIN or a RST (a lost NAT entry, a vanished node, a
    // failed-over address): the old connection never answers again, a new one would. Airlock
    // must give up on the old connection instead of timing out on it forever.
    let redis = RedisServer::start();
    let proxy = FaultProxy::start(redis.port);
    let airlock =
        AirlockProcess::start(AirlockOptions::redis(&proxy.url()).env("AIRLOCK_STORE_TIMEOUT", STORE_TIMEOUT)).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    proxy.blackhole_open_connections();
    let answer = call("session check on a dead connection", session_check(&airlock, &client)).await;
    assert_unavailable("GET /api/auth/session on a silently dead connection", &answer);

    let (answer, took) = recovers_to(&airlock, &client, 200).await;
    eprintln!("silently dead connection: session check back in {took:?} after the first 503");
    assert_eq!(who(&answer.body), before);
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
}

#[tokio::test]
async fn redis_killed_and_restarted_under_load_never_500() {
    // Requests in flight when Redis dies, and while it comes back: each one a 200 or a fast
    // 503, whatever the moment.
    let mut redis = RedisServer::start_persistent();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, stop) = (client.clone(), airlock.at("/api/auth/session"), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = call("session check under load", client.get(&url)).await;
                    let ok = answer.status == 200 || answer.status == 503;
                    assert!(ok && answer.elapsed < BOUND, "under load: {answer:?}");
                    if answer.status == 200 {
                        assert_eq!(answer.body["user"]["email"], ADMIN_EMAIL);
                    } else {
                        assert_eq!(answer.body["error"], "store_unavailable", "{answer:?}");
                    }
                    seen.push(answer.status);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for worker in workers {
        let seen = worker.await.expect("a worker failed (see its panic above)");
        // Each worker ends on a working store.
        assert_eq!(seen.last(), Some(&200), "a worker still failing after the restart: {seen:?}");
        for status in seen {
            *counts.entry(status).or_default() += 1;
        }
    }
    eprintln!("redis killed and restarted under load: answers by status {counts:?}");
    assert!(counts.get(&503).is_some_and(|n| *n > 0), "the outage must have been seen: {counts:?}");
    let answer = call("session check", session_check(&airlock, &client)).await;
    assert_eq!(who(&answer.body), before);
}

#[tokio::test]
async fn redis_restart_still_loading_its_data_resumes() {
    // A persistent Redis with real data takes a while to load it, answering `LOADING` to every
    // command meanwhile: airlock must answer 503 then, and resume when loading ends.
    let mut redis = RedisServer::start_persistent();
    let airlock = airlock_on(&redis).await;
    let _show = ShowOutputOnPanic(&airlock);
    let (client, before) = signed_in(&airlock).await;
    {
        let mut conn = redis.connection();
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(30_000).arg("filler").query(&mut conn).expect("populate");
        // Rewrite the append-only file so the filler is on disk too, and wait for it.
        let _: () = redis::cmd("BGREWRITEAOF").query(&mut conn).expect("BGREWRITEAOF");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info: String = redis::cmd("INFO").arg("persistence").query(&mut conn).expect("INFO");
            if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
                break;
            }
            assert!(Instant::now() < deadline, "AOF rewrite did not finish: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    redis.kill();
    // A delay per key makes loading last a few seconds (how long depends on the machine), and
    // Redis answers clients every kilobyte loaded, as it does with a large dataset.
    let restarted = Instant::now();
    redis.restart_with(&["--key-load-delay", "50", "--loading-process-events-interval-bytes", "1024"]);
    let mut conn = redis.connection();
    let mut still_loading = || {
        let reply: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("nothing").query(&mut conn);
        match reply {
            Ok(_) => false,
            Err(e) if e.to_string().to_lowercase().contains("loading") => true,
            Err(e) => panic!("unexpected answer from a loading Redis: {e}"),
        }
    };
    assert!(still_loading(), "Redis should still be loading, or this test proves nothing");

    let session = call("session check while Redis loads", session_check(&airlock, &client)).await;
    let probe = call("ready while Redis loads", ready(&airlock)).await;
    assert!(still_loading(), "the checks must have run while Redis was loading: lengthen the loading");
    assert_unavailable("GET /api/auth/session while Redis loads", &session);
    assert_unavailable("GET /ready while Redis loads", &probe);

    wait_until_serving(&redis);
    eprintln!("redis loaded its data in about {:?}", restarted.elapsed());
    let answer = call("first session check after loading", session_check(&airlock, &client)).await;
    assert_eq!(answer.status, 200, "the first check once Redis has loaded: {answer:?}");
    assert_eq!(who(&answer.body), before);
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
}

#[tokio::test]
async fn embedded_store_keeps_sessions_across_restart_and_crash() {
    let mut airlock = AirlockProcess::start(AirlockOptions::default()).await;
    let (client, before) = signed_in(&airlock).await;

    // A clean restart (SIGTERM).
    airlock.restart().await;
    let answer = call("session check after restart", session_check(&airlock, &client)).await;
    assert_eq!(answer.status, 200, "the cookie survives a restart: {answer:?}");
    assert_eq!(who(&answer.body), before);

    // A crash (SIGKILL) right after a sign-in: the new session was durable when answered.
    let (fresh, fresh_session) = signed_in(&airlock).await;
    airlock.kill();
    let down = health(&airlock).timeout(Duration::from_secs(2)).send().await;
    assert!(down.is_err(), "the crashed airlock must not answer: {down:?}");
    airlock.restart().await;
    for (client, session) in [(&client, &before), (&fresh, &fresh_session)] {
        let answer = call("session check after crash", session_check(&airlock, client)).await;
        assert_eq!(answer.status, 200, "the cookie survives a crash: {answer:?}");
        assert_eq!(&who(&answer.body), session);
    }
    assert_eq!(call("ready", ready(&airlock)).await.status, 200);
}

/// Starts `airlock serve --dev` on `store` and waits for it to exit; fails if it is still
/// running after `within`.
fn serve_expecting_exit(store: &str, within: Duration) -> (Option<i32>, String, Duration) {
    let listen = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let mut child = Command::new(workspace_binary("airlock"))
        .args(["serve", "--dev", "--listen", &listen])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AIRLOCK_STORE", store)
        .env("AIRLOCK_STORE_TIMEOUT", STORE_TIMEOUT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn airlock");
    while child.try_wait().expect("poll airlock").is_none() {
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().expect("airlock output");
            panic!(
                "airlock kept running {within:?} with the unreachable store {store}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().expect("airlock output");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), elapsed)
}

fn assert_store_error(what: &str, (code, stderr, elapsed): (Option<i32>, String, Duration)) {
    eprintln!("{what}: exit {code:?} after {elapsed:?}: {}", stderr.trim_end());
    assert_eq!(code, Some(2), "{what}: exit code 2: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
    assert!(stderr.contains("store:"), "{what}: the line names `store`: {stderr}");
    assert!(elapsed < BOUND, "{what}: gave up after {elapsed:?}, past the store timeout");
}

#[test]
fn serve_with_unreachable_redis_exits_2_naming_store() {
    // Nothing listens: connection refused.
    let refused = format!("redis://127.0.0.1:{}/", free_port());
    assert_store_error("refused", serve_expecting_exit(&refused, HANG));

    // Something accepts the connection and never answers: only the timeout can tell.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!("redis://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
    assert_store_error("silent", serve_expecting_exit(&silent, HANG));
    drop(listener);

    // A Redis that was there and is gone.
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    assert_store_error("killed", serve_expecting_exit(&url, HANG));
}

#[test]
fn serve_with_unreachable_sentinels_or_cluster_nodes_or_a_malformed_url_exits_2_naming_store() {
    // No sentinel answers.
    let nobody = format!("redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster/0", free_port(), free_port());
    assert_store_error("no sentinel", serve_expecting_exit(&nobody, HANG));

    // Malformed: refused before anything is dialled, and the password is not echoed.
    let (code, stderr, elapsed) = serve_expecting_exit("redis+sentinel://:hunter2@127.0.0.1:26379", HANG);
    assert_store_error("no master name", (code, stderr.clone(), elapsed));
    assert!(!stderr.contains("hunter2"), "the password stays out of the line: {stderr}");

    // A Cluster of which no listed node answers, or a malformed Cluster URL: one line each.
    let nobody = format!("redis+cluster://127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    assert_store_error("no cluster node", serve_expecting_exit(&nobody, HANG));
    let (code, stderr, elapsed) = serve_expecting_exit("redis+cluster://:hunter2@127.0.0.1:7000/3", HANG);
    assert!(stderr.contains("only database 0"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password stays out of the line: {stderr}");
    assert_store_error("cluster path", (code, stderr, elapsed));
}
