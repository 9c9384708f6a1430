use leptos::prelude::*;

use crate::inbox::use_inbox;

/// How long a toast stays unless dismissed.
#[cfg(feature = "hydrate")]
const TOAST_MS: u64 = 8_000;

/// New notifications while the page is open: at most three stacked, each
/// dismissable, announced to screen readers.
#[component]
pub fn Toasts() -> impl IntoView {
    let inbox = use_inbox();
    #[cfg(feature = "hydrate")]
    Effect::new(move |shown: Option<Vec<String>>| {
        let current: Vec<String> = inbox.toasts.with(|t| t.iter().map(|t| t.id.clone()).collect());
        for id in current.iter().filter(|id| !shown.as_ref().is_some_and(|s| s.contains(id))) {
            let id = id.clone();
            set_timeout(move || inbox.dismiss(&id), std::time::Duration::from_millis(TOAST_MS));
        }
        current
    });
    view! {
        <div class="toasts" role="status" aria-live="polite" data-testid="toasts">
            <For each=move || inbox.toasts.get() key=|t| t.id.clone() let:toast>
                <div class="toast" data-testid="toast">
                    <a class="toast-text" href=toast.link.clone().unwrap_or_else(|| "/notifications".into())>
                        <strong>{toast.title.clone()}</strong>
                        <span>{toast.body.clone()}</span>
                    </a>
                    <button
                        class="toast-close"
                        type="button"
                        aria-label="Dismiss"
                        on:click={
                            let id = toast.id.clone();
                            move |_| inbox.dismiss(&id)
                        }
                    >
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
