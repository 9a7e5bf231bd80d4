//! A per-upstream circuit breaker: opens after N consecutive failures, lets one probe through
//! after a cool-down, closes again when the probe succeeds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_started: Instant },
}

/// The breaker of one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    /// Whether `state` is `Closed { failures: 0 }`, the state of a healthy upstream: then
    /// `admit` and `record_success` change nothing, so they answer from this flag without the
    /// lock (and without a shared write per call). Written only with the lock held.
    healthy: AtomicBool,
    threshold: u32,
    cooldown: Duration,
    /// A probe that never reports (its client went away) stops blocking others after this.
    probe_timeout: Duration,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Refused; retry after this long.
    Refused(Duration),
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration, probe_timeout: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            healthy: AtomicBool::new(true),
            threshold: threshold.max(1),
            cooldown,
            probe_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value; a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to make a call now.
    pub fn admit(&self) -> Admission {
        if self.healthy.load(Ordering::Acquire) {
            return Admission::Allowed;
        }
        let now = Instant::now();
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { probe_started: now };
                Admission::Allowed
            }
            State::Open { until } => Admission::Refused(until - now),
            State::HalfOpen { probe_started } if now - probe_started >= self.probe_timeout => {
                *state = State::HalfOpen { probe_started: now };
                Admission::Allowed
            }
            State::HalfOpen { .. } => Admission::Refused(Duration::from_secs(1)),
        }
    }

    /// Reports a successful call.
    pub fn record_success(&self) {
        if self.healthy.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.lock();
        *state = State::Closed { failures: 0 };
        self.healthy.store(true, Ordering::Release);
    }

    /// Reports a failed call (transport error, timeout, 502/503/504).
    pub fn record_failure(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        self.healthy.store(false, Ordering::Release);
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            State::Closed { .. } | State::HalfOpen { .. } => {
                tracing::warn!(cooldown = ?self.cooldown, "circuit opened");
                State::Open {
                    until: now + self.cooldown,
                }
            }
            open @ State::Open { .. } => open,
        };
    }

    /// `closed`, `open` or `half_open`, for readiness details and metrics.
    pub fn state_name(&self) -> &'static str {
        match *self.lock() {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_through_a_probe() {
        let b = CircuitBreaker::new(3, Duration::from_millis(50), Duration::from_secs(5));
        for _ in 0..2 {
            assert_eq!(b.admit(), Admission::Allowed);
            b.record_failure();
        }
        assert_eq!(b.state_name(), "closed");
        b.record_failure();
        assert_eq!(b.state_name(), "open");
        assert!(matches!(b.admit(), Admission::Refused(_)));

        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit(), Admission::Allowed, "probe after cool-down");
        assert!(
            matches!(b.admit(), Admission::Refused(_)),
            "one probe at a time"
        );
        b.record_success();
        assert_eq!(b.state_name(), "closed");
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[test]
    fn failed_probe_reopens_and_success_resets_count() {
        let b = CircuitBreaker::new(2, Duration::from_millis(20), Duration::from_secs(5));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state_name(), "closed", "count restarts after a success");
        b.record_failure();
        assert_eq!(b.state_name(), "open");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.admit(), Admission::Allowed);
        b.record_failure();
        assert_eq!(b.state_name(), "open");
    }

    #[test]
    fn healthy_fast_path_follows_the_state() {
        let b = CircuitBreaker::new(2, Duration::from_millis(20), Duration::from_secs(5));
        // Many successes on a healthy breaker leave it closed and admitting.
        for _ in 0..3 {
            assert_eq!(b.admit(), Admission::Allowed);
            b.record_success();
        }
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(
            b.state_name(),
            "closed",
            "a success in between resets the count"
        );
        b.record_failure();
        assert_eq!(b.state_name(), "open");
        assert!(
            matches!(b.admit(), Admission::Refused(_)),
            "not answered from the flag"
        );
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.admit(), Admission::Allowed, "probe");
        b.record_success();
        assert_eq!(b.state_name(), "closed");
        // Healthy again: the next failures count from zero.
        b.record_failure();
        assert_eq!(b.state_name(), "closed");
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[test]
    fn abandoned_probe_does_not_block_forever() {
        let b = CircuitBreaker::new(1, Duration::ZERO, Duration::from_millis(10));
        b.record_failure();
        assert_eq!(b.admit(), Admission::Allowed);
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(b.admit(), Admission::Allowed);
    }
}
