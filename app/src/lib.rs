//! Beacon's pages and components, compiled twice: with `ssr` for the server and
//! with `hydrate` for the browser (see leptos' start-axum-workspace).
//!
//! - [`realtime`]: the per-tab connection manager (WebSocket with backoff, long-poll
//!   fallback, resume by seq) and the `use_channel` API pages subscribe with.
//! - [`components`]: the page frame: navigation, bell, toasts, connection state.
//! - [`inbox`]: the notification inbox state, driven by the visitor's channel.
//! - [`chat`]: conversations: the outbox of unsent messages, the send box, the API.
//! - `http` (browser only): the HTTP calls, through gloo-net.
//! - [`pages`]: one module per route.

// A page's view is one nested type where views are not type-erased (test
// and check builds; `cargo leptos` erases them): the conversation page's
// goes past the default query depth of 128.
#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

pub mod api;
pub mod chat;
pub mod components;
pub mod dashboard;
#[cfg(feature = "hydrate")]
pub mod http;
pub mod inbox;
pub mod pages;
pub mod realtime;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    #[cfg(feature = "ssr")]
    pages::provide_chunk_manifest(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Sets this response's Content-Security-Policy: scripts only from this
/// origin or carrying this response's nonce (Leptos puts it on its hydration
/// and streaming scripts), WebAssembly allowed to compile, nothing inline
/// otherwise, no framing.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    let (Some(nonce), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The root component: shared context, the frame and the routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    realtime::provide_realtime();

    view! {
        <Stylesheet id="leptos" href="/pkg/beacon.css" />
        <Router>
            <components::Frame>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::HomePage />
                    // Async: the whole page, QR included, is in the first HTML response,
                    // so it works before (and without) the WASM.
                    <Route path=(StaticSegment("register"), StaticSegment("connect")) view=pages::ConnectRoute ssr=SsrMode::Async />
                    <Route path=StaticSegment("register") view=pages::RegisterRoute ssr=SsrMode::Async />
                    <Route path=StaticSegment("me") view=pages::MeRoute ssr=SsrMode::Async />
                    <Route path=StaticSegment("notifications") view=pages::NotificationsRoute />
                    <Route path=StaticSegment("chat") view=pages::ChatListRoute />
                    <Route path=(StaticSegment("chat"), StaticSegment("join"), ParamSegment("token")) view=pages::ChatJoinRoute />
                    <Route path=(StaticSegment("chat"), ParamSegment("id")) view=pages::ConversationRoute />
                    <Route path=StaticSegment("dashboards") view=pages::DashboardListRoute />
                    <Route path=(StaticSegment("dashboards"), StaticSegment("join"), ParamSegment("token")) view=pages::DashboardJoinRoute />
                    <Route path=(StaticSegment("dashboards"), ParamSegment("id")) view=pages::DashboardRoute />
                </Routes>
            </components::Frame>
        </Router>
    }
}
