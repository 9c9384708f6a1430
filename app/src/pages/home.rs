use leptos::prelude::*;

use crate::api::send_demo;
use crate::inbox::use_inbox;

/// The categories the demo sends, with their button labels.
const DEMO: [(&str, &str); 4] = [
    ("mention", "A mention"),
    ("comment", "A comment"),
    ("system", "A system notice"),
    ("security", "A security alert"),
];

/// The start page: what Beacon is, a demo that sends the visitor a
/// notification of each category, and the visitor's channel (`user:<principal>`)
/// as raw events, which anything holding the publish API key can write to.
#[component]
pub fn HomePage() -> impl IntoView {
    let inbox = use_inbox();
    let feed = inbox.feed;
    let channel = move || inbox.principal().map(|p| format!("user:{p}"));
    let send = Action::new(|category: &String| send_demo(category.clone()));

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
        <section class="card" aria-labelledby="demo-title">
            <h2 id="demo-title">"Try the inbox"</h2>
            <p class="muted">"Send yourself a notification: the bell, the toast and every other tab of yours move at once."</p>
            <div class="cta-row">
                {DEMO.iter().map(|(category, label)| {
                    let category = (*category).to_owned();
                    view! {
                        <button
                            class="quiet-button"
                            type="button"
                            data-demo=category.clone()
                            on:click=move |_| { send.dispatch(category.clone()); }
                        >
                            {*label}
                        </button>
                    }
                }).collect_view()}
            </div>
            {move || send.value().get().and_then(|r| r.err()).map(|err| view! {
                <p class="form-error" role="alert">{err.to_string()}</p>
            })}
        </section>
        <section class="card" aria-labelledby="inbox-title">
            <div class="card-head">
                <h2 id="inbox-title">"Your channel, live"</h2>
                <code class="muted" data-testid="inbox-channel">{move || channel().unwrap_or_default()}</code>
            </div>
            <Show
                when=move || !feed.events.get().is_empty()
                fallback=|| {
                    view! {
                        <p class="empty">
                            "Nothing yet. Events on this channel (notifications, and anything published to it) appear here instantly."
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
    if let Some(title) = payload.pointer("/notification/title").and_then(|t| t.as_str()) {
        return format!("New notification: {title}");
    }
    if let Some(kind) = payload.get("kind").and_then(|k| k.as_str()) {
        return kind.to_owned();
    }
    match payload.get("text").and_then(|t| t.as_str()) {
        Some(text) => text.to_owned(),
        None => payload.to_string(),
    }
}
