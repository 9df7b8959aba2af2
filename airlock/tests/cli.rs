//! The binary's outside: help texts, and configuration errors as one line with exit code 2.
//! (Being an integration test of this package also makes `cargo test` build the binary the
//! system tests in `tests/` drive.)

use std::process::Command;

fn airlock(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run airlock")
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["org", "--help"],
        &["member", "--help"],
        &["session", "--help"],
    ] {
        let out = airlock(args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

fn config_error(env: &[(&str, &str)], key: &str) {
    let out = airlock(&["serve"], env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(stderr.contains(&format!("{key}:")), "{env:?} should name {key}: {stderr}");
}

const PROD: [(&str, &str); 3] = [
    ("AIRLOCK_PUBLIC_URL", "https://airlock.example.com"),
    ("AIRLOCK_COOKIE_DOMAIN", "example.com"),
    ("AIRLOCK_SECRET", "0123456789abcdef0123456789abcdef"),
];

fn prod_with(key: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = PROD.iter().copied().filter(|(k, _)| *k != key).collect();
    env.push((key, value));
    env
}

#[test]
fn bad_configuration_is_one_line_and_exit_code_2() {
    for suffix in ["com", "co.uk", "fly.dev"] {
        config_error(&prod_with("AIRLOCK_COOKIE_DOMAIN", suffix), "cookie_domain");
    }
    config_error(&prod_with("AIRLOCK_PUBLIC_URL", "https://airlock.example.org"), "cookie_domain");
    config_error(&prod_with("AIRLOCK_COOKIE_SECURE", "false"), "cookie_secure");
    config_error(&prod_with("AIRLOCK_SECRET", ""), "secret");
    config_error(&prod_with("AIRLOCK_SESSION_TTL", "forever"), "session_ttl");
    // Nothing listens on port 1: the store is unreachable.
    config_error(&prod_with("AIRLOCK_STORE", "redis://127.0.0.1:1/"), "store");
}
