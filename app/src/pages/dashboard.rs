//! `/dashboards/{id}`: one live dashboard. The snapshot comes over HTTP,
//! every change after it from the channel (subscribed from the snapshot's
//! seq). Edits are ops in a queue kept in localStorage: shown at once, sent
//! in order over the socket (over HTTP when the socket cannot connect), by
//! one tab of the browser at a time, confirmed by their events.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use protocol::dashboard::board::Board;
use protocol::dashboard::{
    DashboardEvent, DashboardView, Field, LayoutItem, MetricSource, NewWidget, Op, OpKind, Pos, Role, Size,
    WidgetKind,
};
use protocol::{ChannelKind, ChannelName};

use crate::dashboard::api;
use crate::dashboard::grid::{GridContext, WidgetCard};
use crate::dashboard::panel::{ConflictCard, SyncIndicator, sync_state};
use crate::dashboard::queue::{Model, OpState};
use crate::realtime::{ConnState, use_channel_from, use_realtime};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let loaded = LocalResource::new(move || api::view(id()));
    view! {
        <Suspense fallback=|| view! { <section class="card"><p class="empty">"Loading the dashboard…"</p></section> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Ok(view) => view! { <LiveDashboard view /> }.into_any(),
                    Err(err) => view! {
                        <section class="card">
                            <h1>"Dashboard not found"</h1>
                            <p class="error" role="alert">{err.message}</p>
                            <p><a href="/dashboards">"All dashboards"</a></p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Where a new widget goes: the first row below everything.
fn free_row(board: &Board) -> u32 {
    board.widgets.values().map(|w| w.pos.value.y + w.size.value.h).max().unwrap_or(0).min(99)
}

#[component]
fn LiveDashboard(view: DashboardView) -> impl IntoView {
    let realtime = use_realtime();
    let id = view.id.clone();
    let can_write = view.role.may_write();
    let model = RwSignal::new(Model::new(Board::from_snapshot(view.version, view.widgets.clone())));
    let notice = RwSignal::new(None::<String>);
    let channel = ChannelName::new(ChannelKind::Dashboard, &id).expect("ids are channel-safe");
    let feed = {
        let channel = channel.clone();
        use_channel_from(Signal::derive(move || Some((channel.clone(), view.head_seq))))
    };
    // This page load's client id and op seqs (random per load: two tabs or
    // two loads never share an op identity).
    let client_id = StoredValue::new(String::new());
    let next_seq = StoredValue::new(1u64);
    #[cfg(feature = "hydrate")]
    client_id.set_value(crate::dashboard::local::random_id("tab-"));

    let applied = RwSignal::new(view.head_seq);
    Effect::new(move |_| {
        for event in feed.events.get() {
            if event.seq <= applied.get_untracked() {
                continue;
            }
            applied.set(event.seq);
            match serde_json::from_value::<DashboardEvent>(event.payload.clone()) {
                Ok(event) => model.update(|m| m.on_event(&event)),
                Err(err) => leptos::logging::warn!("beacon: unknown dashboard event: {err}"),
            }
        }
    });
    // A reset (the log cannot serve our seq): reload the snapshot under the queue.
    {
        let id = id.clone();
        Effect::new(move |previous: Option<u32>| {
            let resets = feed.resets.get();
            if previous.is_some_and(|p| p != resets) {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(fresh) = api::view(id).await {
                        model.update(|m| {
                            m.replace_confirmed(Board::from_snapshot(fresh.version, fresh.widgets))
                        });
                        applied.set(fresh.head_seq);
                        // Events that came while the snapshot loaded and are newer than it.
                        let newer =
                            feed.events.get_untracked().into_iter().filter(|e| e.seq > fresh.head_seq);
                        for event in newer {
                            applied.set(event.seq);
                            if let Ok(event) = serde_json::from_value::<DashboardEvent>(event.payload) {
                                model.update(|m| m.on_event(&event));
                            }
                        }
                    }
                });
            }
            resets
        });
    }

    let edit = Callback::new(move |op: OpKind| {
        let op = Op { client_id: client_id.get_value(), op_seq: next_seq.get_value(), op };
        next_seq.update_value(|n| *n += 1);
        if model.try_update(|m| m.enqueue(op)).is_some_and(|r| r.is_err()) {
            notice.set(Some("Too many changes waiting to be saved; wait until you are back online.".into()));
        }
    });
    let base_of = Callback::new(move |(widget, field): (String, Field)| {
        model.with_untracked(|m| m.base_of(&widget, field))
    });
    let widget_base = Callback::new(move |widget: String| model.with_untracked(|m| m.widget_base(&widget)));
    let place = Callback::new(move |(widget, pos, size): (String, Pos, Size)| {
        let op = model.with_untracked(|m| {
            crate::dashboard::layout::place(&m.view(), &widget, pos, size, |w, f| m.base_of(w, f))
        });
        if let Some(op) = op {
            edit.run(op);
        }
    });
    let editor = RwSignal::new(None);
    let ctx = GridContext { edit, place, base_of, widget_base, can_write, metrics: feed.metrics, editor };

    #[cfg(feature = "hydrate")]
    crate::dashboard::sync::drive(id.clone(), model, notice, realtime.clone());

    let add = move |kind: WidgetKind| {
        let y = model.with_untracked(|m| free_row(&m.view()));
        let (title, body, size) = match kind {
            WidgetKind::Note => ("New note", "Write something here.", Size { w: 4, h: 2 }),
            WidgetKind::Metric => ("Live value", "", Size { w: 3, h: 2 }),
        };
        #[cfg(feature = "hydrate")]
        let widget_id = crate::dashboard::local::random_id("w");
        #[cfg(not(feature = "hydrate"))]
        let widget_id = String::from("w");
        let widget = NewWidget {
            id: widget_id,
            kind,
            title: title.into(),
            body: body.into(),
            source: MetricSource::Demo,
            pos: Pos { x: 0, y },
            size,
        };
        edit.run(OpKind::Add { widget });
    };
    let saved_layout = RwSignal::new(false);
    let save_layout = {
        let id = id.clone();
        move |_| {
            let items: Vec<LayoutItem> = model.with_untracked(|m| {
                m.view()
                    .widgets
                    .values()
                    .map(|w| LayoutItem {
                        widget_id: w.id.clone(),
                        pos: w.pos.value,
                        size: w.size.value,
                        pos_base: 0,
                        size_base: 0,
                    })
                    .collect()
            });
            #[cfg(feature = "hydrate")]
            crate::dashboard::local::save_layout(&id, &items);
            let _ = (&id, items);
            saved_layout.set(true);
        }
    };
    let restore_layout = {
        let id = id.clone();
        move |_| {
            #[cfg(feature = "hydrate")]
            let saved = crate::dashboard::local::saved_layout(&id).unwrap_or_default();
            #[cfg(not(feature = "hydrate"))]
            let saved: Vec<LayoutItem> = {
                let _ = &id;
                Vec::new()
            };
            let items: Vec<LayoutItem> = model.with_untracked(|m| {
                saved
                    .into_iter()
                    .filter(|item| m.confirmed.widgets.contains_key(&item.widget_id))
                    .map(|item| LayoutItem {
                        pos_base: m.base_of(&item.widget_id, Field::Pos),
                        size_base: m.base_of(&item.widget_id, Field::Size),
                        ..item
                    })
                    .collect()
            });
            if items.is_empty() {
                notice.set(Some("No saved layout for the widgets on this dashboard.".into()));
            } else {
                edit.run(OpKind::RestoreLayout { items });
            }
        }
    };

    let connected = {
        let state = realtime.state;
        Signal::derive(move || matches!(state.get(), ConnState::Live | ConnState::Polling))
    };
    let pending = Signal::derive(move || model.with(|m| m.pending()));
    let sync = Signal::derive(move || {
        model.with(|m| sync_state(m.pending(), m.conflicted().count(), connected.get()))
    });
    let decide =
        Callback::new(move |(client, seq, widget, field, keep): crate::dashboard::panel::Decision| {
            let new_seq = next_seq.get_value();
            let used = model.try_update(|m| {
                m.resolve(&client, seq, &widget, field, keep, &client_id.get_value(), new_seq)
            });
            if used == Some(true) {
                next_seq.update_value(|n| *n += 1);
            }
        });

    let title = view.title.clone();
    let role = view.role;
    view! {
        <section class="dash-head">
            <div>
                <h1 data-testid="dashboard-title">{title}</h1>
                <p class="muted">{format!("You are {} here.", match role { Role::Owner => "the owner", Role::Editor => "an editor", Role::Viewer => "a viewer" })}</p>
            </div>
            <SyncIndicator state=sync pending />
        </section>
        {move || notice.get().map(|text| view! {
            <p class="notice" role="alert" data-testid="notice">{text}
                <button type="button" class="link-like" on:click=move |_| notice.set(None)>"Dismiss"</button>
            </p>
        })}
        {can_write.then(|| view! {
            <div class="toolbar">
                <button type="button" class="button" data-testid="add-note" on:click=move |_| add(WidgetKind::Note)>"Add note"</button>
                <button type="button" class="button" data-testid="add-metric" on:click=move |_| add(WidgetKind::Metric)>"Add live value"</button>
                <button type="button" class="quiet-button" data-testid="save-layout" on:click=save_layout>
                    {move || if saved_layout.get() { "Layout saved" } else { "Save layout" }}
                </button>
                <button type="button" class="quiet-button" data-testid="restore-layout" on:click=restore_layout>"Restore layout"</button>
            </div>
        }.into_any())}
        {move || {
            let conflicts: Vec<_> = model.with(|m| {
                let shown = m.view();
                m.conflicted().map(|(op, conflicts)| {
                    let name = conflicts.first().and_then(|c| shown.widgets.get(&c.widget_id).or(m.confirmed.widgets.get(&c.widget_id)))
                        .map(|w| w.title.value.clone()).unwrap_or_else(|| "A widget".into());
                    (op.clone(), conflicts.to_vec(), name)
                }).collect()
            });
            (!conflicts.is_empty()).then(|| view! {
                <section class="card conflicts" aria-labelledby="conflicts-title">
                    <h2 id="conflicts-title">"Needs your choice"</h2>
                    {conflicts.into_iter().map(|(op, conflicts, widget_title)| view! {
                        <ConflictCard op conflicts widget_title decide />
                    }).collect_view()}
                </section>
            }.into_any())
        }}
        <div class="grid" data-testid="grid">
            {move || model.with(|m| m.view().widgets.is_empty()).then(|| view! {
                <p class="empty grid-empty" data-testid="no-widgets">"No widgets yet."</p>
            })}
            // Keyed by the widget's content: a card is rebuilt only when its
            // own widget changes, so an editor open on one card survives
            // everyone else's changes.
            <For each=move || cards(&model.get()) key=|card| card.key.clone() let:card>
                <WidgetCard widget=card.widget ctx pending=card.pending attention=card.attention />
            </For>
        </div>
        {(role == Role::Owner).then(|| view! { <Share id=id.clone() /> }.into_any())}
    }
}

/// A card as the grid shows it, with the key that changes whenever it does.
struct Card {
    key: String,
    widget: protocol::dashboard::Widget,
    pending: bool,
    attention: bool,
}

fn cards(model: &Model) -> Vec<Card> {
    let mut pending = std::collections::BTreeSet::new();
    let mut attention = std::collections::BTreeSet::new();
    for queued in &model.queue {
        match &queued.state {
            OpState::Conflict { conflicts } => {
                attention.extend(conflicts.iter().map(|c| c.widget_id.clone()))
            }
            _ => pending.extend(queued.op.op.widget_ids().into_iter().map(str::to_owned)),
        }
    }
    model
        .view()
        .in_order()
        .into_iter()
        .map(|widget| {
            let (pending, attention) = (pending.contains(&widget.id), attention.contains(&widget.id));
            Card {
                key: format!("{widget:?}{pending}{attention}"),
                widget: widget.clone(),
                pending,
                attention,
            }
        })
        .collect()
}

/// The owner's share links, one per role.
#[component]
fn Share(id: String) -> impl IntoView {
    let link = RwSignal::new(None::<(Role, String)>);
    let error = RwSignal::new(None::<String>);
    let make = move |role: Role| {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::invite(id, role).await {
                Ok(invite) => link.set(Some((role, invite.path))),
                Err(err) => error.set(Some(err.message)),
            }
        });
    };
    let make2 = make.clone();
    view! {
        <section class="card" aria-labelledby="share-title">
            <h2 id="share-title">"Share"</h2>
            <div class="row">
                <button type="button" class="quiet-button" data-testid="invite-editor" on:click=move |_| make(Role::Editor)>"Link for an editor"</button>
                <button type="button" class="quiet-button" data-testid="invite-viewer" on:click=move |_| make2(Role::Viewer)>"Link for a viewer"</button>
            </div>
            {move || link.get().map(|(role, path)| view! {
                <p>{format!("Anyone with this link joins as {}: ", role.as_str())}<a data-testid="invite-link" href=path.clone()>{path.clone()}</a></p>
            })}
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
