use leptos::prelude::*;

use crate::realtime::{ConnState, Quality, use_realtime};

/// The connection state as a pill in the header, with its quality (good,
/// degraded, poor, offline, polling) and the measured round trip. Screen
/// readers hear state changes politely; `data-state` and `data-quality` are
/// what tests and styles key on.
#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let realtime = use_realtime();
    let state = realtime.state;
    let (quality, rtt) = (realtime.quality, realtime.rtt_ms);
    let measured = move || match (quality.get(), rtt.get()) {
        (Quality::Offline, _) => String::new(),
        (Quality::Polling, _) => "polling".to_owned(),
        (q, Some(ms)) => format!("{} · {ms} ms", q.key()),
        (q, None) => q.key().to_owned(),
    };
    view! {
        <div
            class="conn"
            data-state=move || state.get().key()
            data-quality=move || quality.get().key()
            role="status"
            aria-live="polite"
            title=move || {
                let rtt = rtt.get().map(|ms| format!(", round trip {ms} ms")).unwrap_or_default();
                format!("{}. {}{rtt}", state.get().detail(), quality.get().label())
            }
        >
            <span class="conn-dot" aria-hidden="true"></span>
            <span class="conn-label">{move || state.get().label()}</span>
            <span class="conn-quality" data-testid="conn-quality">{measured}</span>
        </div>
    }
}

impl ConnState {
    /// Stable machine name, used as `data-state`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting { .. } => "reconnecting",
            Self::Polling => "polling",
            Self::Offline => "offline",
            Self::Stopped { .. } => "stopped",
        }
    }

    /// What a person reads in the header.
    pub fn label(&self) -> String {
        match self {
            Self::Connecting => "Connecting…".into(),
            Self::Live => "Live".into(),
            Self::Reconnecting { retry_in_ms } => {
                format!("Reconnecting in {} s", retry_in_ms.div_ceil(1000))
            }
            Self::Polling => "Live (fallback)".into(),
            Self::Offline => "Offline".into(),
            Self::Stopped { .. } => "Disconnected".into(),
        }
    }

    /// Longer explanation, as a tooltip.
    pub fn detail(&self) -> String {
        match self {
            Self::Connecting => "Opening the realtime connection".into(),
            Self::Live => "Updates arrive instantly".into(),
            Self::Reconnecting { .. } => {
                "The connection dropped; nothing will be missed when it is back".into()
            }
            Self::Polling => {
                "WebSocket unavailable: updates arrive by long-polling; retrying the WebSocket in the background".into()
            }
            Self::Offline => "Your device is offline; reconnecting when it is back".into(),
            Self::Stopped { reason } => format!("Disconnected: {reason}. Reload to try again."),
        }
    }
}
