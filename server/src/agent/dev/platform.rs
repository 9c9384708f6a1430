//! The platform API of the dev agent: the same paths, bodies and `{statusCode,
//! message, data}` envelopes as ConfirmD, so the real client is what runs.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{Connection, DevAgent, Proof, WALLET_FIXTURE, connection_json, proof_json};

/// Tokens remembered as valid; older ones are refused (and the client refreshes).
const TOKENS_KEPT: usize = 16;
/// Token lifetime announced to clients.
const TOKEN_LIFETIME_SECS: u64 = 300;

pub(super) fn router(agent: DevAgent) -> Router<()> {
    Router::new()
        .route("/dev-agent/auth/token", post(token))
        .route("/dev-agent/orgs/{org}/connections", post(create_invitation))
        .route("/dev-agent/orgs/{org}/agent/connections", get(connections_by_record))
        .route("/dev-agent/orgs/{org}/connections/{id}", get(connection))
        .route("/dev-agent/orgs/{org}/proofs", post(request_proof))
        .route("/dev-agent/orgs/{org}/proofs/{id}", get(proof))
        .route("/dev-agent/orgs/{org}/proofs/{id}/verify", post(verify))
        .route("/dev-agent/orgs/{org}/verified-proofs/{id}", get(verified_proof))
        .with_state(agent)
}

fn ok(status: StatusCode, data: Value) -> Response {
    (status, Json(json!({ "statusCode": status.as_u16(), "message": "ok", "data": data }))).into_response()
}

fn fail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "statusCode": status.as_u16(), "message": message, "error": message })))
        .into_response()
}

/// Checks the bearer token and the org id in the path; `Some` is the refusal.
fn refusal(agent: &DevAgent, headers: &HeaderMap, org: &str) -> Option<Response> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let known = token.is_some_and(|t| agent.with_state(|s| s.tokens.iter().any(|k| k == t)));
    if !known {
        return Some(fail(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    if org != agent.settings().org_id {
        return Some(fail(StatusCode::FORBIDDEN, "Forbidden resource"));
    }
    None
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

async fn token(State(agent): State<DevAgent>, Form(form): Form<TokenForm>) -> Response {
    let settings = agent.settings();
    let secret_ok: bool =
        form.client_secret.as_bytes().ct_eq(settings.client_secret.expose().as_bytes()).into();
    if form.grant_type != "client_credentials" || form.client_id != settings.client_id || !secret_ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    let token = hex::encode(rand::random::<[u8; 24]>());
    agent.with_state(|s| {
        if s.tokens.len() >= TOKENS_KEPT {
            s.tokens.pop_front();
        }
        s.tokens.push_back(token.clone());
    });
    Json(json!({ "access_token": token, "expires_in": TOKEN_LIFETIME_SECS, "token_type": "Bearer" }))
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInvitation {
    multi_use_invitation: bool,
    #[serde(default)]
    auto_accept_connection: bool,
    alias: String,
}

async fn create_invitation(
    State(agent): State<DevAgent>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Json(body): Json<CreateInvitation>,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    if body.multi_use_invitation || !body.auto_accept_connection {
        return fail(
            StatusCode::BAD_REQUEST,
            "the dev agent only makes single-use, auto-accepted invitations",
        );
    }
    let (code, id, record_id) = agent.create_invitation(&body.alias);
    ok(
        StatusCode::CREATED,
        json!({
            "id": id,
            "connectionInvitation": agent.short_url(&code),
            "recordId": record_id,
            "invitationDid": format!("did:peer:2.{}", &record_id.replace('-', "")[..12]),
        }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByRecord {
    out_of_band_id: String,
}

async fn connections_by_record(
    State(agent): State<DevAgent>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ByRecord>,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    let records: Vec<Value> = agent.with_state(|s| {
        let code = s.by_record.get(&query.out_of_band_id).cloned();
        if let Some(inv) = code.as_ref().and_then(|code| s.invitations.get_mut(code)) {
            inv.connection_reads += 1;
        }
        let inv = code.and_then(|code| s.invitations.get(&code));
        inv.and_then(|i| i.connection.as_ref().map(|c| connection_json(c, &i.alias, &i.record_id)))
            .into_iter()
            .collect()
    });
    ok(StatusCode::OK, Value::Array(records))
}

async fn connection(
    State(agent): State<DevAgent>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    let record = agent.with_state(|s| {
        let inv = s.by_connection.get(&id).and_then(|code| s.invitations.get(code))?;
        inv.connection.as_ref().map(|c| connection_json(c, &inv.alias, &inv.record_id))
    });
    match record {
        Some(record) => ok(StatusCode::OK, record),
        None => fail(StatusCode::NOT_FOUND, "Connection not found"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofRequest {
    connection_id: String,
    proof_formats: Value,
    #[serde(default)]
    auto_accept_proof: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestType {
    request_type: String,
}

async fn request_proof(
    State(agent): State<DevAgent>,
    Path(org): Path<String>,
    Query(kind): Query<RequestType>,
    headers: HeaderMap,
    Json(body): Json<ProofRequest>,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    if kind.request_type != "indy" || body.proof_formats.pointer("/indy/attributes").is_none() {
        return fail(StatusCode::BAD_REQUEST, "indy proof formats with attributes are required");
    }
    if body.auto_accept_proof.as_deref() != Some("never") {
        return fail(StatusCode::BAD_REQUEST, "autoAcceptProof must be `never`: Beacon verifies explicitly");
    }
    let created = agent.with_state(|s| {
        let code = s.by_connection.get(&body.connection_id)?.clone();
        let inv = s.invitations.get_mut(&code)?;
        let completed = inv.connection.as_ref().is_some_and(|c: &Connection| c.state == "completed");
        if !completed {
            return Some(Err("connection is not completed"));
        }
        let proof = Proof {
            id: uuid::Uuid::new_v4().to_string(),
            connection_id: body.connection_id.clone(),
            state: "request-sent".into(),
            is_verified: None,
            error_message: None,
        };
        inv.proof = Some(proof.clone());
        inv.proof_requests += 1;
        s.by_proof.insert(proof.id.clone(), code.clone());
        Some(Ok((code, proof)))
    });
    match created {
        None => fail(StatusCode::NOT_FOUND, "Connection not found"),
        Some(Err(reason)) => fail(StatusCode::BAD_REQUEST, reason),
        Some(Ok((code, proof))) => {
            agent.send_proof_webhooks(&code, vec![proof.clone()]);
            ok(StatusCode::CREATED, proof_json(&proof))
        }
    }
}

fn find_proof(agent: &DevAgent, id: &str) -> Option<(String, Proof)> {
    agent.with_state(|s| {
        let code = s.by_proof.get(id)?.clone();
        let proof = s.invitations.get(&code)?.proof.clone()?;
        Some((code, proof))
    })
}

async fn proof(
    State(agent): State<DevAgent>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    match find_proof(&agent, &id) {
        Some((_, proof)) => ok(StatusCode::OK, proof_json(&proof)),
        None => fail(StatusCode::NOT_FOUND, "Proof not found"),
    }
}

async fn verify(
    State(agent): State<DevAgent>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    let Some((code, proof)) = find_proof(&agent, &id) else {
        return fail(StatusCode::NOT_FOUND, "Proof not found");
    };
    if proof.state != "presentation-received" {
        return fail(StatusCode::BAD_REQUEST, "verify is valid only in presentation-received");
    }
    match agent.update_proof(&code, |p| p.state = "done".into()) {
        Some(done) => {
            agent.send_proof_webhooks(&code, vec![done.clone()]);
            ok(StatusCode::CREATED, proof_json(&done))
        }
        None => fail(StatusCode::NOT_FOUND, "Proof not found"),
    }
}

async fn verified_proof(
    State(agent): State<DevAgent>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = refusal(&agent, &headers, &org) {
        return denied;
    }
    let Some((_, proof)) = find_proof(&agent, &id) else {
        return fail(StatusCode::NOT_FOUND, "Proof not found");
    };
    if proof.state != "done" && proof.state != "presentation-received" {
        return fail(StatusCode::BAD_REQUEST, "no presentation for this proof");
    }
    // One object per attribute, as the platform answers.
    let entries: Vec<Value> = WALLET_FIXTURE
        .iter()
        .map(|(name, value)| json!({ *name: value, "credDefId": "dev:3:CL:1:student", "schemaId": "dev:2:student:1.0" }))
        .collect();
    ok(StatusCode::OK, Value::Array(entries))
}
