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

use crate::api::inbox_summary;
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

/// The server's answer the inbox starts from.
pub type SummaryResource = Resource<Result<InboxSummary, leptos::prelude::ServerFnError>>;

/// The tab's inbox state, provided as context by the frame.
#[derive(Clone, Copy)]
pub struct Inbox {
    summary: SummaryResource,
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

/// Creates the tab's inbox state and starts loading the server's summary
/// ([`Inbox::ready`] waits for it).
///
/// No inbox signal is written while the server renders: Leptos resolves a
/// `Suspense` on two threads at once (its render, and an effect that polls the
/// same `Suspend` to find the resources it reads), and a signal written on one
/// while the other reads it panics. So the server loads the state inside the
/// summary's fetch, before the resource is ready and before anything that
/// waits for it reads the state; the browser (one thread) loads it in `ready`.
pub fn provide_inbox() -> Inbox {
    let source = RwSignal::new(None::<(String, u64)>);
    let counts = RwSignal::new(InboxCounts::default());
    let latest = RwSignal::new(Vec::new());
    let head = RwSignal::new(0);
    // Blocking: the badge's count is in the first HTML, before any script.
    let summary = Resource::new_blocking(
        || (),
        move |_| async move {
            let summary = inbox_summary().await;
            #[cfg(not(feature = "hydrate"))]
            if let Ok(summary) = &summary {
                load_state(source, counts, latest, head, summary.clone());
            }
            summary
        },
    );
    let channel = Signal::derive(move || {
        source.get().and_then(|(principal, head)| {
            ChannelName::new(ChannelKind::User, &principal).ok().map(|c| (c, head))
        })
    });
    let inbox = Inbox {
        summary,
        source,
        counts,
        latest,
        head,
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

/// Takes a freshly read state. The channel is (re)subscribed from its head
/// only when the principal changes; otherwise events already applied stay applied.
fn load_state(
    source: RwSignal<Option<(String, u64)>>,
    counts: RwSignal<InboxCounts>,
    latest: RwSignal<Vec<NotificationView>>,
    head: RwSignal<u64>,
    summary: InboxSummary,
) {
    let same = source.with_untracked(|s| s.as_ref().is_some_and(|(p, _)| *p == summary.principal));
    counts.set(summary.counts);
    latest.set(summary.latest);
    if !same {
        head.set(summary.head_seq);
        source.set(Some((summary.principal, summary.head_seq)));
    } else if summary.head_seq > head.get_untracked() {
        head.set(summary.head_seq);
    }
}

/// The tab's inbox.
pub fn use_inbox() -> Inbox {
    expect_context::<Inbox>()
}

impl Inbox {
    /// Waits for the server's summary, and in the browser loads it (once;
    /// later calls only wait). Await it in the `Suspense` of anything that
    /// shows inbox state. The server loaded it in the fetch (see [`provide_inbox`]).
    pub async fn ready(&self) {
        let summary = self.summary.await;
        #[cfg(feature = "hydrate")]
        if let Ok(summary) = summary
            && self.source.with_untracked(Option::is_none)
        {
            self.load(summary);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = summary;
    }

    /// Takes a freshly read state (see [`load_state`]).
    pub fn load(&self, summary: InboxSummary) {
        load_state(self.source, self.counts, self.latest, self.head, summary);
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
