//! One module per route.

mod chat;
#[cfg(feature = "ssr")]
mod chunk_preloads;
mod connect;
mod conversation;
mod dashboard;
mod dashboards;
mod home;
mod lazy;
mod me;
mod notifications;
mod register;

pub use chat::{ChatListPage, JoinPage};
#[cfg(feature = "ssr")]
pub use chunk_preloads::provide_chunk_manifest;
pub use connect::ConnectPage;
pub use conversation::ConversationPage;
pub use dashboard::DashboardPage;
pub use dashboards::{DashboardJoinPage, DashboardListPage};
pub use home::HomePage;
pub use lazy::{
    ChatJoinRoute, ChatListRoute, ConnectRoute, ConversationRoute, DashboardJoinRoute, DashboardListRoute,
    DashboardRoute, MeRoute, NotificationsRoute, RegisterRoute,
};
pub use me::MePage;
pub use notifications::NotificationsPage;
pub use register::RegisterPage;

use leptos::prelude::*;

/// Fallback for unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the start"</a></p>
        </section>
    }
}
