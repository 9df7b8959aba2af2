//! `docker-compose.yml` and the `Dockerfile` at the repository root. No Docker engine runs
//! here, so the compose file is parsed with a YAML parser and checked against what the README
//! describes, the Dockerfile is checked to build and install every binary the compose file runs,
//! and then the compose file's own commands and environment run for real: two airlock instances
//! on one Redis and LORE, with only the addresses moved onto loopback.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, LoreProcess, RedisServer};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compose file, merge keys (`<<: *anchor`) applied, as JSON for easy indexing.
fn compose() -> Value {
    let mut yaml: serde_norway::Value = serde_norway::from_str(&repo_file("docker-compose.yml")).expect("valid YAML");
    yaml.apply_merge().expect("YAML merge keys");
    serde_json::to_value(&yaml).expect("compose as JSON")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_object(), "service `{name}` is missing from docker-compose.yml");
    service
}

/// A service's `command` (list form, or a string split on whitespace).
fn command(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::Array(items) => items.iter().map(|v| v.as_str().expect("command item").to_owned()).collect(),
        Value::String(line) => line.split_whitespace().map(str::to_owned).collect(),
        other => panic!("no command: {other}"),
    }
}

/// A service's `environment` (mapping form, or a list of `KEY=value`).
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("unexpected environment: {other}"),
    }
}

fn ports(service: &Value) -> Vec<String> {
    service["ports"]
        .as_array()
        .map(|ports| ports.iter().map(|p| p.as_str().map(str::to_owned).unwrap_or_else(|| p.to_string())).collect())
        .unwrap_or_default()
}

fn depends_on(service: &Value) -> Vec<String> {
    match &service["depends_on"] {
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

const AIRLOCK_COMMAND: [&str; 5] = ["airlock", "serve", "--listen", "0.0.0.0:7070", "--dev"];

#[test]
fn compose_declares_redis_two_airlocks_on_it_and_lore() {
    let compose = compose();
    let names: Vec<&str> = compose["services"].as_object().expect("services").keys().map(String::as_str).collect();
    for name in ["redis", "airlock-1", "airlock-2", "lore"] {
        assert!(names.contains(&name), "service `{name}` missing: {names:?}");
    }

    let redis = service(&compose, "redis");
    assert!(redis["image"].as_str().is_some_and(|i| i == "redis:7" || i.starts_with("redis:7.")), "{redis}");
    let redis_command = command(redis);
    assert!(redis_command.windows(2).any(|w| w == ["--appendonly", "yes"]), "{redis_command:?}");

    for (name, host_port) in [("airlock-1", 7070), ("airlock-2", 7072)] {
        let airlock = service(&compose, name);
        assert_eq!(command(airlock), AIRLOCK_COMMAND, "{name}");
        let env = environment(airlock);
        assert_eq!(env.get("AIRLOCK_STORE").map(String::as_str), Some("redis://redis:6379/0"), "{name}");
        let public = format!("http://localhost:{host_port}");
        assert_eq!(env.get("AIRLOCK_PUBLIC_URL"), Some(&public), "{name}");
        assert_eq!(ports(airlock), [format!("{host_port}:7070")], "{name}");
        assert!(depends_on(airlock).contains(&"redis".to_owned()), "{name} starts after redis");
    }

    let lore = service(&compose, "lore");
    assert_eq!(command(lore), ["lore"]);
    let env = environment(lore);
    assert_eq!(env.get("LORE_LISTEN").map(String::as_str), Some("0.0.0.0:7071"));
    assert_eq!(env.get("LORE_AIRLOCK_URL").map(String::as_str), Some("http://airlock-1:7070"));
    assert_eq!(env.get("LORE_LOGIN_URL").map(String::as_str), Some("http://localhost:7070/login"));
    assert_eq!(env.get("LORE_PUBLIC_URL").map(String::as_str), Some("http://localhost:7071"));
    assert_eq!(ports(lore), ["7071:7071"]);
    assert!(depends_on(lore).contains(&"airlock-1".to_owned()));

    // airlock and LORE run the one image the Dockerfile builds.
    for name in ["airlock-1", "airlock-2", "lore"] {
        let s = service(&compose, name);
        assert_eq!(s["build"], ".", "{name} builds the root Dockerfile");
        assert_eq!(s["image"], service(&compose, "lore")["image"], "{name} shares the image");
    }
}

#[test]
fn the_dockerfile_builds_and_installs_every_binary_compose_runs() {
    let dockerfile = repo_file("Dockerfile");
    // Continuation lines joined, comments dropped: one instruction per line.
    let instructions: Vec<String> = dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let from: Vec<&String> = instructions.iter().filter(|i| i.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "a two-stage build: {from:?}");
    assert!(from[0].starts_with("FROM rust:1-bookworm AS "), "{}", from[0]);
    assert_eq!(from[1], "FROM debian:bookworm-slim");

    let build = instructions
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("cargo build"))
        .expect("a RUN cargo build in the Dockerfile");
    for needed in ["--release", "-p airlock", "-p edge-mw", "--bin airlock", "--example lore"] {
        assert!(build.contains(needed), "`{needed}` missing from `{build}`");
    }
    for artifact in ["target/release/airlock", "target/release/examples/lore"] {
        assert!(build.contains(artifact), "`{artifact}` is not taken out of the build: `{build}`");
    }
    let install = instructions
        .iter()
        .find(|i| i.starts_with("COPY --from=") && i.ends_with("/usr/local/bin/"))
        .expect("the binaries are copied onto the PATH of the final stage");
    let installed: Vec<&str> = install.split_whitespace().filter_map(|w| w.rsplit('/').next()).collect();

    let compose = compose();
    for name in ["airlock-1", "airlock-2", "lore"] {
        let program = command(service(&compose, name)).remove(0);
        assert!(installed.contains(&program.as_str()), "{name} runs `{program}`, not installed by `{install}`");
    }
    let ignore = repo_file(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"), "target/ stays out of the build context");
}

/// The compose settings, run: airlock-1 and airlock-2 with their compose environment on one
/// Redis (the service's `--appendonly yes`), and LORE asking airlock-1. A sign-in at airlock-2
/// is seen by LORE, as with the containers. Only addresses move: `0.0.0.0:707x` becomes a free
/// loopback port, `redis:6379` the test's Redis, `airlock-1:7070` that airlock's address.
#[tokio::test]
async fn the_compose_settings_run_two_airlocks_on_one_redis_behind_lore() {
    let compose = compose();
    let redis = RedisServer::start_persistent();
    let mut instances = Vec::new();
    for name in ["airlock-1", "airlock-2"] {
        let s = service(&compose, name);
        let args = command(s);
        assert_eq!(args[..4], AIRLOCK_COMMAND[..4], "{name}: the test supplies --listen itself");
        let mut options =
            AirlockOptions { dev: args.iter().any(|a| a == "--dev"), ..AirlockOptions::redis(&redis.url()) };
        for (key, value) in environment(s) {
            if key != "AIRLOCK_STORE" {
                options = options.env(&key, &value);
            }
        }
        instances.push(AirlockProcess::start(options));
    }
    // Both start at once on an empty Redis, as `docker compose up` does.
    let mut started = futures::future::join_all(instances).await;
    let (second, first) = (started.pop().expect("airlock-2"), started.pop().expect("airlock-1"));

    let lore_env = environment(service(&compose, "lore"));
    let lore_env: Vec<(&str, &str)> = lore_env
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "LORE_LISTEN" | "LORE_AIRLOCK_URL"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let lore = LoreProcess::start(&first.url, &lore_env).await;

    // Signed in at airlock-2, recognised by LORE (which asks airlock-1).
    let resp = second.sign_in(&reqwest::Client::new(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("airlock_session="), "--dev cookie on plain http: {cookie}");
    let seen: Value = reqwest::Client::new()
        .get(lore.at("/api/whoami"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["x-lore-user-email"], ADMIN_EMAIL, "{seen}");
    assert_eq!(seen["x-lore-user-role"], "admin");
    // LORE sends browsers to airlock-1's public login page, as the compose file says.
    let page = airlock_system_tests::browser()
        .get(lore.at("/"))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 302);
    assert_eq!(
        page.headers()[reqwest::header::LOCATION],
        "http://localhost:7070/login?redirect=http%3A%2F%2Flocalhost%3A7071%2F"
    );
    // and airlock's login page keeps that way back to LORE (--dev trusts loopback origins).
    let login = reqwest::get(first.at("/login?redirect=http%3A%2F%2Flocalhost%3A7071%2F")).await.unwrap();
    assert_eq!(login.status(), 200);
    let form = login.text().await.unwrap();
    assert!(form.contains(r#"name="redirect" value="http://localhost:7071/""#), "{form}");
}
