use leptos::prelude::*;
use protocol::inbox::{NotificationView, StateChange};

use crate::api::{load_inbox_page, load_preferences, save_preference};
use crate::inbox::apply::{ListFilter, apply};
use crate::inbox::use_inbox;

/// `/notifications`: the whole inbox, newest first, with filters, read state,
/// archive, "mark all read", more as you scroll, and per-category preferences.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let inbox = use_inbox();
    let (filter, set_filter) = signal(ListFilter::All);
    let (category, set_category) = signal(None::<String>);
    let first = Resource::new(
        move || (filter.get(), category.get(), inbox.reloads.get()),
        |(filter, category, _)| load_inbox_page(filter.query().to_owned(), category, None),
    );

    let tab = move |value: ListFilter, label: &'static str| {
        view! {
            <button
                type="button"
                class="tab"
                aria-pressed=move || (filter.get() == value).to_string()
                on:click=move |_| set_filter.set(value)
            >
                {label}
            </button>
        }
    };

    view! {
        <section class="connect-intro">
            <h1>"Notifications"</h1>
            <p class="lead" data-testid="page-counts">
                {move || {
                    let counts = inbox.counts.get();
                    format!("{} unread of {}", counts.unread, counts.total)
                }}
            </p>
        </section>
        <section class="card inbox-card">
            <div class="inbox-tools">
                <div class="tabs" role="group" aria-label="Show">
                    {tab(ListFilter::All, "All")}
                    {tab(ListFilter::Unread, "Unread")}
                    {tab(ListFilter::Archived, "Archived")}
                </div>
                <label class="category-pick">
                    <span class="visually-hidden">"Category"</span>
                    <select on:change=move |ev| {
                        let value = event_target_value(&ev);
                        set_category.set((!value.is_empty()).then_some(value));
                    }>
                        <option value="">"All categories"</option>
                        <option value="mention">"Mentions"</option>
                        <option value="comment">"Comments"</option>
                        <option value="chat">"Chats"</option>
                        <option value="system">"System"</option>
                        <option value="security">"Security"</option>
                    </select>
                </label>
                <button class="button" type="button" data-testid="read-all" on:click=move |_| inbox.read_all()>
                    "Mark all read"
                </button>
            </div>
            <Suspense fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(page) => Some(view! {
                            <InboxList
                                items=page.items
                                next=page.next_cursor
                                filter=filter.get_untracked()
                                category=category.get_untracked()
                            />
                        }),
                        Err(err) => {
                            leptos::logging::warn!("beacon: inbox page: {err}");
                            None
                        }
                    }
                })}
            </Suspense>
        </section>
        <PreferencesCard />
    }
}

/// One read of the list (a filter and category) and what follows it: events
/// applied as they come, and more pages as the end scrolls into view.
///
/// The list's signals are created here from the page, not written into from
/// the `Suspend` that loaded it: the server resolves a `Suspend` on two
/// threads at once, and a shared signal written there could be read meanwhile.
#[component]
fn InboxList(
    items: Vec<NotificationView>,
    next: Option<String>,
    filter: ListFilter,
    category: Option<String>,
) -> impl IntoView {
    let inbox = use_inbox();
    let items = RwSignal::new(items);
    let next = RwSignal::new(next);
    let loading = RwSignal::new(false);
    // Every change anywhere (this tab, another tab, another device) reaches the list.
    Effect::new({
        let category = category.clone();
        move |_| {
            if let Some((_, event)) = inbox.last_event.get() {
                items.update(|list| apply(list, &event, filter, category.as_deref()));
            }
        }
    });
    let load_more = move || {
        let Some(cursor) = next.get_untracked() else { return };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        let category = category.clone();
        leptos::task::spawn_local(async move {
            let page = load_inbox_page(filter.query().to_owned(), category, Some(cursor)).await;
            if let Ok(page) = page {
                items.update(|list| {
                    for item in page.items {
                        if !list.iter().any(|n| n.id == item.id) {
                            list.push(item);
                        }
                    }
                });
                next.set(page.next_cursor);
            }
            loading.set(false);
        });
    };
    let sentinel = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    watch_sentinel(sentinel, load_more.clone());

    view! {
        <Show
            when=move || !items.get().is_empty()
            fallback=|| view! { <p class="empty" data-testid="inbox-empty">"Nothing here."</p> }
        >
            <ul class="inbox-list" data-testid="inbox-list">
                <For each=move || items.get() key=|n| (n.id.clone(), n.read, n.archived) let:item>
                    <NotificationRow item />
                </For>
            </ul>
        </Show>
        <div node_ref=sentinel class="sentinel"></div>
        <Show when=move || next.get().is_some()>
            <button
                class="quiet-button"
                type="button"
                on:click={
                    let load_more = load_more.clone();
                    move |_| load_more()
                }
                disabled=move || loading.get()
            >
                {move || if loading.get() { "Loading…" } else { "Load more" }}
            </button>
        </Show>
    }
}

#[component]
fn NotificationRow(item: NotificationView) -> impl IntoView {
    let inbox = use_inbox();
    let id = item.id.clone();
    let (read, archived) = (item.read, item.archived);
    let link = item.link.clone().unwrap_or_else(|| "#".into());
    let open = {
        let id = id.clone();
        move |_| {
            if !read {
                inbox.change(vec![id.clone()], StateChange::Read);
            }
        }
    };
    let toggle_read = {
        let id = id.clone();
        move |_| inbox.change(vec![id.clone()], if read { StateChange::Unread } else { StateChange::Read })
    };
    let toggle_archive = move |_| {
        inbox.change(vec![id.clone()], if archived { StateChange::Unarchived } else { StateChange::Archived })
    };
    view! {
        <li class="inbox-item" class:unread=!read data-id=item.id.clone() data-read=read.to_string()>
            <a class="inbox-main" href=link on:click=open>
                <span class="chip">{item.category.clone()}</span>
                <span class="item-title">{item.title.clone()}</span>
                <span class="item-body">{item.body.clone()}</span>
            </a>
            <div class="inbox-actions">
                <button type="button" class="link-like" on:click=toggle_read>
                    {if read { "Mark unread" } else { "Mark read" }}
                </button>
                <button type="button" class="link-like" on:click=toggle_archive>
                    {if archived { "Unarchive" } else { "Archive" }}
                </button>
            </div>
        </li>
    }
}

/// Mute or unmute each category; critical ones cannot be muted.
#[component]
fn PreferencesCard() -> impl IntoView {
    let preferences = Resource::new(|| (), |_| load_preferences());
    view! {
        <section class="card">
            <h2>"What you hear about"</h2>
            <p class="muted">"Muted categories still arrive in your inbox, already read and without a pop-up."</p>
            <Suspense fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    preferences.await.map(|prefs| {
                        prefs.categories.into_iter().map(|pref| {
                            let category = pref.category.clone();
                            view! {
                                <label class="pref">
                                    <input
                                        type="checkbox"
                                        checked=!pref.muted
                                        disabled=pref.critical
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            let category = category.clone();
                                            leptos::task::spawn_local(async move {
                                                let _ = save_preference(category, !on).await;
                                            });
                                        }
                                    />
                                    {pref.category.clone()}
                                    {pref.critical.then_some(" (always on)")}
                                </label>
                            }
                        }).collect_view()
                    }).ok()
                })}
            </Suspense>
        </section>
    }
}

/// Loads the next page when the end of the list scrolls into view.
#[cfg(feature = "hydrate")]
fn watch_sentinel(sentinel: NodeRef<leptos::html::Div>, load_more: impl Fn() + Clone + 'static) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    Effect::new(move |_| {
        let Some(element) = sentinel.get() else { return };
        let load_more = load_more.clone();
        let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let visible = entries
                .iter()
                .any(|entry| entry.unchecked_into::<web_sys::IntersectionObserverEntry>().is_intersecting());
            if visible {
                load_more();
            }
        });
        if let Ok(observer) = web_sys::IntersectionObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(&element);
            // The callback lives exactly as long as the observer that calls it.
            let held = send_wrapper::SendWrapper::new((observer, callback));
            on_cleanup(move || {
                held.0.disconnect();
                drop(held);
            });
        }
    });
}
