//! Per-IP throttling of failed logins (a fixed window per address), on the injectable clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 50_000;

/// Counts failed logins per client address.
#[derive(Debug)]
pub struct IpThrottle {
    max_failures: u32,
    window: i64,
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl IpThrottle {
    /// Allows `max_failures` failed logins per address in each `window` seconds.
    pub fn new(max_failures: u32, window: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            max_failures,
            window,
            clock,
            windows: Mutex::default(),
        }
    }

    /// `Err(retry_after_secs)` when the address has used up its failures for this window.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), i64> {
        let Some(ip) = ip else { return Ok(()) };
        let now = self.clock.now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(&ip) {
            Some((start, n)) if now < start + self.window && *n >= self.max_failures => {
                Err(start + self.window - now)
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed login from `ip`.
    pub fn record_failure(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let now = self.clock.now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            let window = self.window;
            windows.retain(|_, (start, _)| now < *start + window);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let clock = ManualClock::new(1000);
        let t = IpThrottle::new(3, 60, Arc::new(clock.clone()));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(Some(ip)).is_ok());
            t.record_failure(Some(ip));
        }
        assert_eq!(t.check(Some(ip)), Err(60));
        assert!(t.check(Some(other)).is_ok());
        clock.advance(59);
        assert_eq!(t.check(Some(ip)), Err(1));
        clock.advance(1);
        assert!(t.check(Some(ip)).is_ok());
    }
}
