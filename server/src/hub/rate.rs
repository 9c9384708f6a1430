//! Per-connection inbound rate limit: a token bucket refilled at `rate` per
//! second holding up to twice that, so short bursts (a page subscribing to a
//! few channels at once) pass and sustained floods do not.
//!
//! Every socket holds one (and the chat's limits one per sender and
//! conversation), so it is 24 bytes: the capacity follows from the rate, and
//! a token count needs no more than an `f32`'s precision.

use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    rate: u32,
    tokens: f32,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32) -> Self {
        Self::new_at(rate_per_sec, Instant::now())
    }

    /// A full bucket as of `now`.
    pub fn new_at(rate_per_sec: u32, now: Instant) -> Self {
        let rate = rate_per_sec.max(1);
        let mut limiter = Self { rate, tokens: 0.0, last: now };
        limiter.tokens = limiter.capacity();
        limiter
    }

    fn capacity(&self) -> f32 {
        self.rate as f32 * 2.0
    }

    /// Tokens refilled since `last`, up to the capacity.
    fn refilled(&self, now: Instant) -> f32 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        (self.tokens + elapsed * self.rate as f32).min(self.capacity())
    }

    /// Whether the bucket would be full at `now` (it then remembers nothing).
    pub fn is_full(&self, now: Instant) -> bool {
        self.refilled(now) >= self.capacity()
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.tokens = self.refilled(now);
        self.last = now;
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

    #[test]
    fn refills_to_its_capacity_and_no_more() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new_at(10, start);
        assert!((0..20).all(|_| limiter.allow(start)));
        assert!(!limiter.is_full(start + Duration::from_millis(1_900)));
        assert!(limiter.is_full(start + Duration::from_secs(2)));
        let later = start + Duration::from_secs(3_600);
        assert_eq!((0..100).take_while(|_| limiter.allow(later)).count(), 20);
    }

    #[test]
    fn is_small() {
        // One per socket for its whole life (docs/PERFORMANCE.md, step 26).
        assert!(std::mem::size_of::<RateLimiter>() <= 24);
    }
}
