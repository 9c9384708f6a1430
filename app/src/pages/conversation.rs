//! `/chat/{id}`: one conversation. History comes over HTTP (older pages on
//! request), everything after it live from the channel (subscribed from the
//! head the page loaded, so nothing is missed or shown twice); members with
//! presence dots, who is typing, and the outbox of messages on their way.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use protocol::chat::{ConversationEvent, ConversationView, Member, Message};
use protocol::{ChannelKind, ChannelName};

use crate::chat::composer::Composer;
use crate::chat::outbox::{Delivery, Outbox};
use crate::chat::{api, status_of, typing_line};
use crate::realtime::use_channel_from;

#[component]
pub fn ConversationPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let loaded = LocalResource::new(move || api::view(id()));
    view! {
        <Suspense fallback=|| view! { <section class="card"><p class="empty">"Loading the conversation…"</p></section> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Ok(view) => view! { <Conversation view /> }.into_any(),
                    Err(err) => view! {
                        <section class="card">
                            <h1>"Conversation not found"</h1>
                            <p class="error" role="alert">{err.message}</p>
                            <p><a href="/chat">"All conversations"</a></p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Inserts a message in seq order unless it is there already.
fn insert_message(list: &mut Vec<Message>, message: Message) {
    match list.binary_search_by_key(&message.seq, |m| m.seq) {
        Ok(_) => {}
        Err(at) => list.insert(at, message),
    }
}

#[component]
fn Conversation(view: ConversationView) -> impl IntoView {
    let id = view.id.clone();
    let me = view.me.member_id.clone();
    let channel = ChannelName::new(ChannelKind::Conversation, &id).expect("ids are channel-safe");
    let messages = RwSignal::new(Vec::<Message>::new());
    let members = RwSignal::new(view.members.clone());
    let has_more = RwSignal::new(false);
    let outbox = RwSignal::new(Outbox::default());
    let left = RwSignal::new(false);
    let feed = {
        let channel = channel.clone();
        use_channel_from(Signal::derive(move || Some((channel.clone(), view.head_seq))))
    };
    // History up to (at least) the head the channel resumes from.
    {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            if let Ok(page) = api::history(id, None).await {
                has_more.set(page.has_more);
                messages.update(|list| page.messages.into_iter().for_each(|m| insert_message(list, m)));
            }
        });
    }
    let applied = RwSignal::new(view.head_seq);
    {
        let me = me.clone();
        Effect::new(move |_| {
            for event in feed.events.get() {
                if event.seq <= applied.get_untracked() {
                    continue;
                }
                applied.set(event.seq);
                match serde_json::from_value::<ConversationEvent>(event.payload.clone()) {
                    Ok(ConversationEvent::Message { message }) => {
                        if message.sender == me {
                            outbox.update(|o| o.delivered(&message.client_id));
                        }
                        messages.update(|list| insert_message(list, message));
                    }
                    Ok(ConversationEvent::MemberJoined { member }) => members.update(|list| {
                        if !list.iter().any(|m| m.member_id == member.member_id) {
                            list.push(member);
                        }
                    }),
                    Ok(ConversationEvent::MemberLeft { member }) => {
                        members.update(|list| list.retain(|m| m.member_id != member.member_id))
                    }
                    Err(err) => leptos::logging::warn!("beacon: unknown conversation event: {err}"),
                }
            }
        });
    }
    Effect::new(move |_| {
        if feed.revoked.get() {
            left.set(true);
        }
    });
    // Read up to the newest message while the page is open.
    {
        let id = id.clone();
        let marked = StoredValue::new(view.last_read_seq);
        Effect::new(move |_| {
            let newest = messages.with(|list| list.last().map(|m| m.seq)).unwrap_or(0);
            if newest > marked.get_value() {
                marked.set_value(newest);
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    let _ = api::mark_read(id, newest).await;
                });
            }
        });
    }
    let load_older = {
        let id = id.clone();
        move || {
            let before = messages.with_untracked(|list| list.first().map(|m| m.seq));
            let id = id.clone();
            leptos::task::spawn_local(async move {
                if let Ok(page) = api::history(id, before).await {
                    has_more.set(page.has_more);
                    messages.update(|list| page.messages.into_iter().for_each(|m| insert_message(list, m)));
                }
            });
        }
    };
    let me_for_typing = me.clone();
    let me_for_chips = me.clone();
    let typing = move || feed.typing.with(|t| typing_line(t, &me_for_typing));
    let title = view.title.clone();
    let (tools_id, composer_id, composer_channel) = (id.clone(), id.clone(), channel.clone());
    view! {
        <section class="card chat" aria-labelledby="chat-title">
            <header class="chat-head">
                <div>
                    <p class="crumbs"><a href="/chat">"Conversations"</a></p>
                    <h1 id="chat-title">{title}</h1>
                </div>
                // Nothing to invite to or leave once the member has left.
                <Show when=move || !left.get()>
                    <ConversationTools id=tools_id.clone() />
                </Show>
            </header>
            <ul class="members" aria-label="Members" data-testid="members">
                <For each=move || members.get() key=|m| m.member_id.clone() let:member>
                    <MemberChip member me=me_for_chips.clone() presence=feed.presence />
                </For>
            </ul>
            <Show when=move || left.get()>
                <p class="error" role="alert" data-testid="left">"You are no longer in this conversation."</p>
            </Show>
            <Show when=move || has_more.get()>
                <button class="quiet-button" type="button" data-testid="older" on:click={
                    let load_older = load_older.clone();
                    move |_| load_older()
                }>"Show older messages"</button>
            </Show>
            <ul class="messages" role="log" aria-live="polite" aria-label="Messages" data-testid="messages">
                <For
                    each=move || messages.get()
                    key=|m| m.seq
                    children={
                        let me = me.clone();
                        move |message: Message| {
                            let mine = message.sender == me;
                            view! { <MessageRow message mine /> }
                        }
                    }
                />
                <For each=move || outbox.get().items().to_vec() key=|o| (o.client_id.clone(), format!("{:?}", o.delivery)) let:item>
                    <li class="message mine" data-testid="outgoing" data-state=delivery_key(&item.delivery)>
                        <span class="message-text">{item.text.clone()}</span>
                        <span class="message-state">{delivery_label(&item.delivery)}</span>
                        {matches!(item.delivery, Delivery::Failed { .. }).then(|| {
                            let client_id = item.client_id.clone();
                            view! {
                                <button class="quiet-button" type="button" on:click=move |_| outbox.update(|o| o.retry(&client_id))>
                                    "Retry"
                                </button>
                            }
                        })}
                    </li>
                </For>
            </ul>
            <p class="typing" aria-live="polite" data-testid="typing">{typing}</p>
            <Show when=move || !left.get()>
                <Composer conversation=composer_id.clone() channel=composer_channel.clone() outbox />
            </Show>
        </section>
    }
}

fn delivery_key(delivery: &Delivery) -> &'static str {
    match delivery {
        Delivery::Pending => "pending",
        Delivery::Sending => "sending",
        Delivery::Sent(_) => "sent",
        Delivery::Failed { .. } => "failed",
    }
}

fn delivery_label(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Pending => "Waiting for the connection…".into(),
        Delivery::Sending => "Sending…".into(),
        Delivery::Sent(_) => "Sent".into(),
        Delivery::Failed { reason, .. } => format!("Not sent: {reason}"),
    }
}

#[component]
fn MessageRow(message: Message, mine: bool) -> impl IntoView {
    let time = format_time(message.created_at);
    view! {
        <li class="message" class:mine=mine data-testid="message" data-seq=message.seq>
            <span class="message-author">{message.sender_name}</span>
            <time class="message-time">{time}</time>
            <span class="message-text">{message.text}</span>
        </li>
    }
}

/// `HH:MM` in UTC on the server, local time in the browser.
fn format_time(ms: i64) -> String {
    #[cfg(feature = "hydrate")]
    let (hours, minutes) = {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        (i64::from(date.get_hours()), i64::from(date.get_minutes()))
    };
    #[cfg(not(feature = "hydrate"))]
    let (hours, minutes) = {
        let minutes = (ms / 60_000).rem_euclid(24 * 60);
        (minutes / 60, minutes % 60)
    };
    format!("{hours:02}:{minutes:02}")
}

#[component]
fn MemberChip(
    member: Member,
    me: String,
    presence: ReadSignal<Vec<protocol::chat::PresenceEntry>>,
) -> impl IntoView {
    let id = member.member_id.clone();
    let status = Signal::derive(move || presence.with(|here| status_of(&id, here)));
    let you = member.member_id == me;
    let initial = member.name.chars().next().unwrap_or('?').to_uppercase().to_string();
    let name = member.name.clone();
    view! {
        <li class="member" data-testid="member" data-name=member.name.clone() data-presence=status>
            <span class="avatar" aria-hidden="true">{initial}<span class="presence-dot"></span></span>
            <span class="member-name">{name}{you.then_some(" (you)")}</span>
            <span class="visually-hidden">{move || format!(", {}", status.get())}</span>
        </li>
    }
}

/// Invite (a share link to copy) and leave.
#[component]
fn ConversationTools(id: String) -> impl IntoView {
    let link = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let invite = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                if let Ok(invite) = api::invite(id).await {
                    link.set(Some(absolute(&invite.path)));
                }
            });
        }
    };
    let leave = move |_| {
        let (id, navigate) = (id.clone(), navigate.clone());
        leptos::task::spawn_local(async move {
            if api::leave(id).await.is_ok() {
                navigate("/chat", Default::default());
            }
        });
    };
    view! {
        <div class="chat-tools">
            <button class="button" type="button" data-testid="invite" on:click=invite>"Invite"</button>
            <button class="quiet-button" type="button" data-testid="leave" on:click=leave>"Leave"</button>
            <Show when=move || link.get().is_some()>
                <label class="invite-link">"Share this link"
                    <input type="text" readonly data-testid="invite-link" prop:value=move || link.get().unwrap_or_default() />
                </label>
            </Show>
        </div>
    }
}

fn absolute(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    if let Ok(origin) = window().location().origin() {
        return format!("{origin}{path}");
    }
    path.to_owned()
}
