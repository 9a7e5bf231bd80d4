//! Token-bucket rate limiting per client IP (anonymous) or per user (authenticated), by class.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

use dzinza_kit::digits::Digits;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::RateLimit;

type Keyed =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, DefaultClock, StateInformationMiddleware>;

/// Whose bucket a request draws from: a fixed-size value, so a check allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An anonymous client, by IP address.
    Ip(IpAddr),
    /// A signed-in user, by a keyed 64-bit hash of the user id.
    User(u64),
}

/// The hash keys, random per process, so nobody can choose user ids that share a bucket; two
/// real ids share one only by a 64-bit hash collision.
static USER_HASH: LazyLock<RandomState> = LazyLock::new(RandomState::new);

impl RateKey {
    /// The key of the user `user_id`.
    pub fn user(user_id: &str) -> Self {
        Self::User(USER_HASH.hash_one(user_id))
    }
}

struct Class {
    limit: RateLimit,
    /// `RateLimit-Limit` of every answer of this class, so no request formats it.
    limit_value: HeaderValue,
    limiter: Keyed,
}

/// Every configured class's buckets.
pub struct RateLimits {
    classes: BTreeMap<String, Class>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("classes", &self.classes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers should say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Bucket size.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again (allowed) or until the next request may pass (refused).
    pub reset_secs: u64,
    /// `limit` as a header value, built with the class.
    limit_value: &'a HeaderValue,
}

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl Decision<'_> {
    /// Writes `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, self.limit_value.clone());
        headers.insert(RATELIMIT_REMAINING, number_value(u64::from(self.remaining)));
        headers.insert(RATELIMIT_RESET, number_value(self.reset_secs));
    }
}

/// Numbers below this have their text in [`SMALL_NUMBERS`].
const SMALL: usize = 1000;
/// Bytes of the text of 0..SMALL: ten of one digit, ninety of two, nine hundred of three.
const SMALL_NUMBERS_LEN: usize = 10 + 90 * 2 + 900 * 3;

/// The decimal text of 0, 1, ..., 999 back to back, made at compile time: a header value of a
/// small number borrows its text from here instead of allocating a buffer.
static SMALL_NUMBERS: [u8; SMALL_NUMBERS_LEN] = small_numbers();

const fn small_numbers() -> [u8; SMALL_NUMBERS_LEN] {
    let mut out = [0u8; SMALL_NUMBERS_LEN];
    let mut n = 0;
    let mut at = 0;
    while n < SMALL {
        let (start, len) = small_number_span(n);
        // `at` equals `start`: the spans tile the array in order.
        let mut i = 0;
        let mut rest = n;
        while i < len {
            out[start + len - 1 - i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            i += 1;
        }
        at += len;
        n += 1;
    }
    assert!(at == SMALL_NUMBERS_LEN);
    out
}

/// Where the text of `n` (< [`SMALL`]) starts in [`SMALL_NUMBERS`], and its length.
const fn small_number_span(n: usize) -> (usize, usize) {
    if n < 10 {
        (n, 1)
    } else if n < 100 {
        (10 + (n - 10) * 2, 2)
    } else {
        (190 + (n - 100) * 3, 3)
    }
}

/// `n` as a decimal header value; below 1000 without allocating (the usual `RateLimit-*`
/// values: bursts, what is left of them, seconds to wait).
pub fn number_value(n: u64) -> HeaderValue {
    if let Ok(small) = usize::try_from(n)
        && small < SMALL
    {
        let (start, len) = small_number_span(small);
        let text = bytes::Bytes::from_static(&SMALL_NUMBERS[start..start + len]);
        // Digits are always a valid value; the fallback only keeps this free of panics.
        return HeaderValue::from_maybe_shared(text).unwrap_or_else(|_| HeaderValue::from(n));
    }
    // `HeaderValue::from(n)` allocates a buffer and, freezing it with spare room, a second
    // block to share it; this text lives in one.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(Digits::new(n)))
        .unwrap_or_else(|_| HeaderValue::from(n))
}

impl RateLimits {
    /// Buckets for each class.
    pub fn new(classes: &BTreeMap<String, RateLimit>) -> Self {
        let classes = classes
            .iter()
            .map(|(name, limit)| {
                let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::per_minute(per_minute).allow_burst(burst);
                let limiter =
                    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
                (
                    name.clone(),
                    Class {
                        limit: *limit,
                        limit_value: number_value(u64::from(limit.burst)),
                        limiter,
                    },
                )
            })
            .collect();
        Self {
            classes,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token from `key`'s bucket in `class`; unknown classes are not limited.
    pub fn check(&self, class: &str, key: &RateKey) -> Option<Decision<'_>> {
        let class = self.classes.get(class)?;
        let burst = class.limit.burst;
        let refill = Duration::from_secs(60) / class.limit.per_minute.max(1);
        Some(match class.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = burst.saturating_sub(remaining);
                Decision {
                    allowed: true,
                    limit: burst,
                    remaining,
                    reset_secs: (refill * used).as_secs_f64().ceil() as u64,
                    limit_value: &class.limit_value,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Decision {
                    allowed: false,
                    limit: burst,
                    remaining: 0,
                    reset_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                    limit_value: &class.limit_value,
                }
            }
        })
    }

    /// Forgets buckets that are full again, so memory tracks active clients only.
    pub fn forget_idle(&self) {
        for class in self.classes.values() {
            class.limiter.retain_recent();
            class.limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits::new(&BTreeMap::from([(
            "c".to_owned(),
            RateLimit { per_minute, burst },
        )]))
    }

    #[test]
    fn empties_then_refuses_with_retry_time_per_key() {
        let l = limits(60, 3);
        let ip1 = RateKey::Ip([10, 0, 0, 1].into());
        let d: Vec<_> = (0..3).map(|_| l.check("c", &ip1).unwrap()).collect();
        assert!(d.iter().all(|d| d.allowed));
        assert_eq!(d[2].remaining, 0);
        let refused = l.check("c", &ip1).unwrap();
        assert!(!refused.allowed);
        assert!(refused.reset_secs >= 1);
        assert!(
            l.check("c", &RateKey::Ip([10, 0, 0, 2].into()))
                .unwrap()
                .allowed,
            "other keys have their own bucket"
        );
        assert!(l.check("nope", &ip1).is_none());
    }

    #[test]
    fn headers_are_written() {
        let mut h = HeaderMap::new();
        limits(60, 5)
            .check("c", &RateKey::user("k"))
            .unwrap()
            .write_headers(&mut h);
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], "4");
    }

    #[test]
    fn limit_header_is_the_burst_even_when_large() {
        let mut h = HeaderMap::new();
        limits(600_000_000, 10_000_000)
            .check("c", &RateKey::user("k"))
            .unwrap()
            .write_headers(&mut h);
        assert_eq!(h["ratelimit-limit"], "10000000");
        assert_eq!(h["ratelimit-remaining"], "9999999");
    }

    #[test]
    fn number_values_read_as_their_decimal_text() {
        let edges = [
            0,
            1,
            9,
            10,
            11,
            42,
            99,
            100,
            101,
            500,
            998,
            999,
            1000,
            1001,
            65_535,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        for n in edges.into_iter().chain(0..2000) {
            assert_eq!(number_value(n).to_str().unwrap(), n.to_string(), "{n}");
        }
    }

    #[test]
    fn users_are_keyed_by_id() {
        assert_eq!(RateKey::user("alice"), RateKey::user("alice"));
        assert_ne!(RateKey::user("alice"), RateKey::user("bob"));
    }
}
