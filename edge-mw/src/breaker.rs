//! A circuit breaker: after `threshold` consecutive failures airlock is considered down for
//! `open_for`; requests meanwhile fail fast instead of each waiting for the timeout. Then one
//! probe is let through: success closes the circuit, failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; everyone else still fails fast.
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

/// Whether a call may go to airlock now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (`probe`: this call decides whether the circuit closes again).
    Call { probe: bool },
    /// Airlock is considered down; retry after this long.
    Reject { retry_after: Duration },
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self { threshold: threshold.max(1), open_for, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state itself is always valid.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Admission::Call { probe: false },
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Admission::Call { probe: true }
            }
            State::Open { until } => Admission::Reject { retry_after: until - now },
            State::HalfOpen => Admission::Reject { retry_after: Duration::from_secs(1) },
        }
    }

    pub fn record_success(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    pub fn record_failure(&self, now: Instant) {
        let mut state = self.state();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed { failures: failures + 1 },
            _ => State::Open { until: now + self.open_for },
        };
    }

    /// Whether the circuit is open (airlock considered down) right now.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        !matches!(*self.state(), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_back() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(5));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(breaker.admit(t0), Admission::Call { probe: false });
            breaker.record_failure(t0);
        }
        assert!(!breaker.is_open());
        breaker.record_failure(t0);
        assert!(breaker.is_open());
        assert!(matches!(breaker.admit(t0 + Duration::from_secs(1)), Admission::Reject { .. }));
        let later = t0 + Duration::from_secs(6);
        assert_eq!(breaker.admit(later), Admission::Call { probe: true });
        // While the probe is out, others still fail fast.
        assert!(matches!(breaker.admit(later), Admission::Reject { .. }));
        breaker.record_failure(later);
        assert!(matches!(breaker.admit(later + Duration::from_secs(1)), Admission::Reject { .. }));
        let much_later = later + Duration::from_secs(6);
        assert_eq!(breaker.admit(much_later), Admission::Call { probe: true });
        breaker.record_success();
        assert_eq!(breaker.admit(much_later), Admission::Call { probe: false });
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(5));
        let now = Instant::now();
        breaker.record_failure(now);
        breaker.record_success();
        breaker.record_failure(now);
        assert!(!breaker.is_open());
    }
}
