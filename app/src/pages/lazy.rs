//! Every page but the start page as a lazy route: its code is a WASM chunk of
//! its own (`cargo leptos build --split`), fetched when the page is first
//! shown. A first visit loads the frame (header, bell, toasts, the realtime
//! client, the inbox) and the page asked for, not every page's code. The
//! server names the page's chunks in the HTML ([`super::chunk_preloads`]), so
//! the browser fetches them beside the main module, and hydration waits for
//! them (`leptos::mount::hydrate_lazy`). On the server a lazy route renders
//! as any other page.
//!
//! The split points are written here rather than with Leptos' `#[lazy_route]`
//! because that one cannot fail: a chunk that does not arrive (a navigation
//! while the network is down) panics, and the panic takes the realtime client
//! with it. Here a chunk that does not arrive shows [`PageNotLoaded`] in the
//! page's place; the frame stays live, and the next visit to the page fetches
//! the chunk again (a failed load is not remembered).

use leptos::prelude::*;
use leptos_router::{ChooseView, hooks::use_location};

/// Declares `$route`, a route view showing `$page` from the WASM chunk
/// `$chunk`.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $route:ident in $chunk:ident => $page:path) => {
        // The split point: in the browser, calling `page` fetches the chunk
        // first (and `preload` only fetches it); on the server both are plain
        // calls.
        mod $chunk {
            use leptos::prelude::*;
            use leptos::wasm_split::SplitLoaderError;

            #[leptos::wasm_split::wasm_split(
                $chunk,
                wasm_split_path = ::leptos::wasm_split,
                preload(preload),
                fallible
            )]
            pub(super) fn page() -> Result<AnyView, SplitLoaderError> {
                Ok(view! { <$page /> }.into_any())
            }
        }

        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $route;

        impl ChooseView for $route {
            async fn choose(self) -> AnyView {
                // The server names the chunk's modules in the page's head.
                #[cfg(feature = "ssr")]
                super::chunk_preloads::name_in_head(stringify!($chunk));
                $chunk::page()
                    .await
                    .unwrap_or_else(|_| view! { <PageNotLoaded /> }.into_any())
            }

            // The router awaits this before `choose`, on a navigation and on
            // hydration. A failure is left for `choose`, which tries once
            // more and then shows `PageNotLoaded`.
            async fn preload(&self) {
                let _ = $chunk::preload().await;
            }
        }
    };
}

/// In a page's place when its code could not be fetched.
#[component]
fn PageNotLoaded() -> impl IntoView {
    let here = use_location();
    let href = move || format!("{}{}", here.pathname.get(), here.search.get());
    view! {
        <section class="card" role="alert" data-testid="page-not-loaded">
            <h1>"This page could not be loaded"</h1>
            <p class="muted">"Its code did not arrive: the network may be down. Everything else on this page still works."</p>
            <p><a class="button" href=href rel="external">"Try again"</a></p>
        </section>
    }
}

lazy_page!(
    /// `/register/connect`: the QR invitation and its live status.
    ConnectRoute in page_connect => crate::pages::ConnectPage
);
lazy_page!(
    /// `/register`: the registration form.
    RegisterRoute in page_register => crate::pages::RegisterPage
);
lazy_page!(
    /// `/me`: the visitor's account.
    MeRoute in page_me => crate::pages::MePage
);
lazy_page!(
    /// `/notifications`: the inbox.
    NotificationsRoute in page_notifications => crate::pages::NotificationsPage
);
lazy_page!(
    /// `/chat`: the visitor's conversations.
    ChatListRoute in page_chat_list => crate::pages::ChatListPage
);
lazy_page!(
    /// `/chat/join/:token`: an invitation to a conversation.
    ChatJoinRoute in page_chat_join => crate::pages::JoinPage
);
lazy_page!(
    /// `/chat/:id`: one conversation.
    ConversationRoute in page_conversation => crate::pages::ConversationPage
);
lazy_page!(
    /// `/dashboards`: the visitor's dashboards.
    DashboardListRoute in page_dashboard_list => crate::pages::DashboardListPage
);
lazy_page!(
    /// `/dashboards/join/:token`: an invitation to a dashboard.
    DashboardJoinRoute in page_dashboard_join => crate::pages::DashboardJoinPage
);
lazy_page!(
    /// `/dashboards/:id`: one live dashboard.
    DashboardRoute in page_dashboard => crate::pages::DashboardPage
);
