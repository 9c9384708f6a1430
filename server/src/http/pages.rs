//! What the Leptos pages' server functions run: the [`app::api::Backend`]
//! implemented on the application state, the visitor taken from the request.

use std::sync::Arc;

use app::api::{Backend, BackendHandle, BoxFuture, PreloadedInbox, SetCookie};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::provide_context;
use protocol::connect::{ConnectView, RegistrationDraft, UserView};
use protocol::inbox::{InboxPage, InboxSummary, Preferences};

use crate::auth::Principal;
use crate::auth::visitor::SignIn;
use crate::error::AppError;
use crate::guard::ClientIp;
use crate::http::sessions::{self, RegisterRequest};
use crate::state::AppState;
use crate::store::notifications::Filter;

/// Notifications per page on `/notifications`.
const PAGE: usize = 20;

/// The context hook for `leptos_routes_with_context`.
pub fn provide_backend(state: AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let handle = BackendHandle(Arc::new(state));
    move || provide_context(handle.clone())
}

/// Reads the visitor's inbox before a page renders (see [`PreloadedInbox`]):
/// one query, and the render has nothing to wait for to show the badge, the
/// title's count and the pages' counts. Only page loads (GET): the server
/// functions registered alongside the pages are POSTs and need no inbox.
pub async fn preload_inbox(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if request.method() == Method::GET
        && let Some(principal) = request.extensions().get::<Principal>().cloned()
    {
        let summary = inbox_summary(&state, &principal).await;
        request.extensions_mut().insert(PreloadedInbox(summary));
    }
    next.run(request).await
}

/// The visitor's inbox as the header shows it, or the error fit for the page.
async fn inbox_summary(state: &AppState, principal: &Principal) -> Result<InboxSummary, String> {
    state.inbox.summary(principal).await.map_err(|e| shown(e.into()))
}

fn principal(request: &Parts) -> Result<Principal, String> {
    request.extensions.get::<Principal>().cloned().ok_or_else(|| "no visitor".to_owned())
}

/// A message fit for the page: the error's client-facing text.
fn shown(err: AppError) -> String {
    match err {
        AppError::Store(_) | AppError::Unexpected(_) => {
            tracing::error!(error = ?err, "page request failed");
            "Something went wrong on our side. Please try again.".into()
        }
        AppError::Upstream(cause) => {
            tracing::error!(cause, "identity platform call failed");
            "The identity service is not answering. Please try again in a moment.".into()
        }
        AppError::NotFound => "This registration link is not valid for this browser.".into(),
        other => other.to_string(),
    }
}

impl Backend for AppState {
    fn start_connect(&self, request: &Parts, fresh: bool) -> BoxFuture<ConnectView> {
        let state = self.clone();
        let principal = principal(request);
        let ip = ClientIp::of(request, &self.config);
        Box::pin(async move {
            let principal = principal?;
            let session =
                sessions::connect_session_for(&state, ip, &principal, fresh).await.map_err(shown)?;
            sessions::connect_view(&session).map_err(shown)
        })
    }

    fn registration_draft(&self, request: &Parts, session_id: String) -> BoxFuture<RegistrationDraft> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move { sessions::draft(&state, &principal?, &session_id).await.map_err(shown) })
    }

    fn register(
        &self,
        request: &Parts,
        session_id: String,
        display_name: String,
        email: String,
    ) -> BoxFuture<SetCookie> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move {
            let request = RegisterRequest { session_id, display_name, email };
            let (_, cookie) =
                sessions::register_visitor(&state, &principal?, &request).await.map_err(shown)?;
            Ok(SetCookie(cookie))
        })
    }

    fn sign_out(&self, request: &Parts) -> BoxFuture<SetCookie> {
        let state = self.clone();
        let principal = principal(request);
        let sign_in = request.extensions.get::<SignIn>().cloned().unwrap_or(SignIn(None));
        Box::pin(async move {
            let cookie = sessions::sign_out_visitor(&state, &principal?, &sign_in).await.map_err(shown)?;
            Ok(SetCookie(cookie))
        })
    }

    fn dev_agent_active(&self) -> bool {
        AppState::dev_agent_active(self)
    }

    fn inbox_summary(&self, request: &Parts) -> BoxFuture<InboxSummary> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move { inbox_summary(&state, &principal?).await })
    }

    fn send_demo(&self, request: &Parts, category: String) -> BoxFuture<()> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move {
            let principal = principal?;
            state.guards.demo_notification(&principal).map_err(shown)?;
            state.inbox.send_demo(&principal, &category).await.map_err(|e| shown(e.into()))?;
            Ok(())
        })
    }

    fn inbox_page(
        &self,
        request: &Parts,
        filter: String,
        category: Option<String>,
        cursor: Option<String>,
    ) -> BoxFuture<InboxPage> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move {
            let filter = match filter.as_str() {
                "unread" => Filter::Unread,
                "archived" => Filter::Archived,
                _ => Filter::All,
            };
            let principal = principal?;
            let page = state.inbox.page(&principal, filter, category.as_deref(), cursor.as_deref(), PAGE);
            page.await.map_err(|e| shown(e.into()))
        })
    }

    fn preferences(&self, request: &Parts) -> BoxFuture<Preferences> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move { state.inbox.preferences(&principal?).await.map_err(|e| shown(e.into())) })
    }

    fn set_muted(&self, request: &Parts, category: String, muted: bool) -> BoxFuture<Preferences> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move {
            let request = Preferences {
                categories: vec![protocol::inbox::CategoryPreference { category, muted, critical: false }],
            };
            state.inbox.set_preferences(&principal?, &request).await.map_err(|e| shown(e.into()))
        })
    }

    fn whoami(&self, request: &Parts) -> BoxFuture<Option<UserView>> {
        let state = self.clone();
        let principal = principal(request);
        Box::pin(async move { state.store.user(principal?.as_str()).await.map_err(|e| shown(e.into())) })
    }
}
