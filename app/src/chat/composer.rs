//! The send box and what happens to a message after Enter: it joins the
//! outbox at once (shown as pending), goes out over the socket when live, over
//! HTTP when long-polling, waits when offline, and is sent again with the same
//! client id when the connection drops before its ack. Typing signals go out
//! at most every 3 s while typing, and "stopped" after 3 s of no keystroke or
//! on send.

use leptos::prelude::*;
use protocol::ChannelName;
use protocol::chat::TYPING_RESEND_MS;

use super::outbox::Outbox;
#[cfg(feature = "hydrate")]
use crate::realtime::ConnState;
use crate::realtime::use_realtime;

/// The send box of a conversation.
#[component]
pub fn Composer(conversation: String, channel: ChannelName, outbox: RwSignal<Outbox>) -> impl IntoView {
    let realtime = use_realtime();
    let text = RwSignal::new(String::new());
    let typing_sent_at = StoredValue::new(0.0f64);
    let typing_active = StoredValue::new(false);
    let keystrokes = StoredValue::new(0u64);
    #[cfg(feature = "hydrate")]
    drive_outbox(conversation.clone(), channel.clone(), outbox);
    #[cfg(not(feature = "hydrate"))]
    let _ = &conversation;

    let stop_typing = {
        let (realtime, channel) = (realtime.clone(), channel.clone());
        move || {
            if typing_active.get_value() {
                typing_active.set_value(false);
                typing_sent_at.set_value(0.0);
                #[cfg(feature = "hydrate")]
                realtime.typing(&channel, false);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&realtime, &channel);
        }
    };
    let on_input = {
        let (realtime, channel, stop_typing) = (realtime.clone(), channel.clone(), stop_typing.clone());
        move |value: String| {
            let blank = value.trim().is_empty();
            text.set(value);
            if blank {
                stop_typing();
                return;
            }
            let now = now_ms();
            if now - typing_sent_at.get_value() >= TYPING_RESEND_MS as f64 {
                typing_sent_at.set_value(now);
                typing_active.set_value(true);
                #[cfg(feature = "hydrate")]
                realtime.typing(&channel, true);
            }
            keystrokes.update_value(|n| *n += 1);
            let seen = keystrokes.get_value();
            let stop_typing = stop_typing.clone();
            set_timeout(
                move || {
                    if keystrokes.get_value() == seen {
                        stop_typing();
                    }
                },
                std::time::Duration::from_millis(TYPING_RESEND_MS),
            );
            #[cfg(not(feature = "hydrate"))]
            let _ = (&realtime, &channel);
        }
    };
    let send = {
        let stop_typing = stop_typing.clone();
        move || {
            let value = text.get_untracked();
            if value.trim().is_empty() {
                return;
            }
            stop_typing();
            outbox.update(|o| o.push(super::new_client_id(now_ms(), random()), value));
            text.set(String::new());
        }
    };
    let send_on_enter = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label class="visually-hidden" for="composer-text">"Message"</label>
            <textarea
                id="composer-text"
                rows="2"
                maxlength="4000"
                placeholder="Write a message (Enter sends, Shift+Enter for a new line)"
                data-testid="composer"
                prop:value=move || text.get()
                on:input=move |ev| on_input(event_target_value(&ev))
                on:keydown=send_on_enter
            ></textarea>
            <button class="button" type="submit" data-testid="send">"Send"</button>
        </form>
    }
}

fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now();
    #[cfg(not(feature = "hydrate"))]
    0.0
}

fn random() -> f64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Math::random();
    #[cfg(not(feature = "hydrate"))]
    0.0
}

/// Sends the outbox's next message whenever there is one and a way to send it.
#[cfg(feature = "hydrate")]
fn drive_outbox(conversation: String, channel: ChannelName, outbox: RwSignal<Outbox>) {
    use protocol::ErrorCode;
    use serde_json::json;

    use crate::realtime::SendFailure;

    let realtime = use_realtime();
    Effect::new(move |_| {
        let state = realtime.state.get();
        let Some(next) = outbox.with(|o| o.next_to_send().cloned()) else { return };
        let client_id = next.client_id.clone();
        match state {
            ConnState::Live if realtime.can_publish() => {
                outbox.update(|o| o.sending(&client_id));
                let payload = json!({ "text": next.text });
                realtime.publish(&channel, &client_id.clone(), payload, move |answer| match answer {
                    Ok(ack) => outbox.update(|o| o.acked(&client_id, ack.seq.unwrap_or_default())),
                    Err(SendFailure::Disconnected) => outbox.update(|o| o.disconnected(&client_id)),
                    Err(SendFailure::Refused(nack)) => {
                        let retryable = nack.code == ErrorCode::RateLimited;
                        outbox.update(|o| o.refused(&client_id, nack.message, retryable));
                    }
                });
            }
            ConnState::Polling => {
                outbox.update(|o| o.sending(&client_id));
                let conversation = conversation.clone();
                leptos::task::spawn_local(async move {
                    match super::api::send(conversation, client_id.clone(), next.text).await {
                        Ok(sent) => outbox.update(|o| o.acked(&client_id, sent.message.seq)),
                        Err(err) if err.transient && err.status != Some(429) => {
                            // Offline or the server is away: try again in a moment, same id.
                            set_timeout(
                                move || outbox.update(|o| o.disconnected(&client_id)),
                                std::time::Duration::from_secs(2),
                            );
                        }
                        Err(err) => outbox.update(|o| o.refused(&client_id, err.message, err.transient)),
                    }
                });
            }
            // Offline or reconnecting: the message waits, shown as pending.
            _ => {}
        }
    });
}
