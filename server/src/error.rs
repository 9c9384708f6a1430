//! One error type for HTTP handlers: clients see a safe message and a stable
//! code (`protocol::ErrorCode`); the cause of a 5xx goes to the log only.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or wrong credentials")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("service unavailable")]
    Unavailable,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("too many requests from this client; try again later")]
    RateLimited { retry_after: std::time::Duration },
    #[error("the server is at capacity; try again later")]
    Busy { retry_after: std::time::Duration },
    #[error("the identity platform did not answer as expected")]
    Upstream(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AppError {
    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::Forbidden => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::BadRequest),
            Self::Gone(_) => (StatusCode::GONE, ErrorCode::NotFound),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadRequest),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Upstream(_) => (StatusCode::BAD_GATEWAY, ErrorCode::Unavailable),
            Self::Store(_) | Self::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let Self::Upstream(cause) = &self {
            tracing::error!(cause, "identity platform call failed");
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after } => Some(retry_after.as_secs()),
            _ => None,
        };
        let message = if status.is_server_error() && retry_after.is_none() {
            tracing::error!(error = ?self, "request failed");
            "internal error; the server logged the cause".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(json!({ "error": code, "message": message }))).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<crate::inbox::InboxError> for AppError {
    fn from(err: crate::inbox::InboxError) -> Self {
        match err {
            crate::inbox::InboxError::Invalid(message) => Self::BadRequest(message),
            crate::inbox::InboxError::Store(cause) => Self::Store(cause),
        }
    }
}

impl From<crate::dashboard::DashboardError> for AppError {
    fn from(err: crate::dashboard::DashboardError) -> Self {
        use crate::dashboard::DashboardError;
        match err {
            DashboardError::Invalid(message) => Self::BadRequest(message),
            DashboardError::NotFound => Self::NotFound,
            DashboardError::Forbidden(_) => Self::Forbidden,
            DashboardError::InviteExpired => Self::Gone(err.to_string()),
            DashboardError::Store(cause) => Self::Store(cause),
        }
    }
}

impl From<crate::chat::ChatError> for AppError {
    fn from(err: crate::chat::ChatError) -> Self {
        use crate::chat::ChatError;
        match err {
            ChatError::Invalid(message) => Self::BadRequest(message),
            ChatError::TooLarge => Self::BadRequest(err.to_string()),
            ChatError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            ChatError::NotFound => Self::NotFound,
            ChatError::InviteExpired => Self::Gone(err.to_string()),
            ChatError::Store(cause) => Self::Store(cause),
        }
    }
}

impl From<crate::flow::FlowError> for AppError {
    fn from(err: crate::flow::FlowError) -> Self {
        use crate::flow::FlowError;
        match err {
            FlowError::NotFound => Self::NotFound,
            FlowError::NotVerified => Self::Conflict(err.to_string()),
            FlowError::AlreadyRegistered => Self::Conflict(err.to_string()),
            FlowError::Invalid(message) => Self::BadRequest(message),
            FlowError::Agent(cause) => Self::Upstream(cause.to_string()),
            FlowError::Store(cause) => Self::Store(cause),
        }
    }
}
