use leptos::prelude::*;
use protocol::inbox::StateChange;

use crate::inbox::use_inbox;

/// The bell: the unread count (rendered on the server, correct before any
/// script runs) and, on click, the latest notifications. Opening it marks
/// what it shows as seen; choosing one marks it read.
#[component]
pub fn Bell() -> impl IntoView {
    let inbox = use_inbox();
    let (open, set_open) = signal(false);
    let unread = move || inbox.counts.get().unread;
    let label = move || match unread() {
        0 => "Notifications, none unread".to_owned(),
        1 => "Notifications, 1 unread".to_owned(),
        n => format!("Notifications, {n} unread"),
    };
    let toggle = move |_| {
        let opening = !open.get_untracked();
        set_open.set(opening);
        if opening {
            let unseen: Vec<String> =
                inbox.latest.with_untracked(|l| l.iter().filter(|n| !n.seen).map(|n| n.id.clone()).collect());
            if !unseen.is_empty() {
                inbox.change(unseen, StateChange::Seen);
            }
        }
    };
    // Escape closes the dropdown, as every menu does.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            set_open.set(false);
        }
    };
    view! {
        <div class="bell-wrap" on:keydown=on_key>
            <button
                class="bell"
                type="button"
                aria-haspopup="true"
                aria-expanded=move || open.get().to_string()
                aria-label=label
                data-testid="bell"
                on:click=toggle
            >
                <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                    <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"/>
                </svg>
                <span class="badge" class:hidden=move || unread() == 0 data-testid="badge">{unread}</span>
            </button>
            <Show when=move || open.get()>
                <div class="dropdown" role="dialog" aria-label="Latest notifications" data-testid="dropdown">
                    <div class="dropdown-head">
                        <strong>"Notifications"</strong>
                        <button class="link-like" type="button" on:click=move |_| inbox.read_all() data-testid="dropdown-read-all">
                            "Mark all read"
                        </button>
                    </div>
                    <Show
                        when=move || !inbox.latest.get().is_empty()
                        fallback=|| view! { <p class="empty">"Nothing yet."</p> }
                    >
                        <ul class="dropdown-list">
                            <For each=move || inbox.latest.get() key=|n| (n.id.clone(), n.read, n.seen) let:item>
                                <li class:unread=!item.read>
                                    <a
                                        href=item.link.clone().unwrap_or_else(|| "/notifications".into())
                                        on:click={
                                            let id = item.id.clone();
                                            let read = item.read;
                                            move |_| {
                                                if !read {
                                                    inbox.change(vec![id.clone()], StateChange::Read);
                                                }
                                                set_open.set(false);
                                            }
                                        }
                                    >
                                        <span class="item-title">{item.title.clone()}</span>
                                        <span class="item-body">{item.body.clone()}</span>
                                    </a>
                                </li>
                            </For>
                        </ul>
                    </Show>
                    <a class="dropdown-all" href="/notifications" on:click=move |_| set_open.set(false)>"See all notifications"</a>
                </div>
            </Show>
        </div>
    }
}
