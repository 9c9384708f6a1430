use leptos::prelude::*;

use super::ConnectionIndicator;

/// Header with the brand and the live connection state, then the page.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                "Beacon"
            </a>
            <ConnectionIndicator />
        </header>
        <main class="page">{children()}</main>
    }
}
