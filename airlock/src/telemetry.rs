//! Prometheus metrics (`GET /metrics`), through the `metrics` facade: requests by route and
//! status with latency histograms, session checks by outcome, sign-in failures, store errors
//! and store latency. Routes are recorded as their templates (`/api/tokens/{token}`), never as
//! the raw path: no id or secret becomes a label.

use http::StatusCode;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

/// Latency buckets, in seconds: sub-millisecond checks up to the store timeout.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Installs the process-wide recorder; `None` if one is installed already (tests).
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?.install_recorder().ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    describe();
    Some(handle)
}

fn describe() {
    metrics::describe_counter!("airlock_http_requests_total", "HTTP requests by route template, method and status");
    metrics::describe_histogram!("airlock_http_request_duration_seconds", "HTTP request latency by route template");
    metrics::describe_counter!("airlock_session_checks_total", "session checks by outcome");
    metrics::describe_counter!("airlock_sign_in_failures_total", "failed sign-ins by reason");
    metrics::describe_counter!("airlock_store_errors_total", "store calls that failed (answered 503)");
    metrics::describe_histogram!("airlock_store_call_duration_seconds", "store call latency (Redis)");
}

/// Counts a session check's outcome.
pub fn session_check(outcome: &'static str) {
    // One handle per outcome, looked up once per worker thread (see `http_request`).
    thread_local! {
        static CHECKS: RefCell<FastMap<&'static str, Counter>> = RefCell::default();
    }
    CHECKS.with_borrow_mut(|checks| {
        checks
            .entry(outcome)
            .or_insert_with(|| metrics::counter!("airlock_session_checks_total", "outcome" => outcome))
            .increment(1)
    });
}

/// Counts a failed sign-in.
pub fn sign_in_failure(reason: &'static str) {
    metrics::counter!("airlock_sign_in_failures_total", "reason" => reason).increment(1);
}

/// Counts a store failure.
pub fn store_error() {
    metrics::counter!("airlock_store_errors_total").increment(1);
}

/// Records one store call's latency.
pub fn store_call(elapsed: Duration) {
    // Looked up once: this runs on every session check.
    static CALLS: LazyLock<Histogram> = LazyLock::new(|| metrics::histogram!("airlock_store_call_duration_seconds"));
    CALLS.record(elapsed.as_secs_f64());
}

/// Records one HTTP request.
///
/// The counter and histogram handles of each (route, method, status) are looked up in the
/// recorder once per worker thread and kept there: building a metric key (labels, hashing, the
/// registry's lock) on every request cost as much as a session check's store lookup, and a
/// process-wide cache behind a lock made both workers write the lock's cache line on every
/// request. The set is small and bounded: route templates, a fixed set of methods, and the
/// statuses airlock answers.
pub fn http_request(route: &str, method: &'static str, status: StatusCode, elapsed: Duration) {
    thread_local! {
        static HTTP_HANDLES: RefCell<HttpHandles> = RefCell::default();
    }
    HTTP_HANDLES.with_borrow_mut(|all| {
        let variant = (method, status.as_u16());
        let variants = match all.get_mut(route) {
            Some(variants) => variants,
            None => all.entry(route.to_owned()).or_default(),
        };
        let (counter, histogram) = variants.entry(variant).or_insert_with(|| {
            let labels =
                [("route", route.to_owned()), ("method", method.to_owned()), ("status", status.as_str().to_owned())];
            (
                metrics::counter!("airlock_http_requests_total", &labels),
                metrics::histogram!("airlock_http_request_duration_seconds", "route" => route.to_owned()),
            )
        });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

/// Route template → (method, status) → handles.
type HttpHandles = FastMap<String, FastMap<(&'static str, u16), (Counter, Histogram)>>;
/// Keys are route templates, methods and statuses: airlock's own, never a client's.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
