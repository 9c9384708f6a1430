//! The connection's decisions as pure functions, tested on the host: how long
//! to wait before the next attempt, when to fall back to long-polling, what a
//! close code means, when a connection counts as stable, and which events are
//! new. `client` applies them to its state.

use protocol::CloseCode;
use protocol::close::code_allows_reconnect;

/// First retry delay ceiling; doubles per failure up to [`BACKOFF_CAP_MS`].
pub const BACKOFF_BASE_MS: f64 = 500.0;
/// Longest wait between attempts: long enough to spare a struggling server.
pub const BACKOFF_CAP_MS: f64 = 20_000.0;
/// Shortest wait, so a storm of failures never spins.
pub const BACKOFF_FLOOR_MS: f64 = 50.0;
/// A connection that stayed up this long resets the backoff.
pub const STABLE_AFTER_MS: f64 = 60_000.0;
/// Consecutive failures after which events come by long-polling meanwhile.
pub const FAILURES_BEFORE_POLLING: u32 = 3;

/// The delay before attempt number `failures` (1 = the first retry): full
/// jitter, a `random` point in [0, 1) of a ceiling that doubles per failure.
pub fn retry_delay_ms(failures: u32, random: f64) -> u64 {
    let exponent = failures.saturating_sub(1).min(30) as i32;
    let ceiling = (BACKOFF_BASE_MS * 2f64.powi(exponent)).min(BACKOFF_CAP_MS);
    (random.clamp(0.0, 1.0) * ceiling).max(BACKOFF_FLOOR_MS) as u64
}

/// Whether to start long-polling now: enough failures in a row, not already
/// polling, and a network to poll over.
pub fn should_start_polling(failures: u32, polling: bool, offline: bool) -> bool {
    failures >= FAILURES_BEFORE_POLLING && !polling && !offline
}

/// Whether a connection that authenticated at `authenticated_at` and closed
/// at `now` was up long enough to forget earlier failures.
pub fn was_stable(authenticated_at: Option<f64>, now: f64) -> bool {
    authenticated_at.is_some_and(|at| now - at > STABLE_AFTER_MS)
}

/// What to do after the socket closed with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterClose {
    /// Retry with backoff; `fresh_token` when the old token must not be reused.
    Retry { fresh_token: bool },
    /// A terminal close: stop and say why.
    Stop { reason: String },
}

/// A bad-token close is retried once with a fresh token (the server may have
/// restarted with a new secret); an expired token is replaced; other
/// reconnect-allowed codes retry; terminal codes stop.
pub fn after_close(code: u16, retried_bad_token: bool) -> AfterClose {
    if code == CloseCode::BadToken.code() && !retried_bad_token {
        return AfterClose::Retry { fresh_token: true };
    }
    if !code_allows_reconnect(code) {
        let reason = CloseCode::from_code(code).map_or("closed by server", CloseCode::reason);
        return AfterClose::Stop { reason: reason.to_owned() };
    }
    AfterClose::Retry { fresh_token: code == CloseCode::TokenExpired.code() }
}

/// Whether an event with `seq` is new to a subscription that applied up to
/// `last_seq` (replay and live delivery can overlap).
pub fn is_new(last_seq: u64, seq: u64) -> bool {
    seq > last_seq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_full_jitter_and_a_floor() {
        assert_eq!(retry_delay_ms(1, 0.999_999), 499);
        assert_eq!(retry_delay_ms(2, 0.999_999), 999);
        assert_eq!(retry_delay_ms(7, 0.999_999), 19_999, "capped at 20 s");
        assert_eq!(retry_delay_ms(1_000, 0.5), 10_000, "no overflow for huge counts");
        assert_eq!(retry_delay_ms(3, 0.0), 50, "never zero");
    }

    #[test]
    fn polling_starts_after_three_failures_once_and_not_offline() {
        assert!(!should_start_polling(2, false, false));
        assert!(should_start_polling(3, false, false));
        assert!(!should_start_polling(5, true, false), "already polling");
        assert!(!should_start_polling(5, false, true), "nothing to poll over");
    }

    #[test]
    fn a_minute_up_forgets_the_failures() {
        assert!(!was_stable(None, 1e9));
        assert!(!was_stable(Some(0.0), 30_000.0));
        assert!(was_stable(Some(0.0), 61_000.0));
    }

    #[test]
    fn close_codes_decide_retry_or_stop() {
        let bad = CloseCode::BadToken.code();
        assert_eq!(after_close(bad, false), AfterClose::Retry { fresh_token: true });
        assert!(matches!(after_close(bad, true), AfterClose::Stop { .. }), "only one fresh try");
        let expired = CloseCode::TokenExpired.code();
        assert_eq!(after_close(expired, false), AfterClose::Retry { fresh_token: true });
        assert_eq!(
            after_close(CloseCode::SlowConsumer.code(), false),
            AfterClose::Retry { fresh_token: false }
        );
        assert_eq!(after_close(1006, false), AfterClose::Retry { fresh_token: false }, "abnormal closure");
        assert!(matches!(after_close(CloseCode::Forbidden.code(), false), AfterClose::Stop { .. }));
    }

    #[test]
    fn only_newer_seqs_apply() {
        assert!(is_new(0, 1));
        assert!(!is_new(5, 5));
        assert!(!is_new(5, 3));
    }
}
