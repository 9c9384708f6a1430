//! Server functions the pages call. On the server they run the body against the
//! [`Backend`] the server provides as context; in the browser they are HTTP calls.

use leptos::prelude::*;
use protocol::connect::{ConnectView, RegistrationDraft, UserView};

#[cfg(feature = "ssr")]
pub use backend::{Backend, BackendHandle, BoxFuture};

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
        fn start_connect(&self, request: &Parts) -> BoxFuture<ConnectView>;
        fn registration_draft(&self, request: &Parts, session_id: String) -> BoxFuture<RegistrationDraft>;
        fn register(
            &self,
            request: &Parts,
            session_id: String,
            display_name: String,
            email: String,
        ) -> BoxFuture<()>;
        fn whoami(&self, request: &Parts) -> BoxFuture<Option<UserView>>;
    }

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

/// A new connect session for this visitor, with its QR.
#[server]
pub async fn start_connect() -> Result<ConnectView, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.start_connect(&parts).await.map_err(ServerFnError::new)
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
    backend.0.register(&parts, session_id, display_name, email).await.map_err(ServerFnError::new)?;
    leptos_axum::redirect("/me");
    Ok(())
}

/// The registered user behind the cookie, if any.
#[server]
pub async fn whoami() -> Result<Option<UserView>, ServerFnError> {
    let (backend, parts) = context()?;
    backend.0.whoami(&parts).await.map_err(ServerFnError::new)
}
