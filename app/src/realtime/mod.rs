//! The realtime API pages use, the same on both sides of hydration.
//!
//! On the server it renders the initial state (connecting, no events). In the
//! browser, [`client`] holds the one connection per tab: a WebSocket with
//! backoff and resume, and a long-poll fallback that reads the same event log.

use leptos::prelude::*;
use protocol::chat::{Member, PresenceEntry};
use protocol::dashboard::MetricValue;
use protocol::{ChannelName, EventEnvelope};

#[cfg(feature = "hydrate")]
mod client;
pub mod policy;
pub mod quality;

#[cfg(feature = "hydrate")]
pub use client::SendFailure;
pub use quality::Quality;

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
    /// How good the link is, from the client's own measurements.
    pub quality: Signal<Quality>,
    /// The average round trip of the last pings, once measured.
    pub rtt_ms: Signal<Option<u32>>,
    #[cfg(feature = "hydrate")]
    client: send_wrapper::SendWrapper<std::rc::Rc<client::Client>>,
}

#[cfg(feature = "hydrate")]
impl Realtime {
    /// Sends a message to `channel`; `done` hears the ack (with its seq) or why not.
    pub fn publish(
        &self,
        channel: &ChannelName,
        client_id: &str,
        payload: serde_json::Value,
        done: impl FnOnce(Result<protocol::message::Ack, SendFailure>) + 'static,
    ) {
        self.client.publish(channel, client_id, payload, Box::new(done));
    }

    /// Sends a dashboard op on the socket; `done` hears the ack or why not.
    pub fn send_op(
        &self,
        dashboard: &str,
        op: protocol::dashboard::Op,
        done: impl FnOnce(Result<protocol::message::Ack, SendFailure>) + 'static,
    ) {
        self.client.send_op(dashboard, op, Box::new(done));
    }

    /// Whether [`Realtime::publish`] can go out now (an authenticated socket).
    pub fn can_publish(&self) -> bool {
        self.client.can_publish()
    }

    /// The person is typing on `channel` (or stopped).
    pub fn typing(&self, channel: &ChannelName, active: bool) {
        self.client.typing(channel, active);
    }

    /// The person used this tab.
    pub fn activity(&self) {
        self.client.activity();
    }
}

/// What one channel delivers: its events, newest last, and its live state.
#[derive(Clone, Copy)]
pub struct ChannelFeed {
    pub events: ReadSignal<Vec<EventEnvelope>>,
    /// Bumped when the server answered `reset`: the page should refetch its state.
    pub resets: ReadSignal<u32>,
    /// Who is here (conversations), from the snapshot and its diffs.
    pub presence: ReadSignal<Vec<PresenceEntry>>,
    /// Who is typing (conversations), the full set from the last signal.
    pub typing: ReadSignal<Vec<Member>>,
    /// The server ended the subscription: access was lost.
    pub revoked: ReadSignal<bool>,
    /// Dashboards: the newest live values of the metric sources.
    pub metrics: ReadSignal<Vec<MetricValue>>,
}

/// The write halves the connection fills in.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct FeedWriters {
    pub events: WriteSignal<Vec<EventEnvelope>>,
    pub resets: WriteSignal<u32>,
    pub presence: WriteSignal<Vec<PresenceEntry>>,
    pub typing: WriteSignal<Vec<Member>>,
    pub revoked: WriteSignal<bool>,
    pub metrics: WriteSignal<Vec<MetricValue>>,
}

/// Creates the tab's connection (browser) or its initial state (server).
pub fn provide_realtime() {
    let (state, set_state) = signal(ConnState::Connecting);
    let (principal, set_principal) = signal(None::<String>);
    let (quality, set_quality) = signal(Quality::Offline);
    let (rtt_ms, set_rtt) = signal(None::<u32>);
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_state, set_principal, set_quality, set_rtt);

    let realtime = Realtime {
        state: state.into(),
        principal: principal.into(),
        quality: quality.into(),
        rtt_ms: rtt_ms.into(),
        #[cfg(feature = "hydrate")]
        client: send_wrapper::SendWrapper::new(client::Client::start(
            set_state,
            set_principal,
            set_quality,
            set_rtt,
        )),
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
    let (presence, set_presence) = signal(Vec::<PresenceEntry>::new());
    let (typing, set_typing) = signal(Vec::<Member>::new());
    let (revoked, set_revoked) = signal(false);
    let (metrics, set_metrics) = signal(Vec::<MetricValue>::new());
    let writers = FeedWriters {
        metrics: set_metrics,
        events: set_events,
        resets: set_resets,
        presence: set_presence,
        typing: set_typing,
        revoked: set_revoked,
    };

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
                set_presence.set(Vec::new());
                set_typing.set(Vec::new());
                set_revoked.set(false);
                client.subscribe(name, since, writers);
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
    let _ = (channel, writers);

    ChannelFeed { events, resets, presence, typing, revoked, metrics }
}

/// Appends `event` to a feed, keeping at most [`FEED_CAPACITY`].
pub fn push_bounded(feed: &mut Vec<EventEnvelope>, event: EventEnvelope) {
    if feed.len() >= FEED_CAPACITY {
        feed.remove(0);
    }
    feed.push(event);
}
