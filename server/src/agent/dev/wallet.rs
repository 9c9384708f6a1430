//! The wallet side of the dev agent: the short invitation URL, the wallet page a
//! phone or a second browser opens, and the control API tests drive it with.

use axum::extract::{Path, Request, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Connection, DevAgent, Faults};

/// Header carrying the control token on every control API call.
pub const CONTROL_TOKEN_HEADER: &str = "x-dev-agent-token";

pub(super) fn router(agent: DevAgent) -> Router<()> {
    // The control API moves an invitation to "connected" and "shared": only
    // the wallet page (which embeds the token) and tests (which are given it)
    // may call it.
    let control = Router::new()
        .route("/dev-agent/control/{code}", get(view))
        .route("/dev-agent/control/{code}/faults", put(set_faults))
        .route("/dev-agent/control/{code}/{action}", post(act))
        .route_layer(axum::middleware::from_fn_with_state(agent.clone(), require_control_token));
    Router::new()
        .route("/i/{code}", get(short_link))
        .route("/dev-agent/assets/wallet.js", get(wallet_js))
        .route("/dev-agent/assets/wallet.css", get(wallet_css))
        .merge(control)
        .with_state(agent)
}

async fn require_control_token(State(agent): State<DevAgent>, request: Request, next: Next) -> Response {
    let presented =
        request.headers().get(CONTROL_TOKEN_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
    let expected = agent.settings().control_token.expose().as_bytes();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(presented, expected)) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "missing or wrong x-dev-agent-token" })))
            .into_response();
    }
    next.run(request).await
}

/// Wallets ask for JSON and get the long URL as a JSON string; a browser gets
/// the wallet page. Short links expire with their invitation, never on first
/// read: wallets read them more than once.
async fn short_link(State(agent): State<DevAgent>, Path(code): Path<String>, headers: HeaderMap) -> Response {
    let wants_json =
        headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    let Some(long_url) = agent.long_url(&code) else {
        return (StatusCode::NOT_FOUND, "This invitation has expired. Ask for a new QR code.")
            .into_response();
    };
    if wants_json {
        return Json(long_url).into_response();
    }
    let page = wallet_page(&code, agent.settings().control_token.expose());
    ([(CONTENT_SECURITY_POLICY, WALLET_CSP), (CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

async fn view(State(agent): State<DevAgent>, Path(code): Path<String>) -> Response {
    match agent.view(&code) {
        Some(view) => Json(view).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn set_faults(
    State(agent): State<DevAgent>,
    Path(code): Path<String>,
    Json(faults): Json<Faults>,
) -> StatusCode {
    if agent.set_faults(&code, faults) { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ActionBody {
    label: Option<String>,
}

/// `connect`, `reject`, `share`, `share-invalid`, `decline`.
async fn act(
    State(agent): State<DevAgent>,
    Path((code, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let result = match action.as_str() {
        "connect" => agent.connect(&code, body.label),
        "reject" => agent.reject(&code),
        "share" => agent.present(&code, true),
        "share-invalid" => agent.present(&code, false),
        "decline" => agent.decline(&code),
        _ => Err("unknown action"),
    };
    match result {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "accepted": action }))).into_response(),
        Err(reason) => (StatusCode::CONFLICT, Json(json!({ "error": reason }))).into_response(),
    }
}

impl DevAgent {
    fn connect(&self, code: &str, label: Option<String>) -> Result<(), &'static str> {
        let label = label
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().chars().take(64).collect::<String>())
            .unwrap_or_else(|| format!("Wallet-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]));
        let made = self.with_state(|s| {
            let inv = s.invitations.get_mut(code).ok_or("unknown invitation")?;
            if inv.connection.is_some() {
                return Err("already connected");
            }
            let conn = Connection { id: uuid::Uuid::new_v4().to_string(), state: "completed".into(), label };
            inv.connection = Some(conn.clone());
            let reuse = inv.faults.reuse;
            let record_id = inv.record_id.clone();
            s.by_connection.insert(conn.id.clone(), code.to_owned());
            Ok((conn, reuse, record_id))
        })?;
        let (conn, reuse, record_id) = made;
        if reuse {
            // The wallet already knew this organisation: the platform reports the
            // old connection, pointing at this invitation only through
            // `outOfBandRecord`, in a single webhook.
            let mut outgoing = self.connection_outgoing(code, &conn, &["completed"]);
            for item in &mut outgoing {
                item.data["outOfBandId"] = json!(uuid::Uuid::new_v4().to_string());
                item.data["_tags"]["outOfBandId"] = item.data["outOfBandId"].clone();
                item.data["outOfBandRecord"] = json!({ "id": record_id, "state": "done", "role": "sender" });
                item.data["reuseThreadId"] = json!(uuid::Uuid::new_v4().to_string());
            }
            self.dispatch(code, outgoing);
        } else {
            let outgoing =
                self.connection_outgoing(code, &conn, &["request-received", "response-sent", "completed"]);
            self.dispatch(code, outgoing);
        }
        Ok(())
    }

    fn reject(&self, code: &str) -> Result<(), &'static str> {
        let conn = self.with_state(|s| {
            let inv = s.invitations.get_mut(code).ok_or("unknown invitation")?;
            if inv.connection.is_some() {
                return Err("already connected");
            }
            let conn = Connection {
                id: uuid::Uuid::new_v4().to_string(),
                state: "abandoned".into(),
                label: "Declined wallet".into(),
            };
            inv.connection = Some(conn.clone());
            s.by_connection.insert(conn.id.clone(), code.to_owned());
            Ok(conn)
        })?;
        let outgoing = self.connection_outgoing(code, &conn, &["request-received", "abandoned"]);
        self.dispatch(code, outgoing);
        Ok(())
    }

    pub(super) fn update_proof(
        &self,
        code: &str,
        change: impl FnOnce(&mut super::Proof),
    ) -> Option<super::Proof> {
        self.with_state(|s| {
            let proof = s.invitations.get_mut(code)?.proof.as_mut()?;
            change(proof);
            Some(proof.clone())
        })
    }

    fn pending_proof(&self, code: &str) -> Result<(), &'static str> {
        let state =
            self.with_state(|s| s.invitations.get(code).map(|i| i.proof.as_ref().map(|p| p.state.clone())));
        match state {
            None => Err("unknown invitation"),
            Some(None) => Err("no proof request yet"),
            Some(Some(state)) if state != "request-sent" => Err("the proof request was already answered"),
            Some(Some(_)) => Ok(()),
        }
    }

    fn present(&self, code: &str, valid: bool) -> Result<(), &'static str> {
        self.pending_proof(code)?;
        let proof = self
            .update_proof(code, |p| {
                if valid {
                    p.state = "presentation-received".into();
                    p.is_verified = Some(true);
                } else {
                    // The platform verifies on receipt; a bad presentation is abandoned.
                    p.state = "abandoned".into();
                    p.is_verified = Some(false);
                    p.error_message = Some("Presentation verification failed: signature invalid".into());
                }
            })
            .ok_or("unknown invitation")?;
        self.send_proof_webhooks(code, vec![proof]);
        Ok(())
    }

    fn decline(&self, code: &str) -> Result<(), &'static str> {
        self.pending_proof(code)?;
        let proof = self
            .update_proof(code, |p| {
                p.state = "abandoned".into();
                p.error_message = Some("Proof request declined by the holder".into());
            })
            .ok_or("unknown invitation")?;
        self.send_proof_webhooks(code, vec![proof]);
        Ok(())
    }
}

/// The wallet page for one invitation. The code is 32 hex digits (checked by
/// `long_url` before we get here) and the token is hex too, but both are
/// escaped anyway: a template should not depend on its callers for that.
fn wallet_page(code: &str, token: &str) -> String {
    WALLET_PAGE.replace("{{code}}", &escape_html(code)).replace("{{token}}", &escape_html(token))
}

fn escape_html(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const WALLET_PAGE: &str = include_str!("assets/wallet.html");
const WALLET_JS: &str = include_str!("assets/wallet.js");
const WALLET_CSS: &str = include_str!("assets/wallet.css");
/// The wallet page's own policy: its script and style files, nothing inline.
const WALLET_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn wallet_js() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "no-cache")], WALLET_JS)
        .into_response()
}

async fn wallet_css() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "no-cache")], WALLET_CSS).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_code_and_token_escaped() {
        let page = wallet_page("abc", "t\"><script>");
        assert!(page.contains(r#"content="abc""#));
        assert!(page.contains("t&quot;&gt;&lt;script&gt;"));
        assert!(!page.contains("{{"));
    }
}
