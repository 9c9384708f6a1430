//! What a dashboard keeps in this browser's localStorage: the op queue
//! (survives a reload, an offline spell and a closed tab), shared by every tab
//! of the browser, and a lease naming the one tab that sends it, so two tabs
//! never send the same op at once (and if a lease lapses mid-send, the op's
//! identity makes the second send a replay, not a second change). Also the
//! saved layout the "Restore layout" button puts back.

use protocol::dashboard::{LayoutItem, OP_TIMEOUT_MS};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::queue::{OpId, OpState, QueuedOp};

/// How long a tab's claim to send lasts without being renewed (it renews on
/// every pump, several times a second, while open).
const LEASE_MS: f64 = 3_000.0;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn key(dashboard: &str, what: &str) -> String {
    format!("beacon.dashboard.{dashboard}.{what}")
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A random id for this tab's page load (the ops' client id).
pub fn random_id(prefix: &str) -> String {
    let a = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let b = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{prefix}{a:08x}{b:08x}")
}

/// The stored queue as text (to tell whether it changed).
pub fn queue_text(dashboard: &str) -> Option<String> {
    storage()?.get_item(&key(dashboard, "queue")).ok().flatten()
}

/// The stored queue. An op some tab was sending when it went away is
/// queued again (its answer is lost with the tab; resending is a replay).
pub fn parse_queue(text: &str) -> Vec<QueuedOp> {
    let mut queue: Vec<QueuedOp> = serde_json::from_str(text).unwrap_or_default();
    let stale = now_ms() - OP_TIMEOUT_MS as f64;
    for queued in &mut queue {
        if matches!(queued.state, OpState::Sending { since } if since < stale) {
            queued.state = OpState::Queued;
        }
    }
    queue
}

/// Writes the queue; returns the text written.
pub fn save_queue(dashboard: &str, queue: &[QueuedOp]) -> String {
    let text = serde_json::to_string(queue).unwrap_or_else(|_| "[]".into());
    if let Some(storage) = storage() {
        let _ = storage.set_item(&key(dashboard, "queue"), &text);
    }
    text
}

/// Takes or renews the sending lease; whether this tab holds it now.
pub fn hold_lease(dashboard: &str, tab: &str) -> bool {
    let Some(storage) = storage() else { return true };
    let name = key(dashboard, "sender");
    let now = now_ms();
    let current = storage.get_item(&name).ok().flatten();
    let free = match current.as_deref().and_then(|v| v.split_once('|')) {
        Some((holder, until)) => holder == tab || until.parse::<f64>().map_or(true, |until| until < now),
        None => true,
    };
    if free {
        let _ = storage.set_item(&name, &format!("{tab}|{}", now + LEASE_MS));
    }
    free
}

/// Gives the lease up (the tab is closing), so another tab sends at once.
pub fn release_lease(dashboard: &str, tab: &str) {
    let Some(storage) = storage() else { return };
    let name = key(dashboard, "sender");
    if storage.get_item(&name).ok().flatten().is_some_and(|v| v.starts_with(&format!("{tab}|"))) {
        let _ = storage.remove_item(&name);
    }
}

/// Most finished op ids remembered (oldest forgotten first): far more than
/// can be in flight between two tabs' writes.
const MAX_FINISHED: usize = 500;

/// The ops some tab of this browser finished (acknowledged and seen, or
/// dropped), so an older copy of the queue cannot bring them back.
pub fn finished(dashboard: &str) -> Vec<OpId> {
    storage()
        .and_then(|s| s.get_item(&key(dashboard, "finished")).ok().flatten())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub fn add_finished(dashboard: &str, ids: impl IntoIterator<Item = OpId>) {
    let mut list = finished(dashboard);
    list.extend(ids);
    let excess = list.len().saturating_sub(MAX_FINISHED);
    list.drain(..excess);
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(&list)) {
        let _ = storage.set_item(&key(dashboard, "finished"), &text);
    }
}

pub fn save_layout(dashboard: &str, items: &[LayoutItem]) {
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(items)) {
        let _ = storage.set_item(&key(dashboard, "layout"), &text);
    }
}

pub fn saved_layout(dashboard: &str) -> Option<Vec<LayoutItem>> {
    let text = storage()?.get_item(&key(dashboard, "layout")).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Calls `changed` whenever another tab writes this browser's storage.
/// Returns the listener, to remove on cleanup.
pub fn on_storage(changed: impl Fn() + 'static) -> Option<Closure<dyn Fn(web_sys::Event)>> {
    let window = web_sys::window()?;
    let closure = Closure::<dyn Fn(web_sys::Event)>::new(move |_| changed());
    window.add_event_listener_with_callback("storage", closure.as_ref().unchecked_ref()).ok()?;
    Some(closure)
}

pub fn remove_storage_listener(listener: &Closure<dyn Fn(web_sys::Event)>) {
    if let Some(window) = web_sys::window() {
        let _ = window.remove_event_listener_with_callback("storage", listener.as_ref().unchecked_ref());
    }
}
