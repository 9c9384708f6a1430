//! Per-connection inbound rate limit: a token bucket refilled at `rate` per
//! second holding up to twice that, so short bursts (a page subscribing to a
//! few channels at once) pass and sustained floods do not.

use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32) -> Self {
        Self::new_at(rate_per_sec, Instant::now())
    }

    /// A full bucket as of `now`.
    pub fn new_at(rate_per_sec: u32, now: Instant) -> Self {
        let rate = f64::from(rate_per_sec.max(1));
        Self { rate, capacity: rate * 2.0, tokens: rate * 2.0, last: now }
    }

    /// Whether the bucket would be full at `now` (it then remembers nothing).
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.capacity
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10);
        let burst = (0..100).take_while(|_| limiter.allow(start)).count();
        assert_eq!(burst, 20);
        assert!(!limiter.allow(start));
        assert!(limiter.allow(start + Duration::from_millis(150)));
    }
}
