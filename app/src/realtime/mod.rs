//! The realtime API pages use, the same on both sides of hydration.
//!
//! On the server it renders the initial state (connecting, no events). In the
//! browser, [`client`] holds the one connection per tab: a WebSocket with
//! backoff and resume, and a long-poll fallback that reads the same event log.

use leptos::prelude::*;
use protocol::{ChannelName, EventEnvelope};

#[cfg(feature = "hydrate")]
mod client;

/// Most events a channel feed keeps for display; older ones fall off the front
/// (the log on the server keeps them; a page that needs more fetches them).
pub const FEED_CAPACITY: usize = 200;

/// What the header shows about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// First connection attempt under way.
    Connecting,
    /// WebSocket open and authenticated.
    Live,
    /// Waiting before the next attempt.
    Reconnecting { retry_in_ms: u64 },
    /// WebSocket unavailable; events arrive by long-polling.
    Polling,
    /// The browser reports no network.
    Offline,
    /// A terminal close (see `protocol::CloseCode`): not retrying.
    Stopped { reason: String },
}

/// Handle to the tab's realtime connection, provided as context by [`App`](crate::App).
#[derive(Clone)]
pub struct Realtime {
    pub state: Signal<ConnState>,
    /// The principal the connection authenticated as, once known.
    pub principal: Signal<Option<String>>,
    #[cfg(feature = "hydrate")]
    client: send_wrapper::SendWrapper<std::rc::Rc<client::Client>>,
}

/// Events of one channel, newest last.
#[derive(Clone, Copy)]
pub struct ChannelFeed {
    pub events: ReadSignal<Vec<EventEnvelope>>,
    /// Bumped when the server answered `reset`: the page should refetch its state.
    pub resets: ReadSignal<u32>,
}

/// Creates the tab's connection (browser) or its initial state (server).
pub fn provide_realtime() {
    let (state, set_state) = signal(ConnState::Connecting);
    let (principal, set_principal) = signal(None::<String>);
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_state, set_principal);

    let realtime = Realtime {
        state: state.into(),
        principal: principal.into(),
        #[cfg(feature = "hydrate")]
        client: send_wrapper::SendWrapper::new(client::Client::start(set_state, set_principal)),
    };
    provide_context(realtime);
}

/// The tab's realtime handle.
pub fn use_realtime() -> Realtime {
    expect_context::<Realtime>()
}

/// Subscribes to `channel` while the calling component lives; `None` waits.
/// The feed resumes from its last seq after every reconnect, so it never
/// misses or repeats an event.
pub fn use_channel(channel: Signal<Option<ChannelName>>) -> ChannelFeed {
    use_channel_from(Signal::derive(move || channel.get().map(|c| (c, 0))))
}

/// Like [`use_channel`], starting after a given seq: a page that rendered a
/// state as of seq N subscribes from N and receives exactly the changes after it.
pub fn use_channel_from(channel: Signal<Option<(ChannelName, u64)>>) -> ChannelFeed {
    let (events, set_events) = signal(Vec::<EventEnvelope>::new());
    let (resets, set_resets) = signal(0u32);

    #[cfg(feature = "hydrate")]
    {
        let client = use_realtime().client;
        let client_for_cleanup = client.clone();
        Effect::new(move |previous: Option<Option<ChannelName>>| {
            let current = channel.get();
            let name = current.as_ref().map(|(name, _)| name.clone());
            if previous.as_ref() == Some(&name) {
                return name;
            }
            if let Some(Some(old)) = previous {
                client.unsubscribe(&old);
            }
            if let Some((name, since)) = current {
                set_events.set(Vec::new());
                client.subscribe(name, since, set_events, set_resets);
            }
            name
        });
        on_cleanup(move || {
            if let Some((name, _)) = channel.get_untracked() {
                client_for_cleanup.unsubscribe(&name);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (channel, set_events, set_resets);

    ChannelFeed { events, resets }
}

/// Appends `event` to a feed, keeping at most [`FEED_CAPACITY`].
pub fn push_bounded(feed: &mut Vec<EventEnvelope>, event: EventEnvelope) {
    if feed.len() >= FEED_CAPACITY {
        feed.remove(0);
    }
    feed.push(event);
}
