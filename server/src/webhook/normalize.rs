//! Turns any of the platform's envelopes (nested, flat, signed) into one
//! [`Observation`]: `d = body.data ?? body`; classified by content, not only by
//! `type` (proof states have been seen under `type: "Connection"`); `_tags.state`
//! is ignored because it lags.

use serde_json::Value;

/// What kind of record a webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Connection,
    Proof,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Proof => "proof",
        }
    }
}

/// One record state reported by the platform, from a webhook or from polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub kind: RecordKind,
    /// Connection id or proof id.
    pub record_id: String,
    pub state: String,
    /// Connections: the out-of-band record id of the invitation.
    pub out_of_band_id: Option<String>,
    /// Connections reusing an older connection: `outOfBandRecord.id`.
    pub reused_out_of_band_id: Option<String>,
    /// Connections: the alias Beacon gave the invitation (the session id).
    pub alias: Option<String>,
    /// Proofs: the connection the proof runs on.
    pub connection_id: Option<String>,
    pub their_label: Option<String>,
    pub is_verified: Option<bool>,
    pub error_message: Option<String>,
}

impl Observation {
    /// A proof record read from the platform (polling, or our own request's answer).
    pub fn of_proof(proof: crate::agent::ProofRecord, connection_id: Option<String>) -> Self {
        Self {
            kind: RecordKind::Proof,
            record_id: proof.id,
            state: proof.state,
            out_of_band_id: None,
            reused_out_of_band_id: None,
            alias: None,
            connection_id,
            their_label: None,
            is_verified: proof.is_verified,
            error_message: proof.error_message,
        }
    }

    /// A connection record read from the platform for the invitation `out_of_band_id`.
    pub fn of_connection(connection: crate::agent::ConnectionRecord, out_of_band_id: &str) -> Self {
        Self {
            kind: RecordKind::Connection,
            record_id: connection.id,
            state: connection.state,
            out_of_band_id: Some(out_of_band_id.to_owned()),
            reused_out_of_band_id: None,
            alias: None,
            connection_id: None,
            their_label: connection.their_label,
            is_verified: None,
            error_message: None,
        }
    }
}

/// Why a body is not a usable record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("neither a connection nor a proof record")]
    Unclassified,
    #[error("record without `{0}`")]
    Missing(&'static str),
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn classify(body: &Value, d: &Value) -> Option<RecordKind> {
    let role = d.get("role").and_then(Value::as_str).unwrap_or_default();
    let protocol = d.get("protocol").and_then(Value::as_str).unwrap_or_default();
    if d.get("protocolVersion").is_some() || matches!(role, "verifier" | "prover") {
        return Some(RecordKind::Proof);
    }
    if matches!(role, "responder" | "requester")
        || protocol.contains("didexchange")
        || protocol.contains("connections")
    {
        return Some(RecordKind::Connection);
    }
    match body.get("type").and_then(Value::as_str) {
        Some("Connection") => Some(RecordKind::Connection),
        Some("Proof") => Some(RecordKind::Proof),
        _ => None,
    }
}

pub fn normalize(body: &Value) -> Result<Observation, NormalizeError> {
    let d = match body.get("data") {
        Some(data) if data.is_object() => data,
        _ => body,
    };
    let kind = classify(body, d).ok_or(NormalizeError::Unclassified)?;
    let record_id = match kind {
        RecordKind::Connection if d.get("role").is_none() => {
            text(d, "/connectionId").or_else(|| text(d, "/id"))
        }
        RecordKind::Connection => text(d, "/id").or_else(|| text(d, "/connectionId")),
        RecordKind::Proof => text(d, "/id"),
    }
    .ok_or(NormalizeError::Missing("id"))?;
    Ok(Observation {
        kind,
        record_id,
        state: text(d, "/state").ok_or(NormalizeError::Missing("state"))?,
        out_of_band_id: text(d, "/outOfBandId").or_else(|| text(d, "/_tags/outOfBandId")),
        reused_out_of_band_id: text(d, "/outOfBandRecord/id"),
        alias: text(d, "/alias"),
        connection_id: match kind {
            RecordKind::Proof => text(d, "/connectionId").or_else(|| text(d, "/_tags/connectionId")),
            RecordKind::Connection => None,
        },
        their_label: text(d, "/theirLabel"),
        is_verified: d.get("isVerified").and_then(Value::as_bool),
        error_message: text(d, "/errorMessage"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested_connection(state: &str) -> Value {
        json!({"type":"Connection","timestamp":"1","orgId":"o","tenantId":"t","appId":"a","appName":"n",
            "data":{"_tags":{"outOfBandId":"oob-1","role":"responder","state":"request-received","threadId":"th"},
            "metadata":{},"id":"conn-1","createdAt":"1","state":state,"role":"responder","theirDid":"did:peer:1",
            "theirLabel":"Ada's phone","alias":"sess-1","autoAcceptConnection":true,"threadId":"th",
            "protocol":"https://didcomm.org/didexchange/1.x","outOfBandId":"oob-1","updatedAt":"1",
            "contextCorrelationId":"t"},"clientContext":{}})
    }

    #[test]
    fn nested_connection_ignores_lagging_tags() {
        let o = normalize(&nested_connection("completed")).unwrap();
        assert_eq!(o.kind, RecordKind::Connection);
        assert_eq!(o.record_id, "conn-1");
        assert_eq!(o.state, "completed", "_tags.state lags and is ignored");
        assert_eq!(o.out_of_band_id.as_deref(), Some("oob-1"));
        assert_eq!(o.alias.as_deref(), Some("sess-1"));
        assert_eq!(o.their_label.as_deref(), Some("Ada's phone"));
    }

    #[test]
    fn flat_connection_uses_connection_id() {
        let flat = json!({"type":"Connection","timestamp":"1","id":"x","connectionId":"conn-9","state":"response-sent",
            "theirLabel":"W","outOfBandId":"oob-9","orgId":"o"});
        let o = normalize(&flat).unwrap();
        assert_eq!(o.kind, RecordKind::Connection);
        assert_eq!(o.record_id, "conn-9");
        assert_eq!(o.out_of_band_id.as_deref(), Some("oob-9"));
    }

    #[test]
    fn signed_envelope_and_oob_only_in_tags() {
        let mut body = nested_connection("completed");
        body["data"].as_object_mut().unwrap().remove("outOfBandId");
        let signed = json!({ "data": body["data"].clone() });
        let o = normalize(&signed).unwrap();
        assert_eq!(o.out_of_band_id.as_deref(), Some("oob-1"));
    }

    #[test]
    fn reuse_shape_carries_the_invitation_record() {
        let mut body = nested_connection("completed");
        body["data"]["outOfBandId"] = json!("old-oob");
        body["data"]["outOfBandRecord"] = json!({"id": "oob-new"});
        body["data"]["reuseThreadId"] = json!("r");
        let o = normalize(&body).unwrap();
        assert_eq!(o.reused_out_of_band_id.as_deref(), Some("oob-new"));
    }

    #[test]
    fn proofs_are_classified_by_content_even_under_connection_type() {
        let body = json!({"type":"Connection","data":{"id":"proof-1","state":"presentation-received",
            "role":"verifier","protocolVersion":"v1","connectionId":"conn-1","isVerified":true}});
        let o = normalize(&body).unwrap();
        assert_eq!(o.kind, RecordKind::Proof);
        assert_eq!(o.connection_id.as_deref(), Some("conn-1"));
        assert_eq!(o.is_verified, Some(true));
    }

    #[test]
    fn unusable_bodies_are_refused() {
        assert_eq!(normalize(&json!({"hello": 1})), Err(NormalizeError::Unclassified));
        assert_eq!(
            normalize(&json!({"type":"Proof","data":{"role":"verifier","state":"done"}})),
            Err(NormalizeError::Missing("id"))
        );
    }
}
