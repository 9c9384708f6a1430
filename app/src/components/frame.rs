use leptos::prelude::*;
use leptos_meta::Title;

use super::{Bell, ConnectionIndicator, Nav, Toasts};
use crate::api::{dev_agent_active, inbox_summary};
use crate::inbox::provide_inbox;

/// The frame of every page: a ribbon while the development identity agent is
/// active, the header (brand, navigation, bell, connection state), the page,
/// and the toasts. The document title carries the unread count.
///
/// Whatever shows inbox state renders after [`Inbox::ready`](crate::inbox::Inbox::ready),
/// inside a `Suspense`, on the server and in the browser alike: hydration
/// attaches to the server's HTML without patching it, so both sides must
/// render the same state.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    // Blocking: the badge's count is in the first HTML, before any script.
    let inbox = provide_inbox(Resource::new_blocking(|| (), |_| inbox_summary()));
    let dev_agent = Resource::new(|| (), |_| dev_agent_active());
    let title = move || match inbox.counts.get().unread {
        0 => "Beacon".to_owned(),
        n => format!("({n}) Beacon"),
    };
    view! {
        <Title text=title />
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
            <Nav />
            <div class="topbar-end">
                <Suspense>
                    {move || Suspend::new(async move {
                        inbox.ready().await;
                        view! { <Bell /> }
                    })}
                </Suspense>
                <ConnectionIndicator />
            </div>
        </header>
        <main class="page">{children()}</main>
        <Toasts />
    }
}
