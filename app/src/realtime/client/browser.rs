//! What the browser tells the client: the watchdog (a silent link, a token
//! about to expire, a round-trip sample due), online/offline, and the tab
//! becoming visible. Also the small browser helpers the client uses.

use std::time::Duration;

use leptos::prelude::*;
use protocol::chat::ACTIVITY_RESEND_MS;
use protocol::{ClientMessage, limits};
use wasm_bindgen::{JsCast, closure::Closure};
use wasm_bindgen_futures::JsFuture;

use super::{Client, Link, TOKEN_REFRESH_MARGIN_MS, WATCHDOG_EVERY};
use crate::realtime::ConnState;

/// How often a live connection measures its round trip.
const RTT_EVERY_MS: f64 = 10_000.0;

impl Client {
    /// Tells the server the person is here, at most once a minute.
    fn report_activity(&self) {
        let due = {
            let mut inner = self.inner.borrow_mut();
            let due = inner.authenticated() && now_ms() - inner.activity_sent_at >= ACTIVITY_RESEND_MS as f64;
            if due {
                inner.activity_sent_at = now_ms();
            }
            due
        };
        if due {
            self.activity();
        }
    }

    pub(super) fn start_watchdog(&self) {
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
            let silent = inner.socket().is_some() && now_ms() - inner.last_frame_at > allowed;
            let refresh = inner.authenticated()
                && inner
                    .token
                    .as_ref()
                    .is_some_and(|t| (t.expires_at as f64) - now_ms() < TOKEN_REFRESH_MARGIN_MS);
            (silent, refresh)
        };
        self.measure_rtt_if_due(RTT_EVERY_MS);
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

    pub(super) fn listen_to_browser(&self) {
        let weak = self.weak();
        // The handles are dropped without removing: the listeners live as long as the tab.
        let _ = window_event_listener_untyped("offline", move |_| {
            if let Some(client) = weak.upgrade() {
                client.abandon_socket();
                {
                    let mut inner = client.inner.borrow_mut();
                    if matches!(inner.link, Link::Stopped) {
                        return;
                    }
                    inner.link = Link::Offline;
                }
                client.fail_pending();
                client.stop_polling();
                client.set_state(ConnState::Offline);
            }
        });
        let weak = self.weak();
        let _ = window_event_listener_untyped("online", move |_| {
            if let Some(client) = weak.upgrade() {
                {
                    let mut inner = client.inner.borrow_mut();
                    if !inner.offline() {
                        return;
                    }
                    inner.link = Link::Idle;
                    inner.failures = 0;
                }
                client.connect();
            }
        });
        // Someone using the tab keeps them "online" rather than "away" in conversations.
        for event in ["keydown", "pointerdown", "focus"] {
            let weak = self.weak();
            let _ = window_event_listener_untyped(event, move |_| {
                if let Some(client) = weak.upgrade() {
                    client.report_activity();
                }
            });
        }
        let weak = self.weak();
        let on_visible = Closure::<dyn FnMut()>::new(move || {
            let Some(client) = weak.upgrade() else { return };
            let visible = document().visibility_state() == web_sys::VisibilityState::Visible;
            let idle = client.inner.borrow().socket().is_none();
            if visible {
                client.report_activity();
            }
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

pub(super) fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub(super) fn socket_url() -> Result<String, String> {
    let location = window().location();
    let scheme = match location.protocol().map_err(|_| "no location")?.as_str() {
        "https:" => "wss",
        _ => "ws",
    };
    let host = location.host().map_err(|_| "no host")?;
    Ok(format!("{scheme}://{host}/ws"))
}

pub(super) async fn sleep(duration: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, duration.as_millis() as i32);
    });
    let _ = JsFuture::from(promise).await;
}

/// A GET through the shared HTTP helper, its error as text for the log.
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    crate::http::get_json(url).await.map_err(|e| e.to_string())
}
