use leptos::prelude::*;
use leptos_router::components::A;

/// The site's sections; the router's links mark the current one with
/// `aria-current="page"`.
#[component]
pub fn Nav() -> impl IntoView {
    view! {
        <nav class="nav" aria-label="Main">
            <A href="/" exact=true>"Home"</A>
            <A href="/notifications">"Notifications"</A>
            <A href="/chat">"Chat"</A>
            <A href="/dashboards">"Dashboards"</A>
            <A href="/me">"Account"</A>
        </nav>
    }
}
