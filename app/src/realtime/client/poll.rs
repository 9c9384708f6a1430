//! The long-poll fallback: one loop per subscribed channel reading the same
//! event log as the socket (`/api/realtime/poll?channel=&since=`), ended when
//! the socket takes over again. Signals (typing, presence) are live-only and
//! do not come this way. A poll refused as forbidden ends its feed, as a
//! revocation on the socket does.

use std::time::Duration;

use protocol::{ChannelName, PollResponse};

use super::{Client, POLL_RETRY_MS, sleep};
use crate::http::{HttpError, get_json};

impl Client {
    pub(super) fn start_polling(&self) {
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

    pub(super) fn stop_polling(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.polling = false;
        inner.poll_generation += 1;
    }

    pub(super) fn spawn_poll_loop(&self, channel: ChannelName, generation: u64) {
        let weak = self.weak();
        leptos::task::spawn_local(async move {
            loop {
                let (since, epoch) = {
                    let Some(client) = weak.upgrade() else { return };
                    let inner = client.inner.borrow();
                    if inner.poll_generation != generation {
                        return;
                    }
                    match inner.subs.get(&channel) {
                        Some(sub) => (sub.last_seq, sub.epoch.clone()),
                        None => return,
                    }
                };
                let epoch =
                    epoch.map(|e| format!("&epoch={}", js_sys::encode_uri_component(&e))).unwrap_or_default();
                let url = format!(
                    "/api/realtime/poll?channel={}&since={since}{epoch}",
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
                            client.apply_reset(&reset.channel, reset.head_seq, reset.epoch);
                        } else {
                            client.learn_epoch(&channel, answer.epoch);
                        }
                        for event in answer.events {
                            client.apply_event(event);
                        }
                    }
                    // Access ended (as a refused subscribe on the socket): the feed ends.
                    Err(HttpError::Status(403, _)) => {
                        if let Some(client) = weak.upgrade() {
                            client.apply_revoked(&channel);
                        }
                        return;
                    }
                    Err(err) => {
                        leptos::logging::warn!("beacon: long-poll failed: {err}");
                        sleep(Duration::from_millis(POLL_RETRY_MS)).await;
                    }
                }
            }
        });
    }
}
