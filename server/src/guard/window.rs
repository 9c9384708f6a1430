//! "At most N per window per key": a fixed window per key. The map is bounded:
//! entries whose window has passed are swept when it fills, and if every entry
//! is still live the newcomer is refused (failing closed under a flood of
//! distinct addresses, with a warning, instead of growing without bound).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at once: 100,000 entries of a few dozen bytes each.
const MAX_KEYS: usize = 100_000;

pub struct RateWindow<K> {
    max: u32,
    window: Duration,
    counts: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Eq + Hash> RateWindow<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one event for `key`; false when the key is over its limit.
    pub fn allow(&self, key: K) -> bool {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: K, now: Instant) -> bool {
        let mut counts = self.counts.lock().expect("rate window poisoned");
        if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
            counts.retain(|_, (start, _)| now.saturating_duration_since(*start) < self.window);
            if counts.len() >= MAX_KEYS {
                tracing::warn!(keys = MAX_KEYS, "rate window full of live keys; refusing a new one");
                return false;
            }
        }
        let (start, count) = counts.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count >= self.max {
            return false;
        }
        *count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_resets_with_the_window() {
        let rate = RateWindow::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(rate.allow_at("a", t0));
        assert!(rate.allow_at("a", t0));
        assert!(!rate.allow_at("a", t0 + Duration::from_secs(59)));
        assert!(rate.allow_at("b", t0));
        assert!(rate.allow_at("a", t0 + Duration::from_secs(60)));
    }
}
