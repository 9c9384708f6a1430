//! Messages per second per person per conversation, whichever socket, tab or
//! HTTP request they come from: a token bucket per (principal, conversation).
//!
//! Bounded: at most [`MAX_TRACKED`] buckets. A bucket that has refilled
//! completely carries no information, so those are dropped first when the map
//! is full; if every bucket is still draining, the new sender is refused until
//! one refills (a flood of senders cannot grow the map).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::hub::rate::RateLimiter;

/// Most (principal, conversation) pairs tracked at once.
pub const MAX_TRACKED: usize = 100_000;

pub struct SendLimits {
    per_sec: u32,
    buckets: Mutex<HashMap<(String, String), RateLimiter>>,
}

impl SendLimits {
    pub fn new(per_sec: u32) -> Self {
        Self { per_sec, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one send from the pair's bucket; `Err` says how long to wait.
    pub fn allow(&self, principal: &str, conversation: &str, now: Instant) -> Result<(), Duration> {
        let retry = Duration::from_secs_f64(1.0 / f64::from(self.per_sec.max(1)));
        let mut buckets = self.buckets.lock().expect("send limits lock poisoned");
        let key = (principal.to_owned(), conversation.to_owned());
        if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= MAX_TRACKED {
                return Err(retry);
            }
        }
        let bucket = buckets.entry(key).or_insert_with(|| RateLimiter::new_at(self.per_sec, now));
        if bucket.allow(now) { Ok(()) } else { Err(retry) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pair_has_its_own_bucket() {
        let limits = SendLimits::new(5);
        let now = Instant::now();
        let burst = (0..100).take_while(|_| limits.allow("p", "c1", now).is_ok()).count();
        assert_eq!(burst, 10, "twice the rate as a burst");
        assert!(limits.allow("p", "c1", now).is_err());
        assert!(limits.allow("p", "c2", now).is_ok(), "another conversation");
        assert!(limits.allow("q", "c1", now).is_ok(), "another person");
        assert!(limits.allow("p", "c1", now + Duration::from_millis(250)).is_ok());
    }
}
