//! The opening handshake (RFC 6455, section 4.2): an HTTP/1.1 upgrade request
//! checked and answered with `101 Switching Protocols`, then the socket once
//! hyper hands the connection over.

use axum::extract::Request;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::WebSocket;
use crate::error::AppError;

/// Appended to the client's key before hashing (section 1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A request that cannot become a WebSocket, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("a WebSocket is opened with GET")]
    NotGet,
    #[error("this endpoint only speaks WebSocket: send `Connection: upgrade` and `Upgrade: websocket`")]
    NotAnUpgrade,
    #[error("WebSocket version 13 is the one spoken here")]
    UnsupportedVersion,
    #[error("`Sec-WebSocket-Key` is missing or is not 16 bytes in base64")]
    BadKey,
    #[error("this connection cannot be upgraded (WebSocket runs over HTTP/1.1)")]
    NotUpgradable,
}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let mut response = AppError::BadRequest(self.to_string()).into_response();
        let headers = response.headers_mut();
        match self {
            Self::NotGet => {
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                return response;
            }
            Self::NotAnUpgrade | Self::NotUpgradable => {
                headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            }
            Self::UnsupportedVersion => {
                headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Self::BadKey => return response,
        }
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response
    }
}

/// The socket, once the client has read our `101`.
pub type UpgradedSocket = WebSocket<TokioIo<Upgraded>>;

/// Checks an upgrade request. On success: the `101` to answer with, and the
/// connection to take over once it is sent (see [`socket`]). No extension and
/// no subprotocol is agreed: the hub speaks plain text frames.
pub fn accept(request: &mut Request) -> Result<(Response, OnUpgrade), HandshakeError> {
    if request.method() != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    let headers = request.headers();
    if !has_token(headers, &CONNECTION, "upgrade") || !has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::NotAnUpgrade);
    }
    if headers.get(SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).ok_or(HandshakeError::BadKey)?;
    if STANDARD.decode(key.as_bytes()).map(|k| k.len()) != Ok(16) {
        return Err(HandshakeError::BadKey);
    }
    if request.version() != Version::HTTP_11 {
        return Err(HandshakeError::NotUpgradable);
    }
    let accept = accept_key(key.as_bytes());
    let on_upgrade = request.extensions_mut().remove::<OnUpgrade>().ok_or(HandshakeError::NotUpgradable)?;
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    Ok((response, on_upgrade))
}

/// The connection as a socket, once hyper has sent our `101` and let go of it.
pub async fn socket(on_upgrade: OnUpgrade, max_message: usize) -> Result<UpgradedSocket, hyper::Error> {
    let upgraded = on_upgrade.await?;
    // The upgraded stream is hyper's (it yields first any bytes read past the
    // request), boxed behind a trait object; it cannot be unwrapped to the TCP
    // stream because the HTTP server wraps that in a private type.
    Ok(WebSocket::new(TokioIo::new(upgraded), max_message))
}

/// `Sec-WebSocket-Accept` for a client's key (section 4.2.2).
fn accept_key(key: &[u8]) -> HeaderValue {
    let digest = Sha1::new().chain_update(key).chain_update(ACCEPT_GUID).finalize();
    HeaderValue::from_str(&STANDARD.encode(digest)).expect("base64 is a valid header value")
}

/// Whether a comma-separated header holds `token`, in any case.
fn has_token(headers: &HeaderMap, name: &axum::http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn upgrade_request(edit: impl FnOnce(&mut HeaderMap)) -> Request {
        let mut request = Request::get("/ws").body(Body::empty()).unwrap();
        let headers = request.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        edit(headers);
        request
    }

    #[test]
    fn the_accept_key_is_the_rfcs() {
        // The example of RFC 6455, section 1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn requests_that_are_not_upgrades_are_refused_with_what_is_wrong() {
        let refused = |edit: fn(&mut HeaderMap)| accept(&mut upgrade_request(edit)).err();
        assert_eq!(refused(|h| drop(h.remove(UPGRADE))), Some(HandshakeError::NotAnUpgrade));
        let mut head = upgrade_request(|_| {});
        *head.method_mut() = Method::HEAD;
        assert_eq!(accept(&mut head).err(), Some(HandshakeError::NotGet));
        assert_eq!(
            refused(|h| drop(h.insert(CONNECTION, HeaderValue::from_static("keep-alive")))),
            Some(HandshakeError::NotAnUpgrade)
        );
        assert_eq!(
            refused(|h| drop(h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8")))),
            Some(HandshakeError::UnsupportedVersion)
        );
        assert_eq!(refused(|h| drop(h.remove(SEC_WEBSOCKET_KEY))), Some(HandshakeError::BadKey));
        assert_eq!(
            refused(|h| drop(h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("c2hvcnQ=")))),
            Some(HandshakeError::BadKey)
        );
        // A request the HTTP server did not make upgradable (as here: no
        // connection behind it) is refused too, after the headers pass.
        assert_eq!(refused(|_| {}), Some(HandshakeError::NotUpgradable));
    }

    #[test]
    fn a_refusal_says_how_to_upgrade() {
        let response = HandshakeError::UnsupportedVersion.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(HandshakeError::BadKey.into_response().status(), StatusCode::BAD_REQUEST);
        assert_eq!(HandshakeError::NotGet.into_response().status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
