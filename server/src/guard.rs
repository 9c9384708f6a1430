//! Abuse limits that hold however many cookies a client mints: by client
//! address and for the whole server. Per-principal limits live where the
//! principal is known (the hub counts connections per principal).
//!
//! - [`client_ip`]: who the client is, behind trusted proxies.
//! - [`concurrency`]: at most N at once per key (sockets, long-polls), as permits.
//! - [`window`]: at most N per minute per key (connect sessions, tokens).

pub mod client_ip;
pub mod concurrency;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

pub use client_ip::{ClientIp, IpKey};
pub use concurrency::{ConcurrencyLimit, Permit};
pub use window::RateWindow;

use crate::auth::Principal;
use crate::config::AbuseLimits;
use crate::error::AppError;

/// How long a client told "too many" should wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Every limit of [`AbuseLimits`], shared by the handlers.
#[derive(Clone)]
pub struct Guards {
    inner: Arc<Inner>,
}

struct Inner {
    sockets_per_ip: ConcurrencyLimit<IpKey>,
    sockets: ConcurrencyLimit<()>,
    long_polls_per_ip: ConcurrencyLimit<IpKey>,
    long_polls_per_principal: ConcurrencyLimit<Principal>,
    long_polls: ConcurrencyLimit<()>,
    connect_sessions: RateWindow<IpKey>,
    tokens: RateWindow<IpKey>,
    demo_notifications: RateWindow<Principal>,
}

/// Held for as long as a socket or long-poll lives; frees its places on drop.
/// One block of just its permits (32 bytes for a socket's two), whichever
/// kind of place it holds.
pub struct Held {
    _permits: Box<dyn Send + Sync>,
}

impl Guards {
    pub fn new(limits: &AbuseLimits) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            inner: Arc::new(Inner {
                sockets_per_ip: ConcurrencyLimit::new(limits.sockets_per_ip),
                sockets: ConcurrencyLimit::new(limits.max_sockets),
                long_polls_per_ip: ConcurrencyLimit::new(limits.long_polls_per_ip),
                long_polls_per_principal: ConcurrencyLimit::new(limits.long_polls_per_principal),
                long_polls: ConcurrencyLimit::new(limits.max_long_polls),
                connect_sessions: RateWindow::new(limits.connect_sessions_per_ip_per_min, minute),
                tokens: RateWindow::new(limits.token_requests_per_ip_per_min, minute),
                demo_notifications: RateWindow::new(DEMO_NOTIFICATIONS_PER_MIN, minute),
            }),
        }
    }

    /// A place for one more socket from `ip`.
    pub fn socket(&self, ip: ClientIp) -> Result<Held, AppError> {
        let server = self.inner.sockets.acquire(()).ok_or_else(busy)?;
        let per_ip = self.inner.sockets_per_ip.acquire(ip.key()).ok_or_else(too_many)?;
        Ok(Held { _permits: Box::new((server, per_ip)) })
    }

    /// A place for one more waiting long-poll of `principal` from `ip`.
    pub fn long_poll(&self, ip: ClientIp, principal: &Principal) -> Result<Held, AppError> {
        let server = self.inner.long_polls.acquire(()).ok_or_else(busy)?;
        let per_ip = self.inner.long_polls_per_ip.acquire(ip.key()).ok_or_else(too_many)?;
        let per_principal =
            self.inner.long_polls_per_principal.acquire(principal.clone()).ok_or_else(too_many)?;
        Ok(Held { _permits: Box::new((server, per_ip, per_principal)) })
    }

    /// Counts one connect session created from `ip`.
    pub fn connect_session(&self, ip: ClientIp) -> Result<(), AppError> {
        self.inner.connect_sessions.allow(ip.key()).then_some(()).ok_or_else(too_many)
    }

    /// Counts one connect token issued to `ip`.
    pub fn token(&self, ip: ClientIp) -> Result<(), AppError> {
        self.inner.tokens.allow(ip.key()).then_some(()).ok_or_else(too_many)
    }
}

/// The home page's demo sends a visitor notifications on a click; a person
/// clicks a few times, a script would fill its own inbox.
const DEMO_NOTIFICATIONS_PER_MIN: u32 = 30;

impl Guards {
    /// Counts one demo notification a visitor sent itself.
    pub fn demo_notification(&self, principal: &Principal) -> Result<(), AppError> {
        self.inner.demo_notifications.allow(principal.clone()).then_some(()).ok_or_else(too_many)
    }
}

fn too_many() -> AppError {
    AppError::RateLimited { retry_after: RETRY_AFTER }
}

fn busy() -> AppError {
    AppError::Busy { retry_after: RETRY_AFTER }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_holds_its_places_in_one_small_block() {
        // Every idle socket keeps this block for its whole life (step 28): the
        // two permits in one of jemalloc's 32-byte classes, no closure beside.
        let size = std::mem::size_of::<(Permit<()>, Permit<IpKey>)>();
        assert!(size <= 32, "a socket's permits are {size} bytes, more than 32");
    }

    #[test]
    fn dropping_a_held_socket_frees_both_of_its_places() {
        let limits = AbuseLimits {
            sockets_per_ip: 1,
            long_polls_per_ip: 1,
            long_polls_per_principal: 1,
            connect_sessions_per_ip_per_min: 1,
            token_requests_per_ip_per_min: 1,
            max_sockets: 2,
            max_long_polls: 1,
        };
        let guards = Guards::new(&limits);
        let (first, second) = (ClientIp([10, 0, 0, 1].into()), ClientIp([10, 0, 0, 2].into()));
        let held = guards.socket(first).expect("a place for the first socket");
        assert!(guards.socket(first).is_err(), "its address holds its one place");
        let other = guards.socket(second).expect("another address has its own");
        assert!(guards.socket(ClientIp([10, 0, 0, 3].into())).is_err(), "the server's two are taken");
        drop(held);
        drop(other);
        assert_eq!((guards.inner.sockets.keys(), guards.inner.sockets_per_ip.keys()), (0, 0));
        assert!(guards.socket(first).is_ok(), "its places came back");
    }
}
