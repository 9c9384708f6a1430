//! Server functions the pages call. On the server they run the body against the
//! [`Backend`] the server provides as context; in the browser they are HTTP calls.

use leptos::prelude::*;
use protocol::connect::{ConnectView, RegistrationDraft, UserView};

#[cfg(feature = "ssr")]
pub use backend::{Backend, BackendHandle, BoxFuture, PreloadedInbox, SetCookie};

#[cfg(feature = "ssr")]
mod backend {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use http::request::Parts;
    use protocol::connect::{ConnectView, RegistrationDraft, UserView};

    pub type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

    /// What the pages need from the server; implemented by the server crate,
    /// which knows the visitor from the request parts.
    pub trait Backend: Send + Sync + 'static {
        /// The visitor's open connect session, or a new one when `fresh` or none is open.
        fn start_connect(&self, request: &Parts, fresh: bool) -> BoxFuture<ConnectView>;
        fn registration_draft(&self, request: &Parts, session_id: String) -> BoxFuture<RegistrationDraft>;
        fn register(
            &self,
            request: &Parts,
            session_id: String,
            display_name: String,
            email: String,
        ) -> BoxFuture<SetCookie>;
        fn whoami(&self, request: &Parts) -> BoxFuture<Option<UserView>>;
        /// Revokes the browser's sign-in; the cookie that clears it.
        fn sign_out(&self, request: &Parts) -> BoxFuture<SetCookie>;
        /// Whether the built-in dev agent hands out test identities on this server.
        fn dev_agent_active(&self) -> bool;
        /// The visitor's inbox as the header shows it.
        fn inbox_summary(&self, request: &Parts) -> BoxFuture<protocol::inbox::InboxSummary>;
        /// The home page's demo: a notification of `category` to the visitor itself.
        fn send_demo(&self, request: &Parts, category: String) -> BoxFuture<()>;
        /// A page of the visitor's inbox.
        fn inbox_page(
            &self,
            request: &Parts,
            filter: String,
            category: Option<String>,
            cursor: Option<String>,
        ) -> BoxFuture<protocol::inbox::InboxPage>;
        fn preferences(&self, request: &Parts) -> BoxFuture<protocol::inbox::Preferences>;
        fn set_muted(
            &self,
            request: &Parts,
            category: String,
            muted: bool,
        ) -> BoxFuture<protocol::inbox::Preferences>;
    }

    /// A `Set-Cookie` header value the page's response must carry.
    pub struct SetCookie(pub http::HeaderValue);

    /// The backend as Leptos context.
    #[derive(Clone)]
    pub struct BackendHandle(pub Arc<dyn Backend>);

    /// The visitor's inbox, read by the server before a page renders and
    /// handed over in the request's extensions: every part of the page that
    /// shows inbox state (the badge, the title, the counts) renders from it at
    /// once, with nothing to wait for inside the render.
    #[derive(Clone, Debug)]
    pub struct PreloadedInbox(pub Result<protocol::inbox::InboxSummary, String>);
}

#[cfg(feature = "ssr")]
fn context() -> Result<(BackendHandle, http::request::Parts), ServerFnError> {
    let backend =
        use_context::<BackendHandle>().ok_or_else(|| ServerFnError::new("no backend in context"))?;
    let parts =
        use_context::<http::request::Parts>().ok_or_else(|| ServerFnError::new("no request in context"))?;
    Ok((backend, parts))
}

/// This visitor's connect session with its QR: the open one, or a new one
/// when `fresh` (the "new QR code" link) or none is open.
#[server]
pub async fn start_connect(fresh: bool) -> Result<ConnectView, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.start_connect(&parts, fresh).await.map_err(ServerFnError::new)
}

#[cfg(feature = "ssr")]
fn set_cookie(cookie: backend::SetCookie) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(http::header::SET_COOKIE, cookie.0);
    }
}

/// The registration form's starting point for a verified session.
#[server]
pub async fn load_registration_draft(session_id: String) -> Result<RegistrationDraft, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.registration_draft(&parts, session_id).await.map_err(ServerFnError::new)
}

/// Creates the user and lands on the account page.
#[server]
pub async fn register(session_id: String, display_name: String, email: String) -> Result<(), ServerFnError> {
    let (backend, parts) = context()?;
    let cookie =
        backend.0.register(&parts, session_id, display_name, email).await.map_err(ServerFnError::new)?;
    set_cookie(cookie);
    leptos_axum::redirect("/me");
    Ok(())
}

/// Signs this browser out everywhere it matters: the server forgets the sign-in.
#[server]
pub async fn sign_out() -> Result<(), ServerFnError> {
    let (backend, parts) = context()?;
    let cookie = backend.0.sign_out(&parts).await.map_err(ServerFnError::new)?;
    set_cookie(cookie);
    leptos_axum::redirect("/");
    Ok(())
}

/// The visitor's inbox for the header: counts, the latest few, the channel head.
#[server]
pub async fn inbox_summary() -> Result<protocol::inbox::InboxSummary, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.inbox_summary(&parts).await.map_err(ServerFnError::new)
}

/// Sends the visitor a demo notification of `category`.
#[server]
pub async fn send_demo(category: String) -> Result<(), ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.send_demo(&parts, category).await.map_err(ServerFnError::new)
}

/// A page of the visitor's inbox (`filter`: all, unread, archived).
#[server]
pub async fn load_inbox_page(
    filter: String,
    category: Option<String>,
    cursor: Option<String>,
) -> Result<protocol::inbox::InboxPage, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.inbox_page(&parts, filter, category, cursor).await.map_err(ServerFnError::new)
}

/// The visitor's notification preferences.
#[server]
pub async fn load_preferences() -> Result<protocol::inbox::Preferences, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.preferences(&parts).await.map_err(ServerFnError::new)
}

/// Mutes or unmutes one category for the visitor.
#[server]
pub async fn save_preference(
    category: String,
    muted: bool,
) -> Result<protocol::inbox::Preferences, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.set_muted(&parts, category, muted).await.map_err(ServerFnError::new)
}

/// Whether this server runs the development identity agent (pages show a ribbon).
#[server]
pub async fn dev_agent_active() -> Result<bool, ServerFnError> {
    let (backend, _) = context()?;
    Ok(backend.0.dev_agent_active())
}

/// The registered user behind the cookie, if any.
#[server]
pub async fn whoami() -> Result<Option<UserView>, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.whoami(&parts).await.map_err(ServerFnError::new)
}
