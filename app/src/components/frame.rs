use leptos::prelude::*;

use super::ConnectionIndicator;
use crate::api::dev_agent_active;

/// Header with the brand and the live connection state, then the page; a
/// ribbon above everything while the development identity agent is active.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let dev_agent = Resource::new(|| (), |_| dev_agent_active());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                dev_agent.await.unwrap_or(false).then(|| view! {
                    <p class="dev-ribbon" role="note" data-testid="dev-ribbon">
                        "Development identity agent active: QR codes are answered by a test wallet with a test identity. Not for real people."
                    </p>
                })
            })}
        </Suspense>
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
