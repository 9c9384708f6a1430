//! The wallet side of the dev agent: the short invitation URL, the wallet page a
//! phone or a second browser opens, and the control API tests drive it with.

use axum::extract::{Path, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Connection, DevAgent, Faults};

pub(super) fn router(agent: DevAgent) -> Router<()> {
    Router::new()
        .route("/i/{code}", get(short_link))
        .route("/dev-agent/control/{code}", get(view))
        .route("/dev-agent/control/{code}/faults", put(set_faults))
        .route("/dev-agent/control/{code}/{action}", post(act))
        .with_state(agent)
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
    Html(wallet_page(&code)).into_response()
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

fn wallet_page(code: &str) -> String {
    // The code is 32 hex digits (checked by `long_url` before we get here).
    WALLET_PAGE.replace("__CODE__", code)
}

const WALLET_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev wallet</title>
<style>
body{margin:0;font-family:system-ui,sans-serif;background:#10131f;color:#eef0f7;display:flex;justify-content:center}
*{box-sizing:border-box}main{width:min(26rem,100%);padding:1.5rem 1.2rem 3rem}
h1{font-size:1.2rem;margin:.2rem 0 1rem}.card{background:#1a1f33;border-radius:16px;padding:1.1rem;margin-bottom:1rem}
label{display:block;font-size:.85rem;color:#a9b0c7;margin-bottom:.3rem}
input{width:100%;box-sizing:border-box;padding:.65rem;border-radius:10px;border:1px solid #333a57;background:#0f1322;color:inherit;font-size:1rem}
button{width:100%;padding:.8rem;margin-top:.6rem;border:0;border-radius:12px;font-size:1rem;font-weight:600;cursor:pointer}
.primary{background:#3b5bfd;color:#fff}.ghost{background:#272d47;color:#eef0f7}.danger{background:#5a2330;color:#ffd9df}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem .8rem;margin:.4rem 0 0}dt{color:#a9b0c7}dd{margin:0}
#status{color:#a9b0c7;font-size:.9rem;min-height:1.2rem}.hidden{display:none}
</style></head>
<body><main>
<p class="muted" style="color:#a9b0c7;font-size:.8rem">Beacon dev wallet: stands in for a real identity wallet</p>
<h1>Beacon wants to connect</h1>
<section class="card" id="connect">
<label for="label">Wallet name shown to Beacon</label>
<input id="label" autocomplete="off">
<button class="primary" data-action="connect">Connect</button>
<button class="ghost" data-action="reject">Reject</button>
</section>
<section class="card hidden" id="share">
<strong>Beacon asks for</strong>
<dl id="attributes"></dl>
<button class="primary" data-action="share">Share</button>
<button class="ghost" data-action="share-invalid">Share invalid</button>
<button class="danger" data-action="decline">Decline</button>
</section>
<p id="status" role="status" aria-live="polite"></p>
</main>
<script>
const code = "__CODE__";
const base = "/dev-agent/control/" + code;
const $ = (id) => document.getElementById(id);
$("label").value = "Wallet-" + Math.random().toString(36).slice(2, 8);
async function refresh() {
  const r = await fetch(base); if (!r.ok) { $("status").textContent = "Invitation expired."; return; }
  const v = await r.json();
  $("connect").classList.toggle("hidden", !!v.connection_state);
  const asked = v.proof_state === "request-sent";
  $("share").classList.toggle("hidden", !asked);
  $("attributes").innerHTML = "";
  for (const [k, val] of v.requested) { const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = val; $("attributes").append(dt, dd); }
  $("status").textContent = v.proof_state ? "Proof: " + v.proof_state : v.connection_state ? (v.connection_state === "completed" ? "Connected. Waiting for Beacon's request..." : "Connection: " + v.connection_state) : "";
}
document.body.addEventListener("click", async (e) => {
  const action = e.target.dataset && e.target.dataset.action; if (!action) return;
  const body = action === "connect" ? JSON.stringify({ label: $("label").value }) : "{}";
  const r = await fetch(base + "/" + action, { method: "POST", headers: { "content-type": "application/json" }, body });
  $("status").textContent = r.ok ? "Sent." : "Could not " + action + ".";
  refresh();
});
refresh(); setInterval(refresh, 700);
</script>
</body></html>"#;
