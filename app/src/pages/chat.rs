//! `/chat`: the visitor's conversations (unread markers and the last message,
//! kept live) and a form to start one; `/chat/join/{token}`: joining through
//! a share link.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use protocol::chat::{ConversationEvent, ConversationSummary};
use protocol::{ChannelKind, ChannelName};

use crate::chat::api;
use crate::realtime::use_channel_from;

/// Most conversations whose channels the list follows live (a socket carries
/// at most 64 subscriptions; the rest update when the page is opened again).
const LIVE_ROWS: usize = 40;

#[component]
pub fn ChatListPage() -> impl IntoView {
    let list = LocalResource::new(api::conversations);
    view! {
        <section class="connect-intro">
            <h1>"Conversations"</h1>
            <p class="lead">"Chat with typing indicators and presence, live on every tab."</p>
        </section>
        <NewConversation />
        <section class="card" aria-labelledby="your-conversations">
            <h2 id="your-conversations">"Yours"</h2>
            <Suspense fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) if rows.is_empty() => view! {
                            <p class="empty" data-testid="no-conversations">
                                "No conversations yet: start one, or open a share link someone sent you."
                            </p>
                        }.into_any(),
                        Ok(rows) => view! {
                            <ul class="chat-list" data-testid="conversation-list">
                                {rows.into_iter().enumerate().map(|(i, row)| view! {
                                    <ConversationRow row live=i < LIVE_ROWS />
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// One conversation in the list; follows its channel for new messages.
#[component]
fn ConversationRow(row: ConversationSummary, live: bool) -> impl IntoView {
    let unread = RwSignal::new(row.unread);
    let last = RwSignal::new(row.last_message.clone());
    let channel = ChannelName::new(ChannelKind::Conversation, &row.id).ok().filter(|_| live);
    let head = row.head_seq;
    let feed = use_channel_from(Signal::derive(move || channel.clone().map(|c| (c, head))));
    let applied = RwSignal::new(head);
    Effect::new(move |_| {
        for event in feed.events.get() {
            if event.seq <= applied.get_untracked() {
                continue;
            }
            applied.set(event.seq);
            if let Ok(ConversationEvent::Message { message }) = serde_json::from_value(event.payload.clone())
            {
                unread.update(|n| *n += 1);
                last.set(Some(message));
            }
        }
    });
    let href = format!("/chat/{}", row.id);
    view! {
        <li class="chat-row" data-testid="conversation-row">
            <a href=href class="chat-row-link">
                <span class="chat-row-title">{row.title}</span>
                <span class="chat-row-last">
                    {move || last.get().map(|m| format!("{}: {}", m.sender_name, m.text)).unwrap_or_else(|| "No messages yet".into())}
                </span>
            </a>
            <Show when=move || { unread.get() > 0 }>
                <span class="badge" data-testid="unread" aria-label=move || format!("{} unread", unread.get())>
                    {move || unread.get()}
                </span>
            </Show>
        </li>
    }
}

/// The name this browser used last, offered again.
fn remembered_name() -> String {
    #[cfg(feature = "hydrate")]
    if let Some(name) =
        window().local_storage().ok().flatten().and_then(|s| s.get_item("beacon.chat.name").ok().flatten())
    {
        return name;
    }
    String::new()
}

fn remember_name(name: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item("beacon.chat.name", name);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = name;
}

#[component]
fn NewConversation() -> impl IntoView {
    let title = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    Effect::new(move |_| name.set(remembered_name()));
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let navigate = navigate.clone();
        let (t, n) = (title.get_untracked(), name.get_untracked());
        leptos::task::spawn_local(async move {
            match api::create(t, n.clone()).await {
                Ok(view) => {
                    remember_name(&n);
                    navigate(&format!("/chat/{}", view.id), Default::default());
                }
                Err(err) => error.set(Some(err.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card" aria-labelledby="new-conversation">
            <h2 id="new-conversation">"Start a conversation"</h2>
            <form class="stack-form" on:submit=submit>
                <label>"Title" <input type="text" required maxlength="100" name="title" data-testid="new-title"
                    prop:value=move || title.get() on:input=move |ev| title.set(event_target_value(&ev)) /></label>
                <label>"Your name in it" <input type="text" required maxlength="40" name="display_name" data-testid="new-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                <button class="button" type="submit" data-testid="create-conversation" disabled=move || busy.get()>"Start"</button>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
            </form>
        </section>
    }
}

/// `/chat/join/{token}`: what the link leads to, and a name to join with.
#[component]
pub fn JoinPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let preview = LocalResource::new(move || api::preview(token()));
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| name.set(remembered_name()));
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let n = name.get_untracked();
        let t = token();
        leptos::task::spawn_local(async move {
            match api::accept(t, n.clone()).await {
                Ok(view) => {
                    remember_name(&n);
                    navigate(&format!("/chat/{}", view.id), Default::default());
                }
                Err(err) => error.set(Some(err.message)),
            }
        });
    };
    view! {
        <section class="card narrow">
            <Suspense fallback=|| view! { <p class="empty">"Opening the invitation…"</p> }>
                {move || {
                    let submit = submit.clone();
                    Suspend::new(async move {
                        match preview.await {
                            Ok(p) if p.joined => view! {
                                <h1>{p.title.clone()}</h1>
                                <p>"You are already in this conversation."</p>
                                <a class="button" href=format!("/chat/{}", p.conversation_id)>"Open it"</a>
                            }.into_any(),
                            Ok(p) => view! {
                                <h1>"Join “" {p.title.clone()} "”"</h1>
                                <p class="lead">{format!("{} member(s) so far.", p.members)}</p>
                                <form class="stack-form" on:submit=submit>
                                    <label>"Your name in it" <input type="text" required maxlength="40" data-testid="join-name"
                                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                                    <button class="button" type="submit" data-testid="join">"Join"</button>
                                    <Show when=move || error.get().is_some()>
                                        <p class="error" role="alert">{move || error.get()}</p>
                                    </Show>
                                </form>
                            }.into_any(),
                            Err(err) => view! {
                                <h1>"This link does not work"</h1>
                                <p class="error" role="alert">{err.message}</p>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}
