//! The browser side of the inbox: applying the channel's events in seq order,
//! reloading after a reset or a change of principal, and the actions, which
//! show at once (optimistically) and go to the server in order. Offline they
//! wait in the tab's queue and go out when the connection is back; the
//! server's events then set the authoritative counts.

use std::collections::VecDeque;

use leptos::prelude::*;
use protocol::inbox::{ChangeAnswer, InboxCounts, InboxEvent, InboxPage, InboxSummary, StateChange};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{Inbox, LATEST, PendingAction as Action, apply};
use crate::http::{self, HttpError};
use crate::realtime::{ConnState, use_realtime};

/// Actions waiting for the server, oldest first. When full, the oldest is
/// dropped (an hour offline clicking "read" is not worth unbounded memory).
const MAX_QUEUED: usize = 200;

/// Wires the inbox to the channel, the connection and the browser.
pub(super) fn start(inbox: Inbox) {
    // Events in seq order, each once; the feed restarts with a new principal.
    let applied = StoredValue::new((None::<String>, 0u64));
    Effect::new(move |_| {
        let events = inbox.feed.events.get();
        let principal = inbox.principal();
        for event in events {
            let fresh = applied.with_value(|(p, seq)| *p != principal || event.seq > *seq);
            if !fresh {
                continue;
            }
            applied.set_value((principal.clone(), event.seq));
            if let Ok(change) = serde_json::from_value::<InboxEvent>(event.payload.clone()) {
                inbox.apply_event(event.seq, change);
            }
            if event.seq > inbox.head.get_untracked() {
                inbox.head.set(event.seq);
            }
        }
    });

    // A reset (the tab was away longer than retention): read the inbox again.
    Effect::new(move |previous: Option<u32>| {
        let resets = inbox.feed.resets.get();
        if previous.is_some_and(|p| p != resets) {
            reload(inbox, None);
        }
        resets
    });

    // Registration or sign-out gives the tab another principal: its inbox.
    let realtime = use_realtime();
    Effect::new(move |_| {
        if let Some(principal) = realtime.principal.get()
            && inbox.principal().is_some_and(|loaded| loaded != principal)
        {
            reload(inbox, Some(principal));
        }
    });

    // Back online: send what waited.
    Effect::new(move |_| {
        if matches!(realtime.state.get(), ConnState::Live | ConnState::Polling) {
            flush(inbox);
        }
    });
    let online = Closure::<dyn Fn()>::new(move || flush(inbox));
    if let Some(window) = web_sys::window() {
        let _ = window.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
    }
    // Lives as long as the tab: the inbox is app-wide.
    online.forget();
}

/// Reads the inbox's first page again and loads it.
fn reload(inbox: Inbox, principal: Option<String>) {
    leptos::task::spawn_local(async move {
        let url = format!("/api/notifications?limit={LATEST}");
        match http::get_json::<InboxPage>(&url).await {
            Ok(page) => {
                let Some(principal) = principal.or_else(|| inbox.principal()) else { return };
                inbox.load(InboxSummary {
                    principal,
                    counts: page.counts,
                    latest: page.items,
                    head_seq: page.head_seq,
                });
                inbox.reloads.update(|n| *n += 1);
            }
            Err(err) => leptos::logging::warn!("beacon: reloading the inbox failed: {err}"),
        }
    });
}

fn enqueue(inbox: Inbox, action: Action) {
    inbox.pending.update_value(|actions| {
        if actions.len() >= MAX_QUEUED {
            actions.pop_front();
        }
        actions.push_back(action);
    });
    inbox.queued.set(inbox.pending.with_value(VecDeque::len));
    flush(inbox);
}

/// Sends queued actions in order; stops at the first one that cannot get
/// through now (offline, server busy) and keeps it for the next try.
fn flush(inbox: Inbox) {
    if inbox.flushing.get_value() || inbox.pending.with_value(VecDeque::is_empty) {
        return;
    }
    inbox.flushing.set_value(true);
    leptos::task::spawn_local(async move {
        while let Some(action) = inbox.pending.with_value(|a| a.front().cloned()) {
            match send(&action).await {
                Ok(_) => {}
                Err(err) if err.is_transient() => break,
                Err(err) => leptos::logging::warn!("beacon: inbox action refused: {err}"),
            }
            inbox.pending.update_value(|a| {
                a.pop_front();
            });
            inbox.queued.set(inbox.pending.with_value(VecDeque::len));
        }
        inbox.flushing.set_value(false);
    });
}

async fn send(action: &Action) -> Result<ChangeAnswer, HttpError> {
    match action {
        Action::Change { ids, change } => {
            let body = protocol::inbox::ChangeState { ids: ids.clone(), change: *change };
            http::send_json("POST", "/api/notifications/state", &body).await
        }
        Action::ReadAll { up_to } => {
            http::send_json(
                "POST",
                "/api/notifications/read-all",
                &protocol::inbox::ReadAll { up_to: *up_to },
            )
            .await
        }
    }
}

/// Shows a change at once (dropdown, pages, badge as far as this tab knows),
/// then queues it for the server.
pub(super) fn change(inbox: Inbox, ids: Vec<String>, change: StateChange) {
    let mut counts = inbox.counts.get_untracked();
    inbox.latest.with_untracked(|latest| {
        for item in latest.iter().filter(|n| ids.contains(&n.id)) {
            adjust(&mut counts, item, change);
        }
    });
    show(inbox, InboxEvent::Updated { ids: ids.clone(), change, counts });
    enqueue(inbox, Action::Change { ids, change });
}

/// Everything up to the newest seq this tab has applied becomes read.
pub(super) fn read_all(inbox: Inbox) {
    let up_to = inbox.head.get_untracked();
    let counts = InboxCounts { unread: 0, unseen: 0, ..inbox.counts.get_untracked() };
    show(inbox, InboxEvent::AllRead { up_to, counts });
    enqueue(inbox, Action::ReadAll { up_to });
}

/// Applies a local (not yet confirmed) change like an event without a seq.
fn show(inbox: Inbox, event: InboxEvent) {
    inbox.counts.set(event.counts());
    inbox.latest.update(|latest| apply::apply(latest, &event, apply::ListFilter::All, None));
    inbox.last_event.set(Some((0, event)));
}

/// What `change` does to the counts for one item this tab can see.
fn adjust(counts: &mut InboxCounts, item: &protocol::inbox::NotificationView, change: StateChange) {
    let live = !item.archived;
    match change {
        StateChange::Seen if live && !item.seen => counts.unseen = counts.unseen.saturating_sub(1),
        StateChange::Read if live && !item.read => {
            counts.unread = counts.unread.saturating_sub(1);
            if !item.seen {
                counts.unseen = counts.unseen.saturating_sub(1);
            }
        }
        StateChange::Unread if live && item.read => counts.unread += 1,
        StateChange::Archived if live => {
            counts.total = counts.total.saturating_sub(1);
            if !item.read {
                counts.unread = counts.unread.saturating_sub(1);
            }
            if !item.seen {
                counts.unseen = counts.unseen.saturating_sub(1);
            }
        }
        _ => {}
    }
}
