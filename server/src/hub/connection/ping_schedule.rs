//! When a socket's pings fall: at a random point of the first interval, so
//! that sockets that connected together (a reconnect storm, a deploy) do not
//! ping together forever after, and on slots of a clock every socket shares,
//! so that the timer wakes the socket threads once for the sockets of a slot
//! rather than once per socket.
//!
//! Ten thousand sockets at a 25 s interval are 400 pings a second; at 1 ms
//! granularity nearly each is a wake-up of its own. On 100 ms slots they are
//! ten wakes a second, each writing about forty pings (docs/PERFORMANCE.md,
//! step 31). The cadence itself is the interval's: every ping after the first
//! stays on the slots, as every socket adds the same interval.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::time::Instant;

/// The widest slot: a ping is at most this much later than its random point.
const MAX_SLOT: Duration = Duration::from_millis(100);
/// Slots per interval, at least: short intervals (tests, aggressive
/// deployments) keep their pings spread.
const MIN_SLOTS_PER_INTERVAL: u32 = 250;

/// The slot for an interval and its grace: at most [`MAX_SLOT`], at most
/// 1/250 of the interval, and at most half the grace, so that a ping late by
/// a slot never finds a client silent past its grace.
pub(super) fn slot(interval: Duration, grace: Duration) -> Duration {
    MAX_SLOT.min(interval / MIN_SLOTS_PER_INTERVAL).min(grace / 2)
}

/// The first ping of a socket that connected at `now`.
pub(super) fn first_ping(now: Instant, interval: Duration, grace: Duration) -> Instant {
    let offset = interval.mul_f64(rand::random::<f64>().max(0.01));
    on_slot(now + offset, slot(interval, grace))
}

/// `at`, or the first slot boundary after it.
pub(super) fn on_slot(at: Instant, slot: Duration) -> Instant {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    let slot_nanos = slot.as_nanos();
    if slot_nanos == 0 {
        return at;
    }
    let since = at.saturating_duration_since(*EPOCH).as_nanos();
    let rounded = since.div_ceil(slot_nanos) * slot_nanos;
    // Under 2^64 ns (584 years) of uptime.
    *EPOCH + Duration::from_nanos(rounded as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_follows_the_interval_and_the_grace() {
        let secs = Duration::from_secs;
        assert_eq!(slot(secs(25), secs(10)), Duration::from_millis(100));
        assert_eq!(slot(Duration::from_millis(1500), secs(5)), Duration::from_millis(6));
        assert_eq!(slot(secs(25), Duration::from_millis(40)), Duration::from_millis(20));
        assert_eq!(slot(Duration::from_millis(1), Duration::from_millis(1)), Duration::from_micros(4));
    }

    #[test]
    fn pings_fall_on_shared_slots_never_early() {
        let slot = Duration::from_millis(100);
        let now = Instant::now();
        let mut boundaries = Vec::new();
        for offset_ms in [0, 1, 37, 99, 100, 101, 2_549] {
            let at = now + Duration::from_millis(offset_ms);
            let ping = on_slot(at, slot);
            assert!(ping >= at, "never before its point");
            assert!(ping - at < slot, "less than a slot late");
            boundaries.push(ping);
        }
        // Any two sockets' pings are a whole number of slots apart, and stay
        // so as each adds the same interval.
        let interval = Duration::from_secs(25);
        for pair in boundaries.windows(2) {
            let apart = (pair[1] + interval) - (pair[0] + interval);
            assert_eq!(apart.as_nanos() % slot.as_nanos(), 0, "{apart:?}");
        }
        assert_eq!(on_slot(now, Duration::ZERO), now, "no slot: as it is");
    }

    #[test]
    fn a_first_ping_is_within_the_interval_and_one_slot() {
        let (interval, grace) = (Duration::from_secs(25), Duration::from_secs(10));
        let now = Instant::now();
        for _ in 0..100 {
            let ping = first_ping(now, interval, grace);
            assert!(ping > now && ping <= now + interval + slot(interval, grace));
        }
    }
}
