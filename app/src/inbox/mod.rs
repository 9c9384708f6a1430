//! The notification inbox in the browser: one state per tab, driven by the
//! events of `user:<principal>` in seq order, so every tab and device of a
//! person converges without refetching.
//!
//! - this file: the shared state ([`Inbox`]), loading it, and applying events.
//! - [`apply`]: how an event changes a list (pure, tested on the host).
//! - `actions` (browser only): mark seen / read / unread / archived, mark all
//!   read up to the last seq this tab saw; offline, actions wait in order and
//!   go out when the connection is back.

#[cfg(feature = "hydrate")]
mod actions;
pub mod apply;

use std::collections::VecDeque;

use leptos::prelude::*;
use protocol::inbox::{InboxCounts, InboxEvent, InboxSummary, NotificationView, StateChange};
use protocol::{ChannelKind, ChannelName};

use crate::realtime::{ChannelFeed, use_channel_from};

/// Toasts shown at once; a fourth pushes the oldest out.
pub const MAX_TOASTS: usize = 3;
/// Items in the header's dropdown.
pub const LATEST: usize = 5;

/// A new notification popping up while the page is open.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

/// The tab's inbox state, provided as context by the frame.
#[derive(Clone, Copy)]
pub struct Inbox {
    /// Whose inbox, and the seq the loaded state is as of.
    source: RwSignal<Option<(String, u64)>>,
    pub counts: RwSignal<InboxCounts>,
    /// The newest few, for the dropdown.
    pub latest: RwSignal<Vec<NotificationView>>,
    /// The highest seq of the channel this tab has applied: "mark all read"
    /// means everything up to here, so anything newer stays unread.
    pub head: RwSignal<u64>,
    pub toasts: RwSignal<Vec<Toast>>,
    /// The last inbox event applied, for pages that keep lists of their own.
    pub last_event: RwSignal<Option<(u64, InboxEvent)>>,
    /// Bumped when a page's list must be read again (a reset, another principal).
    pub reloads: RwSignal<u32>,
    /// Actions made offline, waiting for the connection.
    pub queued: RwSignal<usize>,
    /// Every event of the channel, raw (the home page shows them).
    pub feed: ChannelFeed,
    /// The actions themselves, oldest first, and whether a flush is running
    /// (the browser's; the server renders no actions).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pending: StoredValue<VecDeque<PendingAction>>,
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    flushing: StoredValue<bool>,
}

/// An action waiting for the server (only the browser makes them).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum PendingAction {
    Change { ids: Vec<String>, change: StateChange },
    ReadAll { up_to: u64 },
}

/// Creates the tab's inbox state, empty until [`Inbox::load`].
pub fn provide_inbox() -> Inbox {
    let source = RwSignal::new(None::<(String, u64)>);
    let channel = Signal::derive(move || {
        source.get().and_then(|(principal, head)| {
            ChannelName::new(ChannelKind::User, &principal).ok().map(|c| (c, head))
        })
    });
    let inbox = Inbox {
        source,
        counts: RwSignal::new(InboxCounts::default()),
        latest: RwSignal::new(Vec::new()),
        head: RwSignal::new(0),
        toasts: RwSignal::new(Vec::new()),
        last_event: RwSignal::new(None),
        reloads: RwSignal::new(0),
        queued: RwSignal::new(0),
        feed: use_channel_from(channel),
        pending: StoredValue::new(VecDeque::new()),
        flushing: StoredValue::new(false),
    };
    provide_context(inbox);
    #[cfg(feature = "hydrate")]
    actions::start(inbox);
    inbox
}

/// The tab's inbox.
pub fn use_inbox() -> Inbox {
    expect_context::<Inbox>()
}

impl Inbox {
    /// Takes a freshly read state. The channel is (re)subscribed from its
    /// head only when the principal changes; otherwise events already
    /// applied stay applied.
    pub fn load(&self, summary: InboxSummary) {
        let same = self.source.with_untracked(|s| s.as_ref().is_some_and(|(p, _)| *p == summary.principal));
        self.counts.set(summary.counts);
        self.latest.set(summary.latest);
        if !same {
            self.head.set(summary.head_seq);
            self.source.set(Some((summary.principal, summary.head_seq)));
        } else if summary.head_seq > self.head.get_untracked() {
            self.head.set(summary.head_seq);
        }
    }

    /// Whose inbox this is, once loaded.
    pub fn principal(&self) -> Option<String> {
        self.source.with(|s| s.as_ref().map(|(p, _)| p.clone()))
    }

    /// Applies one event of the channel (in seq order, each once).
    pub fn apply_event(&self, seq: u64, event: InboxEvent) {
        self.counts.set(event.counts());
        self.latest.update(|latest| {
            apply::apply(latest, &event, apply::ListFilter::All, None);
            latest.truncate(LATEST);
        });
        if let InboxEvent::Created { notification, toast: true, .. } = &event {
            let toast = Toast {
                id: notification.id.clone(),
                title: notification.title.clone(),
                body: notification.body.clone(),
                link: notification.link.clone(),
            };
            self.toasts.update(|toasts| {
                toasts.push(toast);
                while toasts.len() > MAX_TOASTS {
                    toasts.remove(0);
                }
            });
        }
        self.last_event.set(Some((seq, event)));
    }

    pub fn dismiss(&self, id: &str) {
        self.toasts.update(|toasts| toasts.retain(|t| t.id != id));
    }

    /// Marks notifications seen, read, unread, archived or unarchived.
    pub fn change(&self, ids: Vec<String>, change: StateChange) {
        #[cfg(feature = "hydrate")]
        actions::change(*self, ids, change);
        #[cfg(not(feature = "hydrate"))]
        let _ = (ids, change);
    }

    /// Marks read everything this tab has seen (up to [`Inbox::head`]).
    pub fn read_all(&self) {
        #[cfg(feature = "hydrate")]
        actions::read_all(*self);
    }
}
