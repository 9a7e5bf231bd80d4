//! Retry delays: exponential backoff with full jitter.

use std::time::Duration;

/// Exponential backoff: attempt n waits a random time up to `base * 2^(n-1)`, capped at `max`,
/// but at least half of that bound so retries never hammer immediately.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay bound after the first failure.
    pub base: Duration,
    /// Largest delay bound.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// The upper bound of the delay after `attempt` (1-based) failed.
    pub fn bound(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// A jittered delay after `attempt` failed, in `[bound/2, bound]`.
    pub fn delay(&self, attempt: i32) -> Duration {
        let bound = self.bound(attempt);
        let half = bound / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_caps() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.bound(1), Duration::from_secs(1));
        assert_eq!(b.bound(2), Duration::from_secs(2));
        assert_eq!(b.bound(4), Duration::from_secs(8));
        assert_eq!(b.bound(40), Duration::from_secs(60));
        for attempt in 1..10 {
            let d = b.delay(attempt);
            assert!(d >= b.bound(attempt) / 2 && d <= b.bound(attempt), "{d:?}");
        }
    }
}
