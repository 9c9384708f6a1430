use leptos::prelude::*;
use leptos_meta::Title;

use super::{Bell, ConnectionIndicator, Nav, Toasts};
use crate::api::dev_agent_active;
use crate::inbox::{Inbox, provide_inbox};

/// The frame of every page: a ribbon while the development identity agent is
/// active, the header (brand, navigation, bell, connection state), the page,
/// and the toasts. The document title carries the unread count.
///
/// The inbox is loaded before anything renders, from the summary the server
/// read before the page (see [`PreloadedInbox`](crate::api)): the badge, the
/// title and the pages' counts are in the first HTML, and the browser starts
/// hydrating from the same summary, carried in the page by a blocking
/// resource, so both sides render the same state.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let inbox = provide_inbox();
    load_first_summary(inbox);
    let dev_agent = Resource::new(|| (), |_| dev_agent_active());
    // The title is read when the page's head is written, which can come after
    // the arena has dropped this render's signals: hold the counts by
    // reference count, not by arena slot.
    let counts = ArcRwSignal::from(inbox.counts);
    let title = move || match counts.get().unread {
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
                <Bell />
                <ConnectionIndicator />
            </div>
        </header>
        <main class="page">{children()}</main>
        <Toasts />
    }
}

/// Loads the summary the page starts from into `inbox`, before the first render.
///
/// On the server it is the one read before rendering; a blocking resource
/// writes it into the page, and in the browser the same resource hands it back
/// during hydration without a request. A page rendered without one (the 404
/// page, or a failed read) renders an empty inbox on both sides, and the
/// browser then asks for the summary itself.
fn load_first_summary(inbox: Inbox) {
    #[cfg(feature = "ssr")]
    let first = {
        let preloaded = use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<crate::api::PreloadedInbox>().cloned())
            .map(|preloaded| preloaded.0.map_err(ServerFnError::new))
            .unwrap_or_else(|| Err(ServerFnError::new("the inbox was not read before this page")));
        let first = preloaded.clone().ok();
        let _carrier = Resource::new_blocking(|| (), move |_| std::future::ready(preloaded.clone()));
        first
    };
    #[cfg(not(feature = "ssr"))]
    let first: Option<protocol::inbox::InboxSummary> = {
        let carrier = Resource::new_blocking(|| (), |_| crate::api::inbox_summary());
        // Read outside a `Suspense` on purpose (debug builds warn): the
        // value is the server's, already in the page when hydration starts.
        carrier.get_untracked().and_then(Result::ok)
    };

    let Some(summary) = first else {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            if let Ok(summary) = crate::api::inbox_summary().await {
                inbox.load(summary);
            }
        });
        return;
    };
    inbox.load(summary);
}
