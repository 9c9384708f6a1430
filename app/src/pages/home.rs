use leptos::prelude::*;
use protocol::{ChannelKind, ChannelName};

use crate::realtime::{use_channel, use_realtime};

/// The start page: what Beacon is, and this visitor's live inbox (`user:<principal>`),
/// which anything holding the publish API key can write to.
#[component]
pub fn HomePage() -> impl IntoView {
    let realtime = use_realtime();
    let principal = realtime.principal;
    let channel =
        Signal::derive(move || principal.get().and_then(|p| ChannelName::new(ChannelKind::User, &p).ok()));
    let feed = use_channel(channel);

    view! {
        <section class="hero">
            <h1>"Real-time, without the refresh."</h1>
            <p class="lead">
                "Beacon moves this page the moment something happens: a wallet scan, a "
                "message, a notification. One connection per tab, resumed without loss "
                "after any network blink."
            </p>
            <div class="cta-row">
                <a class="button" href="/register/connect" rel="external">"Register with your wallet"</a>
                <a class="quiet-button" href="/me">"My account"</a>
            </div>
        </section>
        <section class="card" aria-labelledby="inbox-title">
            <div class="card-head">
                <h2 id="inbox-title">"Your live inbox"</h2>
                <code class="muted" data-testid="inbox-channel">
                    {move || channel.get().map(|c| c.to_string()).unwrap_or_default()}
                </code>
            </div>
            <Show
                when=move || !feed.events.get().is_empty()
                fallback=|| {
                    view! {
                        <p class="empty">
                            "Nothing yet. Events published to this channel appear here instantly."
                        </p>
                    }
                }
            >
                <ol class="feed" data-testid="inbox">
                    <For
                        each=move || feed.events.get().into_iter().rev()
                        key=|event| event.seq
                        let:event
                    >
                        <li class="feed-item" data-seq=event.seq>
                            <span class="seq">"#"{event.seq}</span>
                            <span class="payload">{summarize(&event.payload)}</span>
                        </li>
                    </For>
                </ol>
            </Show>
        </section>
    }
}

/// A one-line view of an event payload: its `text` field when it has one.
fn summarize(payload: &serde_json::Value) -> String {
    match payload.get("text").and_then(|t| t.as_str()) {
        Some(text) => text.to_owned(),
        None => payload.to_string(),
    }
}
