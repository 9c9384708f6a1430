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

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::*;
use protocol::{
    ChannelName, ClientMessage, CloseCode, ConnectToken, EventEnvelope, PollResponse, ServerMessage,
    close::code_allows_reconnect, limits,
};
use wasm_bindgen::{JsCast, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::{ConnState, push_bounded};

/// First retry delay ceiling; doubles per failure up to [`BACKOFF_CAP_MS`].
const BACKOFF_BASE_MS: f64 = 500.0;
/// Longest wait between attempts: long enough to spare a struggling server.
const BACKOFF_CAP_MS: f64 = 20_000.0;
/// A connection that stayed up this long resets the backoff.
const STABLE_AFTER_MS: f64 = 60_000.0;
/// Consecutive failures after which events come by long-polling meanwhile.
const FAILURES_BEFORE_POLLING: u32 = 3;
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
    inner: RefCell<Inner>,
}

struct Subscription {
    /// Highest seq applied; 0 before the first event.
    last_seq: u64,
    events: WriteSignal<Vec<EventEnvelope>>,
    resets: WriteSignal<u32>,
}

struct Socket {
    ws: WebSocket,
    // Kept so the callbacks live exactly as long as the socket.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

#[derive(Default)]
struct Inner {
    /// Bumped for every socket; callbacks of an older socket are ignored.
    generation: u64,
    socket: Option<Socket>,
    authenticated: bool,
    auth_request_id: Option<String>,
    retried_bad_token: bool,
    failures: u32,
    authenticated_at: f64,
    last_frame_at: f64,
    heartbeat_ms: u64,
    token: Option<ConnectToken>,
    subs: HashMap<ChannelName, Subscription>,
    next_request_id: u64,
    polling: bool,
    /// Bumped whenever polling starts or stops; older poll loops end.
    poll_generation: u64,
    offline: bool,
    stopped: bool,
    retry_scheduled: bool,
    /// A token fetch for a new socket is under way; a second `connect` waits for it.
    connecting: bool,
}

impl Client {
    pub(super) fn start(
        set_state: WriteSignal<ConnState>,
        set_principal: WriteSignal<Option<String>>,
    ) -> Rc<Self> {
        let client = Rc::new_cyclic(|me| Client {
            me: me.clone(),
            set_state,
            set_principal,
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

    pub(super) fn subscribe(
        &self,
        channel: ChannelName,
        since: u64,
        events: WriteSignal<Vec<EventEnvelope>>,
        resets: WriteSignal<u32>,
    ) {
        let (send_now, polling) = {
            let mut inner = self.inner.borrow_mut();
            // A new (empty) feed replays from `since`: 0 for everything retained,
            // or the head of a state the page already rendered.
            inner.subs.insert(channel.clone(), Subscription { last_seq: since, events, resets });
            (inner.authenticated, inner.polling)
        };
        if send_now {
            self.send_subscribe(&channel, since);
        }
        if polling {
            let generation = self.inner.borrow().poll_generation;
            self.spawn_poll_loop(channel, generation);
        }
    }

    pub(super) fn unsubscribe(&self, channel: &ChannelName) {
        let removed = self.inner.borrow_mut().subs.remove(channel).is_some();
        if removed && self.inner.borrow().authenticated {
            let id = self.next_id();
            self.send(&ClientMessage::Unsubscribe { id, channel: channel.to_string() });
        }
    }

    fn next_id(&self) -> String {
        let mut inner = self.inner.borrow_mut();
        inner.next_request_id += 1;
        inner.next_request_id.to_string()
    }

    fn send(&self, message: &ClientMessage) {
        let ws = self.inner.borrow().socket.as_ref().map(|s| s.ws.clone());
        if let (Some(ws), Ok(text)) = (ws, serde_json::to_string(message)) {
            // A failed send means the socket is closing; onclose handles it.
            let _ = ws.send_with_str(&text);
        }
    }

    fn send_subscribe(&self, channel: &ChannelName, since: u64) {
        let id = self.next_id();
        self.send(&ClientMessage::Subscribe { id, channel: channel.to_string(), since: Some(since) });
    }

    fn set_state(&self, state: ConnState) {
        self.set_state.set(state);
    }

    // ---- connecting -------------------------------------------------------

    fn connect(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.retry_scheduled = false;
            if inner.stopped || inner.socket.is_some() || inner.connecting {
                return;
            }
            if inner.offline {
                drop(inner);
                self.set_state(ConnState::Offline);
                return;
            }
            inner.generation += 1;
            inner.connecting = true;
        }
        let weak = self.weak();
        leptos::task::spawn_local(async move {
            let Some(client) = weak.upgrade() else { return };
            let token = client.fresh_token().await;
            client.inner.borrow_mut().connecting = false;
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

    fn open_socket(&self) {
        let url = match socket_url() {
            Ok(url) => url,
            Err(err) => {
                leptos::logging::error!("beacon: {err}");
                return;
            }
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.schedule_reconnect();
                return;
            }
        };
        let generation = self.inner.borrow().generation;

        let weak = self.weak();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let (Some(client), Some(text)) = (weak.upgrade(), e.data().as_string()) {
                client.on_frame(generation, &text);
            }
        });
        let weak = self.weak();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            if let Some(client) = weak.upgrade() {
                client.on_closed(generation, e.code());
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));

        let mut inner = self.inner.borrow_mut();
        inner.last_frame_at = now_ms();
        inner.socket = Some(Socket { ws, _on_message: on_message, _on_close: on_close });
    }

    fn on_frame(&self, generation: u64, text: &str) {
        if self.inner.borrow().generation != generation {
            return;
        }
        self.inner.borrow_mut().last_frame_at = now_ms();
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => message,
            Err(err) => {
                leptos::logging::warn!("beacon: unreadable frame ignored: {err}");
                return;
            }
        };
        match message {
            ServerMessage::Welcome(welcome) => {
                let id = self.next_id();
                let token = {
                    let mut inner = self.inner.borrow_mut();
                    inner.heartbeat_ms = welcome.heartbeat_interval_ms;
                    inner.auth_request_id = Some(id.clone());
                    inner.token.as_ref().map(|t| t.token.clone())
                };
                if let Some(token) = token {
                    self.send(&ClientMessage::Auth { id, token });
                }
            }
            ServerMessage::Ack(ack) => {
                let is_auth = self.inner.borrow().auth_request_id.as_deref() == Some(&ack.id);
                if is_auth {
                    self.on_authenticated();
                }
            }
            ServerMessage::Nack(nack) => {
                leptos::logging::warn!(
                    "beacon: request {:?} refused: {:?} {}",
                    nack.id,
                    nack.code,
                    nack.message
                );
            }
            ServerMessage::Event(event) => self.apply_event(event),
            ServerMessage::Reset(reset) => self.apply_reset(&reset.channel, reset.head_seq),
            ServerMessage::Ping { ts } => self.send(&ClientMessage::Pong { ts }),
            ServerMessage::Pong { .. } => {}
        }
    }

    fn on_authenticated(&self) {
        let resume: Vec<(ChannelName, u64)> = {
            let mut inner = self.inner.borrow_mut();
            inner.authenticated = true;
            inner.retried_bad_token = false;
            inner.authenticated_at = now_ms();
            inner.auth_request_id = None;
            inner.polling = false;
            inner.poll_generation += 1;
            inner.subs.iter().map(|(c, s)| (c.clone(), s.last_seq)).collect()
        };
        self.set_state(ConnState::Live);
        for (channel, since) in resume {
            self.send_subscribe(&channel, since);
        }
    }

    fn on_closed(&self, generation: u64, code: u16) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.generation != generation {
                return;
            }
            inner.socket = None;
            inner.authenticated = false;
            if inner.authenticated_at > 0.0 && now_ms() - inner.authenticated_at > STABLE_AFTER_MS {
                inner.failures = 0;
            }
            inner.authenticated_at = 0.0;
        }
        if code == CloseCode::BadToken.code() && !self.inner.borrow().retried_bad_token {
            // The token may be from before a server restart with a new secret: one fresh try.
            let mut inner = self.inner.borrow_mut();
            inner.retried_bad_token = true;
            inner.token = None;
        } else if !code_allows_reconnect(code) {
            let reason = CloseCode::from_code(code).map_or("closed by server", CloseCode::reason);
            self.inner.borrow_mut().stopped = true;
            self.stop_polling();
            self.set_state(ConnState::Stopped { reason: reason.to_owned() });
            return;
        }
        if code == CloseCode::TokenExpired.code() {
            self.inner.borrow_mut().token = None;
        }
        self.schedule_reconnect();
    }

    fn schedule_reconnect(&self) {
        let (delay, start_polling) = {
            let mut inner = self.inner.borrow_mut();
            if inner.retry_scheduled || inner.stopped {
                return;
            }
            inner.retry_scheduled = true;
            inner.failures += 1;
            let ceiling = (BACKOFF_BASE_MS * 2f64.powi(inner.failures as i32 - 1)).min(BACKOFF_CAP_MS);
            let delay = (js_sys::Math::random() * ceiling).max(50.0) as u64;
            (delay, inner.failures >= FAILURES_BEFORE_POLLING && !inner.polling && !inner.offline)
        };
        if start_polling {
            self.start_polling();
        }
        if self.inner.borrow().polling {
            self.set_state(ConnState::Polling);
        } else if self.inner.borrow().offline {
            self.set_state(ConnState::Offline);
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
    fn abandon_socket(&self) {
        let socket = {
            let mut inner = self.inner.borrow_mut();
            inner.generation += 1;
            inner.authenticated = false;
            inner.socket.take()
        };
        if let Some(socket) = socket {
            let _ = socket.ws.close();
        }
    }

    // ---- events -----------------------------------------------------------

    fn apply_event(&self, event: EventEnvelope) {
        let target = {
            let mut inner = self.inner.borrow_mut();
            match inner.subs.get_mut(&event.channel) {
                // Replay and live delivery can overlap: anything not newer is a duplicate.
                Some(sub) if event.seq > sub.last_seq => {
                    sub.last_seq = event.seq;
                    Some(sub.events)
                }
                _ => None,
            }
        };
        if let Some(events) = target {
            events.update(|feed| push_bounded(feed, event));
        }
    }

    fn apply_reset(&self, channel: &ChannelName, head_seq: u64) {
        let target = {
            let mut inner = self.inner.borrow_mut();
            inner.subs.get_mut(channel).map(|sub| {
                sub.last_seq = head_seq;
                sub.resets
            })
        };
        if let Some(resets) = target {
            resets.update(|n| *n += 1);
        }
    }

    // ---- long-poll fallback -------------------------------------------------

    fn start_polling(&self) {
        let (generation, channels) = {
            let mut inner = self.inner.borrow_mut();
            inner.polling = true;
            inner.poll_generation += 1;
            (inner.poll_generation, inner.subs.keys().cloned().collect::<Vec<_>>())
        };
        for channel in channels {
            self.spawn_poll_loop(channel, generation);
        }
    }

    fn stop_polling(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.polling = false;
        inner.poll_generation += 1;
    }

    fn spawn_poll_loop(&self, channel: ChannelName, generation: u64) {
        let weak = self.weak();
        leptos::task::spawn_local(async move {
            loop {
                let since = {
                    let Some(client) = weak.upgrade() else { return };
                    let inner = client.inner.borrow();
                    if inner.poll_generation != generation {
                        return;
                    }
                    match inner.subs.get(&channel) {
                        Some(sub) => sub.last_seq,
                        None => return,
                    }
                };
                let url = format!(
                    "/api/realtime/poll?channel={}&since={since}",
                    js_sys::encode_uri_component(channel.as_str())
                );
                match get_json::<PollResponse>(&url).await {
                    Ok(answer) => {
                        let Some(client) = weak.upgrade() else { return };
                        // The socket took over while this poll was out: its answer
                        // may be older than what the socket already applied.
                        if client.inner.borrow().poll_generation != generation {
                            return;
                        }
                        if let Some(reset) = answer.reset {
                            client.apply_reset(&reset.channel, reset.head_seq);
                        }
                        for event in answer.events {
                            client.apply_event(event);
                        }
                    }
                    Err(err) => {
                        leptos::logging::warn!("beacon: long-poll failed: {err}");
                        sleep(Duration::from_millis(POLL_RETRY_MS)).await;
                    }
                }
            }
        });
    }

    // ---- browser signals ------------------------------------------------------

    fn start_watchdog(&self) {
        let weak = self.weak();
        let _ = set_interval_with_handle(
            move || {
                if let Some(client) = weak.upgrade() {
                    client.watchdog_tick();
                }
            },
            WATCHDOG_EVERY,
        );
    }

    fn watchdog_tick(&self) {
        let (silent_too_long, refresh_due) = {
            let inner = self.inner.borrow();
            let allowed = (inner.heartbeat_ms + limits::HEARTBEAT_GRACE_MS) as f64;
            let silent = inner.socket.is_some() && now_ms() - inner.last_frame_at > allowed;
            let refresh = inner.authenticated
                && inner
                    .token
                    .as_ref()
                    .is_some_and(|t| (t.expires_at as f64) - now_ms() < TOKEN_REFRESH_MARGIN_MS);
            (silent, refresh)
        };
        if silent_too_long {
            // A dead link often sends no close for minutes; count it as dropped now.
            self.abandon_socket();
            self.schedule_reconnect();
        } else if refresh_due {
            self.refresh_token();
        }
    }

    fn refresh_token(&self) {
        self.inner.borrow_mut().token = None;
        let weak = self.weak();
        leptos::task::spawn_local(async move {
            let Some(client) = weak.upgrade() else { return };
            if client.fresh_token().await.is_ok() {
                let token = client.inner.borrow().token.as_ref().map(|t| t.token.clone());
                if let Some(token) = token {
                    let id = client.next_id();
                    client.send(&ClientMessage::RefreshToken { id, token });
                }
            }
        });
    }

    fn listen_to_browser(&self) {
        let weak = self.weak();
        // The handles are dropped without removing: the listeners live as long as the tab.
        let _ = window_event_listener_untyped("offline", move |_| {
            if let Some(client) = weak.upgrade() {
                client.inner.borrow_mut().offline = true;
                client.abandon_socket();
                client.stop_polling();
                client.set_state(ConnState::Offline);
            }
        });
        let weak = self.weak();
        let _ = window_event_listener_untyped("online", move |_| {
            if let Some(client) = weak.upgrade() {
                let mut inner = client.inner.borrow_mut();
                inner.offline = false;
                inner.failures = 0;
                drop(inner);
                client.connect();
            }
        });
        let weak = self.weak();
        let on_visible = Closure::<dyn FnMut()>::new(move || {
            let Some(client) = weak.upgrade() else { return };
            let visible = document().visibility_state() == web_sys::VisibilityState::Visible;
            let idle = client.inner.borrow().socket.is_none();
            if visible && idle {
                // Someone is looking: try now instead of waiting out the backoff.
                client.connect();
            }
        });
        let _ = document()
            .add_event_listener_with_callback("visibilitychange", on_visible.as_ref().unchecked_ref());
        // Lives as long as the tab, like the client itself.
        on_visible.forget();
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn socket_url() -> Result<String, String> {
    let location = window().location();
    let scheme = match location.protocol().map_err(|_| "no location")?.as_str() {
        "https:" => "wss",
        _ => "ws",
    };
    let host = location.host().map_err(|_| "no host")?;
    Ok(format!("{scheme}://{host}/ws"))
}

async fn sleep(duration: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, duration.as_millis() as i32);
    });
    let _ = JsFuture::from(promise).await;
}

/// A GET through the shared HTTP helper, its error as text for the log.
async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    crate::http::get_json(url).await.map_err(|e| e.to_string())
}
