//! A socket's opening: the browser's callbacks wired to it, then `auth` and
//! the resuming subscribes sent the moment it opens, and the switch to live
//! when the server acknowledges the authentication.

use protocol::{ChannelName, ClientMessage};
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::browser::{now_ms, socket_url};
use super::{Client, Link, Socket};
use crate::realtime::ConnState;

impl Client {
    pub(super) fn open_socket(&self) {
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
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            if let Some(client) = weak.upgrade() {
                client.on_open(generation);
            }
        });
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
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));

        let mut inner = self.inner.borrow_mut();
        inner.last_frame_at = now_ms();
        let socket = Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close };
        inner.link = Link::Open { socket, auth: None, live_since: None };
    }

    /// As soon as the socket is open: `auth` and, right behind it, a resuming
    /// `subscribe` for every channel followed. The server reads a socket's
    /// frames in order (after its welcome), so a reconnect is caught up one
    /// round trip after the socket opens, where waiting for the welcome and
    /// then for the auth's ack took two more.
    fn on_open(&self, generation: u64) {
        let token = {
            let inner = self.inner.borrow();
            if inner.generation != generation {
                return;
            }
            inner.token.as_ref().map(|t| t.token.clone())
        };
        let Some(token) = token else { return };
        let id = self.next_id();
        let resume: Vec<(ChannelName, u64)> = {
            let mut inner = self.inner.borrow_mut();
            if let Link::Open { auth, .. } = &mut inner.link {
                *auth = Some(id.clone());
            }
            inner.subs.iter().map(|(c, s)| (c.clone(), s.last_seq)).collect()
        };
        self.send(&ClientMessage::Auth { id, token });
        for (channel, since) in resume {
            self.send_subscribe(&channel, since);
        }
    }

    pub(super) fn on_authenticated(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.ever_authenticated {
                inner.measurements.reconnected(now_ms());
            }
            inner.ever_authenticated = true;
            inner.retried_bad_token = false;
            if let Link::Open { auth, live_since, .. } = &mut inner.link {
                *auth = None;
                *live_since = Some(now_ms());
            }
            inner.polling = false;
            inner.poll_generation += 1;
        }
        self.set_state(ConnState::Live);
        self.measure_rtt_if_due(0.0);
    }
}
