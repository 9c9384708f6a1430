//! Server functions the pages call. On the server they run the body against the
//! [`Backend`] the server provides as context; in the browser they are HTTP calls.

use leptos::prelude::*;
use protocol::connect::{ConnectView, RegistrationDraft, UserView};

#[cfg(feature = "ssr")]
pub use backend::{Backend, BackendHandle, BoxFuture, SetCookie};

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
    }

    /// A `Set-Cookie` header value the page's response must carry.
    pub struct SetCookie(pub http::HeaderValue);

    /// The backend as Leptos context.
    #[derive(Clone)]
    pub struct BackendHandle(pub Arc<dyn Backend>);
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
