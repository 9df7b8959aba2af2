//! The browser suite's Rust side: runs a scenario of `tests/browser/` (Node, playwright-core,
//! Debian's Chromium) against real processes, and carries out the outages it asks for.
//!
//! The scenario prints `@control <command>` when it needs something done to the processes and
//! waits for `ok` on its stdin. Everything else it prints is kept and shown when it fails.

use crate::{AirlockProcess, repo_root, target_dir};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest a scenario may take before it is stopped and failed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a scenario saves every page's screenshot and its axe-core results
/// (`target/<profile>/browser-screenshots/<scenario>/`).
pub fn screenshot_dir(script: &str) -> PathBuf {
    target_dir().join("browser-screenshots").join(script.trim_end_matches(".mjs"))
}

/// The suite's folder, with its npm packages installed, or a loud failure saying how.
fn suite_dir() -> PathBuf {
    let dir = repo_root().join("tests/browser");
    for needed in ["node_modules/playwright-core", "node_modules/axe-core"] {
        assert!(
            dir.join(needed).exists(),
            "{} is missing: run the tests with ./scripts/test, which runs npm ci there",
            dir.join(needed).display()
        );
    }
    dir
}

/// Runs `tests/browser/<script>` with `env` (plus `BROWSER_SHOTS`), doing what it asks to
/// `airlock`, and returns what it printed. Panics with that output when the scenario fails.
pub async fn run_scenario(script: &str, env: &[(&str, String)], mut airlock: Option<&mut AirlockProcess>) -> String {
    let shots = screenshot_dir(script);
    // Screenshots of an earlier run (a failure's, say) are not mistaken for this run's.
    let _ = std::fs::remove_dir_all(&shots);
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .current_dir(suite_dir())
        .env("BROWSER_SHOTS", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("node is missing: ./scripts/test needs Node.js 20 or later");
    let mut stdin = child.stdin.take().expect("scenario stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("scenario stdout")).lines();
    let mut stderr = child.stderr.take().expect("scenario stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let mut printed = String::new();
    let converse = async {
        while let Ok(Some(line)) = stdout.next_line().await {
            let Some(command) = line.strip_prefix("@control ") else {
                printed.push_str(&line);
                printed.push('\n');
                continue;
            };
            let answer = match (command, airlock.as_deref_mut()) {
                ("stop-airlock", Some(airlock)) => {
                    airlock.stop();
                    "ok".to_owned()
                }
                ("start-airlock", Some(airlock)) => {
                    airlock.start_again().await;
                    "ok".to_owned()
                }
                (other, _) => format!("no such control command here: {other}"),
            };
            printed.push_str(&format!("[harness] {command}: {answer}\n"));
            let _ = stdin.write_all(format!("{answer}\n").as_bytes()).await;
        }
    };
    let finished = tokio::time::timeout(SCENARIO_TIMEOUT, converse).await.is_ok();
    let status = if finished {
        tokio::time::timeout(Duration::from_secs(30), child.wait()).await.ok().and_then(Result::ok)
    } else {
        let _ = child.kill().await;
        None
    };
    let errors = errors.await.unwrap_or_default();
    let passed = status.is_some_and(|s| s.success()) && printed.contains("@done ");
    assert!(
        passed,
        "browser scenario {script} failed ({}):\n{printed}\n--- stderr ---\n{errors}\nscreenshots: {}",
        if finished { format!("exit {status:?}") } else { format!("timed out after {SCENARIO_TIMEOUT:?}") },
        shots.display()
    );
    printed
}
