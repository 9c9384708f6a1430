//! The browser's HTTP calls (tokens, long-polls, the inbox), through gloo-net:
//! same-origin, cookies included, JSON in and out, failures typed so callers
//! can tell "offline" (queue and retry) from "refused" (show it).

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call did not give the expected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The request never got an answer (offline, connection refused).
    Network(String),
    /// The server answered with this status.
    Status(u16, String),
    /// The answer was not the expected JSON.
    Body(String),
}

impl HttpError {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Status(status, _) => *status == 429 || *status >= 500,
            Self::Body(_) => false,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(e) => write!(f, "network: {e}"),
            Self::Status(status, body) => write!(f, "HTTP {status}: {body}"),
            Self::Body(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

fn same_origin(builder: RequestBuilder) -> RequestBuilder {
    builder.credentials(web_sys::RequestCredentials::SameOrigin)
}

async fn answer<T: DeserializeOwned>(response: Result<Response, gloo_net::Error>) -> Result<T, HttpError> {
    let response = response.map_err(|e| HttpError::Network(e.to_string()))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        return Err(HttpError::Status(response.status(), body));
    }
    response.json::<T>().await.map_err(|e| HttpError::Body(e.to_string()))
}

/// `GET url` as JSON.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, HttpError> {
    answer(same_origin(Request::get(url)).send().await).await
}

/// `POST url` with a JSON body, answered without a body (204).
pub async fn post_no_content<B: Serialize>(url: &str, body: &B) -> Result<(), HttpError> {
    let request = same_origin(Request::post(url)).json(body).map_err(|e| HttpError::Body(e.to_string()))?;
    let response = request.send().await.map_err(|e| HttpError::Network(e.to_string()))?;
    if !response.ok() {
        let body = response.text().await.unwrap_or_default();
        return Err(HttpError::Status(response.status(), body));
    }
    Ok(())
}

/// `method url` with a JSON body, answered with JSON.
pub async fn send_json<B: Serialize, T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: &B,
) -> Result<T, HttpError> {
    let builder = match method {
        "PUT" => Request::put(url),
        _ => Request::post(url),
    };
    let request = same_origin(builder).json(body).map_err(|e| HttpError::Body(e.to_string()))?;
    answer(request.send().await).await
}
