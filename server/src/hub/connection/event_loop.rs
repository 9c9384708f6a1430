//! What wakes a connection (its client, its queue, its timer, shutdown), the
//! heartbeat and the token's expiry, and when an idle connection parks.
//!
//! A connection that has had nothing to do since the last idleness check
//! (every `BEACON_SOCKET_PARK_AFTER_MS`), or a parked one that handled the
//! wake that resumed it and finds nothing more, parks: its waits are
//! registered with a waker of its parked state instead of its task's, and
//! the task ends ([`super::park`]). Only an authenticated connection parks: the hub knows it,
//! so shutdown can wake it with a kick (a task-less connection cannot wait on
//! the shutdown token).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use protocol::{CloseCode, ServerMessage};

use super::park::Parking;
use super::ping_schedule;
use super::{Connection, End};
use crate::hub::{Next, Outbound};
use crate::websocket::Received;

/// What woke a connection's loop. The loop handles it after the `select!`, whose
/// futures are gone by then, so they and the handler share one slot of the
/// task's memory instead of being laid out side by side.
pub(super) enum Woke {
    End(End),
    Timer,
    Item(Outbound),
    Inbound(Received),
    /// Frames a delivery written where it was queued left in the write
    /// buffer, the kernel not taking them whole (see [`super::inline`]).
    Flush,
}

impl From<Next> for Woke {
    fn from(next: Next) -> Self {
        match next {
            Next::Item(item) => Self::Item(item),
            Next::Kicked(code) => Self::End(End::Closed(code)),
        }
    }
}

/// Why [`Connection::run`] returned.
pub(super) enum Ran {
    Ended(End),
    /// Nothing more to do (for a whole idleness period, or, resumed, once
    /// its wake is handled): park.
    Idle,
}

impl Connection {
    /// Runs until the connection ends or idles, starting with `first` when
    /// something already woke it. `eager` (a parked connection just resumed):
    /// idle as soon as the wake is handled, and park again unless more is
    /// ready by then. A socket woken now and then (an event every few
    /// seconds, its heartbeat) then costs one task per wake, with no timer
    /// set and fired for an idleness check that finds nothing; one that
    /// finds more ready, or is woken by a delivery less than a period after
    /// it parked, keeps its task until a whole period passes idle.
    pub(super) async fn run(&mut self, mut first: Option<Woke>, mut eager: bool) -> Ran {
        // The shutdown wait is made once per run and polled across
        // iterations: re-made, it would re-register with the token on every
        // event. The timer lives in the connection, for the same reason.
        let shutdown = self.ctx.hub.shutdown_token().clone();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        let idle_check = self.ctx.config.socket_park_after;
        let mut check_idle_at = tokio::time::Instant::now() + idle_check;
        // Whether anything happened since the last idleness check.
        let mut busy = false;
        if !eager {
            self.reset_timer(Some(check_idle_at));
        }

        loop {
            if self.deadline_moved {
                self.deadline_moved = false;
                self.reset_timer((!eager).then_some(check_idle_at));
            }
            let woke = match first.take() {
                Some(woke) => woke,
                None => tokio::select! {
                    _ = &mut shutting_down => Woke::End(End::Closed(CloseCode::Shutdown)),
                    () = &mut self.timer => Woke::Timer,
                    next = self.queue.next() => Woke::from(next),
                    inbound = self.socket.recv() => Woke::Inbound(inbound),
                },
            };
            if eager && matches!(woke, Woke::Item(_)) && self.parked_briefly() {
                // A delivery soon after it parked: a socket in a flow of
                // events (a conversation, a live dashboard) keeps its task
                // until a whole period passes idle, instead of a task per
                // event. One woken now and then still parks again at once.
                eager = false;
                self.reset_timer(Some(check_idle_at));
            }
            let result = match woke {
                Woke::End(end) => Err(end),
                Woke::Timer if tokio::time::Instant::now() >= self.deadline => {
                    Err(End::Closed(if self.principal.is_none() {
                        CloseCode::AuthTimeout
                    } else {
                        CloseCode::TokenExpired
                    }))
                }
                Woke::Timer => {
                    let now = tokio::time::Instant::now();
                    let mut result = Ok(());
                    if self.ping_due(now) {
                        // Boxed, like the other rare paths below: inline, its
                        // write would size every socket's task for its whole life.
                        result = Box::pin(self.on_heartbeat()).await;
                    }
                    if result.is_ok() && now >= check_idle_at {
                        if !busy && self.principal.is_some() {
                            // Parked, the timer is the deadline's and the ping's only.
                            self.reset_timer(None);
                            return Ran::Idle;
                        }
                        busy = false;
                        check_idle_at = now + idle_check;
                    }
                    self.reset_timer((!eager).then_some(check_idle_at));
                    result
                }
                // The hot path stays inline: it shares its slot with the select.
                Woke::Item(item) => {
                    busy = true;
                    self.deliver_batch(item).await
                }
                // Handling a client message (subscribe and its replay, publish,
                // ops) awaits database futures several KiB large; boxed, that
                // memory exists only while a message is being handled.
                Woke::Inbound(inbound) => {
                    busy = true;
                    Box::pin(self.on_inbound_burst(inbound)).await
                }
                Woke::Flush => {
                    busy = true;
                    self.flush().await
                }
            };
            if let Err(end) = result {
                return Ran::Ended(match end {
                    End::Closed(code) => Box::pin(self.close(code)).await,
                    End::ClientGone => End::ClientGone,
                });
            }
            if eager && self.principal.is_some() {
                return Ran::Idle;
            }
        }
    }

    /// Parks the connection (`None`), or hands it back, with what woke it
    /// when that is known, when something is ready after all.
    pub(super) fn park(self) -> Option<(Self, Option<Woke>)> {
        self.park_counted(true)
    }

    /// [`Self::park`], counted in the metrics as a park (and, handed back
    /// because woken meanwhile, a resume) or not: a connection that stays
    /// parked through a delivery written for it ([`super::inline`]) is
    /// counted once, by the caller.
    pub(super) fn park_counted(mut self, counted: bool) -> Option<(Self, Option<Woke>)> {
        let parking = Parking::begin();
        let waker = parking.waker();
        if let Poll::Ready(woke) = self.poll_woke(&mut Context::from_waker(&waker)) {
            return Some((self, Some(woke)));
        }
        // Shutdown kicks the connections the hub knows when it begins; one
        // that parks after that sees the token cancelled here.
        if self.ctx.hub.shutdown_token().is_cancelled() {
            return Some((self, Some(Woke::End(End::Closed(CloseCode::Shutdown)))));
        }
        if counted {
            self.ctx.hub.metrics().parked.fetch_add(1, Ordering::Relaxed);
        }
        self.parked_at_ms = monotonic_ms();
        match parking.finish(self) {
            Ok(()) => None,
            Err(conn) => {
                // Woken while parking: counted as resumed at once.
                if counted {
                    conn.ctx.hub.metrics().resumed.fetch_add(1, Ordering::Relaxed);
                }
                Some((conn, None))
            }
        }
    }

    /// Registers `cx`'s waker with everything a parked connection waits on,
    /// or gives what is ready now. A parked connection's write buffer is
    /// empty: every path of the loop flushes before it returns to the loop.
    fn poll_woke(&mut self, cx: &mut Context<'_>) -> Poll<Woke> {
        if let Poll::Ready(next) = self.queue.poll_next(cx) {
            return Poll::Ready(Woke::from(next));
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Timer);
        }
        self.socket.poll_recv(cx).map(Woke::Inbound)
    }

    /// Whether the connection parked less than an idleness period ago.
    fn parked_briefly(&self) -> bool {
        let parked_for = monotonic_ms().wrapping_sub(self.parked_at_ms);
        u128::from(parked_for) < self.ctx.config.socket_park_after.as_millis()
    }

    /// The token now expires at `expires_at_unix` (seconds since the epoch):
    /// the connection closes then, unless a refresh moves it again.
    pub(super) fn expire_at(&mut self, expires_at_unix: u64) {
        self.deadline = token_deadline(expires_at_unix);
        self.deadline_moved = true;
    }

    /// Sets the timer to the deadline, the next ping or `check_idle_at`,
    /// whichever comes first.
    pub(super) fn reset_timer(&mut self, check_idle_at: Option<tokio::time::Instant>) {
        let at = self.deadline.min(self.next_ping);
        let at = check_idle_at.map_or(at, |check| at.min(check));
        self.timer.as_mut().reset(at);
    }

    /// Whether a ping is due at `now`; if so, the next one is scheduled.
    /// Pings keep their cadence: a late one delays the next rather than
    /// bunching two.
    pub(super) fn ping_due(&mut self, now: tokio::time::Instant) -> bool {
        if now < self.next_ping {
            return false;
        }
        let config = &self.ctx.config;
        self.next_ping += config.heartbeat_interval;
        if self.next_ping <= now {
            let slot = ping_schedule::slot(config.heartbeat_interval, config.heartbeat_grace);
            self.next_ping = ping_schedule::on_slot(now + config.heartbeat_interval, slot);
        }
        true
    }

    /// Whether the client has been silent past the interval and its grace.
    pub(super) fn heartbeat_lapsed(&self) -> bool {
        let config = &self.ctx.config;
        self.last_inbound.elapsed() > config.heartbeat_interval + config.heartbeat_grace
    }

    async fn on_heartbeat(&mut self) -> Result<(), End> {
        if self.heartbeat_lapsed() {
            return Err(End::Closed(CloseCode::HeartbeatTimeout));
        }
        self.send_message(&ServerMessage::Ping { ts: crate::store::now_ms() }).await?;
        self.flush().await
    }
}

/// Milliseconds on a monotonic clock, wrapping every 49 days: only compared
/// over short spans (how long ago a connection parked), and four bytes in
/// every parked connection where an `Instant` would be sixteen.
pub(super) fn monotonic_ms() -> u32 {
    static EPOCH: std::sync::LazyLock<tokio::time::Instant> =
        std::sync::LazyLock::new(tokio::time::Instant::now);
    // Truncated on purpose: see above.
    EPOCH.elapsed().as_millis() as u32
}

/// When the connection's token runs out, as an instant for `sleep_until`.
fn token_deadline(expires_at_unix: u64) -> tokio::time::Instant {
    let now_unix = jsonwebtoken::get_current_timestamp();
    let left = Duration::from_secs(expires_at_unix.saturating_sub(now_unix));
    tokio::time::Instant::now() + left
}
