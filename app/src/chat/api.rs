//! The conversations HTTP API as the pages call it. Chat data loads in the
//! browser (it is per person and changes by the second); on the server these
//! never finish, so pages render their loading state there and hydrate from it.

use protocol::chat::{
    ConversationSummary, ConversationView, HistoryPage, Invite, InvitePreview, SendMessage, Sent,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Why a call failed, as the page shows it; `transient` when retrying may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub message: String,
    pub transient: bool,
    pub status: Option<u16>,
}

#[cfg(feature = "hydrate")]
fn call_error(err: crate::http::HttpError) -> CallError {
    let status = match &err {
        crate::http::HttpError::Status(status, _) => Some(*status),
        _ => None,
    };
    let message = match &err {
        crate::http::HttpError::Status(_, body) => serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| err.to_string()),
        other => other.to_string(),
    };
    CallError { transient: err.is_transient(), message, status }
}

pub(crate) async fn get<T: DeserializeOwned>(url: &str) -> Result<T, CallError> {
    #[cfg(feature = "hydrate")]
    return crate::http::get_json(url).await.map_err(call_error);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = url;
        std::future::pending().await
    }
}

pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, CallError> {
    #[cfg(feature = "hydrate")]
    return crate::http::send_json("POST", url, body).await.map_err(call_error);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (url, body);
        std::future::pending().await
    }
}

async fn post_empty<B: Serialize>(url: &str, body: &B) -> Result<(), CallError> {
    #[cfg(feature = "hydrate")]
    return crate::http::post_no_content(url, body).await.map_err(call_error);
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (url, body);
        std::future::pending().await
    }
}

pub async fn conversations() -> Result<Vec<ConversationSummary>, CallError> {
    get("/api/conversations").await
}

pub async fn create(title: String, display_name: String) -> Result<ConversationView, CallError> {
    post("/api/conversations", &json!({ "title": title, "display_name": display_name })).await
}

pub async fn view(id: String) -> Result<ConversationView, CallError> {
    get(&format!("/api/conversations/{id}")).await
}

pub async fn history(id: String, before: Option<u64>) -> Result<HistoryPage, CallError> {
    match before {
        Some(before) => get(&format!("/api/conversations/{id}/messages?before={before}")).await,
        None => get(&format!("/api/conversations/{id}/messages")).await,
    }
}

pub async fn send(id: String, client_id: String, text: String) -> Result<Sent, CallError> {
    post(&format!("/api/conversations/{id}/messages"), &SendMessage { client_id, text }).await
}

pub async fn mark_read(id: String, seq: u64) -> Result<(), CallError> {
    post_empty(&format!("/api/conversations/{id}/read"), &json!({ "seq": seq })).await
}

pub async fn invite(id: String) -> Result<Invite, CallError> {
    post(&format!("/api/conversations/{id}/invites"), &json!({})).await
}

pub async fn leave(id: String) -> Result<(), CallError> {
    post_empty(&format!("/api/conversations/{id}/leave"), &json!({})).await
}

pub async fn preview(token: String) -> Result<InvitePreview, CallError> {
    get(&format!("/api/invites/{token}")).await
}

pub async fn accept(token: String, display_name: String) -> Result<ConversationView, CallError> {
    post(&format!("/api/invites/{token}/accept"), &json!({ "display_name": display_name })).await
}
