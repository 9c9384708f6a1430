//! The browser's one realtime connection per tab.
//!
//! A WebSocket to `/ws`, authenticated with a short-lived connect token fetched
//! from `/api/realtime/token` (never put in the URL). After a drop it reconnects
//! with exponential backoff and full jitter, and resubscribes every channel with
//! `since` = the last seq it saw, so nothing is missed or repeated. After
//! [`FAILURES_BEFORE_POLLING`] failed attempts it long-polls the same event log
//! while the WebSocket keeps retrying in the background, and moves back as soon
//! as a socket authenticates.
//!
//! All state lives in one `RefCell` on the single browser thread; no borrow is
//! held while calling into the browser or setting a signal.
//!
//! - this file: the link's state ([`Link`]: idle, fetching a token, open,
//!   waiting to retry, offline, stopped) and its transitions: connecting,
//!   authenticating, closing, scheduling the next attempt. The decisions
//!   themselves (backoff, fallback, close codes, stability, seq dedupe) are
//!   pure functions in `realtime::policy`, tested on the host.
//! - `open`: a socket opened, authenticated and resubscribed in one go.
//! - `inbound`: frames from the server, dispatched.
//! - `feeds`: the followed channels (seq and log epoch), events and resets.
//! - `send`: what pages send (messages with their acks, typing, activity),
//!   signals in, and the round-trip measurements behind the quality indicator.
//! - `poll`: the long-poll fallback.
//! - `browser`: the watchdog, online/offline and visibility, browser helpers.

mod browser;
mod feeds;
mod inbound;
mod open;
mod poll;
mod send;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::*;
use protocol::{ChannelName, ClientMessage, CloseCode, ConnectToken, limits};
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use self::browser::{get_json, now_ms, sleep};
use self::send::AckCallback;
pub use self::send::SendFailure;
use super::policy::{self, AfterClose};
use super::quality::{Measurements, Quality};
use super::{ConnState, FeedWriters};

/// How often the watchdog checks for a silent link and an expiring token.
const WATCHDOG_EVERY: Duration = Duration::from_secs(2);
/// Refresh the connect token this long before it expires.
const TOKEN_REFRESH_MARGIN_MS: f64 = 60_000.0;
/// Pause after a failed long-poll request before the next one.
const POLL_RETRY_MS: u64 = 2_000;

pub(super) struct Client {
    me: Weak<Client>,
    set_state: WriteSignal<ConnState>,
    set_principal: WriteSignal<Option<String>>,
    set_quality: WriteSignal<Quality>,
    set_rtt: WriteSignal<Option<u32>>,
    inner: RefCell<Inner>,
}

struct Subscription {
    /// Highest seq applied; 0 before the first event.
    last_seq: u64,
    /// The log epoch `last_seq` belongs to, once the server named it.
    epoch: Option<String>,
    feed: FeedWriters,
}

struct Socket {
    ws: WebSocket,
    // Kept so the callbacks live exactly as long as the socket.
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// Where the WebSocket stands. Long-polling is beside it (`Inner::polling`):
/// it serves the channels while the socket keeps trying.
#[derive(Default)]
enum Link {
    /// Nothing under way: before the first attempt, or between a drop and
    /// the scheduling of the next attempt.
    #[default]
    Idle,
    /// Fetching a connect token for a new socket.
    FetchingToken,
    /// A socket is open: authenticating while `auth` holds the request id,
    /// then authenticated since `live_since`.
    Open { socket: Socket, auth: Option<String>, live_since: Option<f64> },
    /// The next attempt is scheduled.
    Waiting,
    /// The browser reports no network; the `online` event starts again.
    Offline,
    /// A terminal close: nothing more until a reload.
    Stopped,
}

#[derive(Default)]
struct Inner {
    /// Bumped for every socket; callbacks of an older socket are ignored.
    generation: u64,
    link: Link,
    retried_bad_token: bool,
    /// Failed attempts in a row (reset by a stable connection or `online`).
    failures: u32,
    last_frame_at: f64,
    heartbeat_ms: u64,
    token: Option<ConnectToken>,
    subs: HashMap<ChannelName, Subscription>,
    next_request_id: u64,
    polling: bool,
    /// Bumped whenever polling starts or stops; older poll loops end.
    poll_generation: u64,
    /// Sent `publish` requests waiting for their ack or nack, by request id.
    /// Bounded by what pages send; all fail with `Disconnected` when the socket ends.
    pending: HashMap<String, AckCallback>,
    /// Sent `subscribe` requests by id, to file the epoch their ack names.
    /// Cleared with `pending` when the socket ends.
    subscribing: HashMap<String, ChannelName>,
    /// Round trips and reconnects, for the quality indicator.
    measurements: Measurements,
    last_ping_at: f64,
    /// Authenticated at least once: the next authentication is a reconnect.
    ever_authenticated: bool,
    /// When this tab last reported activity (for online/away).
    activity_sent_at: f64,
}

impl Inner {
    /// An authenticated socket is open.
    fn authenticated(&self) -> bool {
        matches!(self.link, Link::Open { live_since: Some(_), .. })
    }

    /// A socket is open and its `auth` has been sent: the server handles a
    /// socket's frames in order, so a subscribe sent now is answered after
    /// the authentication (or not at all, if it fails and the socket closes).
    fn auth_sent(&self) -> bool {
        matches!(self.link, Link::Open { auth: Some(_), .. } | Link::Open { live_since: Some(_), .. })
    }

    fn socket(&self) -> Option<&WebSocket> {
        match &self.link {
            Link::Open { socket, .. } => Some(&socket.ws),
            _ => None,
        }
    }

    fn offline(&self) -> bool {
        matches!(self.link, Link::Offline)
    }
}

impl Client {
    pub(super) fn start(
        set_state: WriteSignal<ConnState>,
        set_principal: WriteSignal<Option<String>>,
        set_quality: WriteSignal<Quality>,
        set_rtt: WriteSignal<Option<u32>>,
    ) -> Rc<Self> {
        let client = Rc::new_cyclic(|me| Client {
            me: me.clone(),
            set_state,
            set_principal,
            set_quality,
            set_rtt,
            inner: RefCell::new(Inner { heartbeat_ms: limits::HEARTBEAT_INTERVAL_MS, ..Inner::default() }),
        });
        client.listen_to_browser();
        client.start_watchdog();
        client.connect();
        client
    }

    fn weak(&self) -> Weak<Client> {
        self.me.clone()
    }

    fn next_id(&self) -> String {
        let mut inner = self.inner.borrow_mut();
        inner.next_request_id += 1;
        inner.next_request_id.to_string()
    }

    fn send(&self, message: &ClientMessage) {
        let ws = self.inner.borrow().socket().cloned();
        if let (Some(ws), Ok(text)) = (ws, serde_json::to_string(message)) {
            // A failed send means the socket is closing; onclose handles it.
            let _ = ws.send_with_str(&text);
        }
    }

    fn set_state(&self, state: ConnState) {
        let quality = match &state {
            ConnState::Live => Some(self.inner.borrow().measurements.quality(now_ms())),
            ConnState::Polling => Some(Quality::Polling),
            ConnState::Connecting => None,
            ConnState::Reconnecting { .. } | ConnState::Offline | ConnState::Stopped { .. } => {
                Some(Quality::Offline)
            }
        };
        if let Some(quality) = quality {
            self.set_quality.set(quality);
        }
        self.set_state.set(state);
    }

    // ---- connecting -------------------------------------------------------

    /// Starts an attempt unless one is under way, a socket is open, the
    /// browser is offline or the client has stopped.
    fn connect(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            if !matches!(inner.link, Link::Idle | Link::Waiting) {
                return;
            }
            inner.generation += 1;
            inner.link = Link::FetchingToken;
        }
        let weak = self.weak();
        leptos::task::spawn_local(async move {
            let Some(client) = weak.upgrade() else { return };
            let token = client.fresh_token().await;
            // Went offline (or stopped) meanwhile: this attempt is over.
            if !matches!(client.inner.borrow().link, Link::FetchingToken) {
                return;
            }
            client.inner.borrow_mut().link = Link::Idle;
            match token {
                Ok(()) => client.open_socket(),
                Err(err) => {
                    leptos::logging::warn!("beacon: token request failed: {err}");
                    client.schedule_reconnect();
                }
            }
        });
    }

    /// Makes sure a token valid for at least the refresh margin is held.
    async fn fresh_token(&self) -> Result<(), String> {
        let valid = self
            .inner
            .borrow()
            .token
            .as_ref()
            .is_some_and(|t| (t.expires_at as f64) - now_ms() > TOKEN_REFRESH_MARGIN_MS);
        if valid {
            return Ok(());
        }
        let token: ConnectToken = get_json("/api/realtime/token").await?;
        self.set_principal.set(Some(token.principal.clone()));
        self.inner.borrow_mut().token = Some(token);
        Ok(())
    }

    fn on_closed(&self, generation: u64, code: u16) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.generation != generation {
                return;
            }
            let live_since = match std::mem::take(&mut inner.link) {
                Link::Open { live_since, .. } => live_since,
                other => {
                    // Offline or stopped already: the close changes nothing.
                    inner.link = other;
                    return;
                }
            };
            if policy::was_stable(live_since, now_ms()) {
                inner.failures = 0;
            }
        }
        self.fail_pending();
        let retried_bad_token = self.inner.borrow().retried_bad_token;
        match policy::after_close(code, retried_bad_token) {
            AfterClose::Stop { reason } => {
                self.inner.borrow_mut().link = Link::Stopped;
                self.stop_polling();
                self.set_state(ConnState::Stopped { reason });
                return;
            }
            AfterClose::Retry { fresh_token } => {
                let mut inner = self.inner.borrow_mut();
                if code == CloseCode::BadToken.code() {
                    inner.retried_bad_token = true;
                }
                if fresh_token {
                    inner.token = None;
                }
            }
        }
        self.schedule_reconnect();
    }

    /// Counts a failure and schedules the next attempt with backoff; after a
    /// few failures the channels are long-polled meanwhile.
    fn schedule_reconnect(&self) {
        let (delay, start_polling) = {
            let mut inner = self.inner.borrow_mut();
            if !matches!(inner.link, Link::Idle) {
                // Waiting already, offline (the `online` event restarts) or stopped.
                if inner.offline() {
                    drop(inner);
                    self.set_state(ConnState::Offline);
                }
                return;
            }
            inner.link = Link::Waiting;
            inner.failures += 1;
            let delay = policy::retry_delay_ms(inner.failures, js_sys::Math::random());
            (delay, policy::should_start_polling(inner.failures, inner.polling, false))
        };
        if start_polling {
            self.start_polling();
        }
        if self.inner.borrow().polling {
            self.set_state(ConnState::Polling);
        } else {
            self.set_state(ConnState::Reconnecting { retry_in_ms: delay });
        }
        let weak = self.weak();
        set_timeout(
            move || {
                if let Some(client) = weak.upgrade() {
                    client.connect();
                }
            },
            Duration::from_millis(delay),
        );
    }

    /// Drops the current socket without waiting for the browser's close event.
    /// Leaves the link `Idle` (or as it was, when no socket was open).
    fn abandon_socket(&self) {
        let socket = {
            let mut inner = self.inner.borrow_mut();
            inner.generation += 1;
            match std::mem::take(&mut inner.link) {
                Link::Open { socket, .. } => Some(socket),
                other => {
                    inner.link = other;
                    None
                }
            }
        };
        if let Some(socket) = socket {
            // Detached first: the socket's close event comes after its
            // callbacks are dropped here, and calling a dropped callback throws.
            socket.ws.set_onopen(None);
            socket.ws.set_onmessage(None);
            socket.ws.set_onclose(None);
            let _ = socket.ws.close();
        }
        self.fail_pending();
    }

    // ---- events -----------------------------------------------------------
}
