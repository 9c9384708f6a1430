//! How the dev agent sends webhooks: the platform's envelopes over real HTTP,
//! a random pause before each, and the invitation's fault switches applied.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    Connection, DevAgent, Faults, MAX_SENT_PER_INVITATION, Proof, SentWebhook, connection_json, proof_json,
};

/// The envelope shapes the platform has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeStyle {
    /// ConfirmD today: `{"type", ..., "data": {record}}` with `x-api-key`.
    #[default]
    Nested,
    /// Older: the record's fields at the top level, with `x-api-key`.
    Flat,
    /// Upstream CREDEBL: `{"data": {record}}` signed with `X-Timestamp` and `X-Signature`.
    Signed,
}

/// One webhook to send.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub kind: &'static str,
    pub state: String,
    pub data: Value,
}

impl DevAgent {
    pub(super) fn connection_outgoing(
        &self,
        code: &str,
        conn: &Connection,
        states: &[&str],
    ) -> Vec<Outgoing> {
        let Some((alias, record_id)) =
            self.with_state(|s| s.invitations.get(code).map(|i| (i.alias.clone(), i.record_id.clone())))
        else {
            return Vec::new();
        };
        states
            .iter()
            .map(|state| {
                let snapshot = Connection { state: (*state).to_owned(), ..conn.clone() };
                let mut data = connection_json(&snapshot, &alias, &record_id);
                data["_tags"] = json!({
                    "outOfBandId": record_id, "role": "responder", "state": state, "threadId": data["threadId"],
                });
                Outgoing { kind: "Connection", state: (*state).to_owned(), data }
            })
            .collect()
    }

    /// Sends the webhooks of proof snapshots (one per state reached).
    pub(super) fn send_proof_webhooks(&self, code: &str, snapshots: Vec<Proof>) {
        let outgoing = snapshots
            .iter()
            .map(|proof| {
                let mut data = proof_json(proof);
                data["_tags"] = json!({
                    "connectionId": proof.connection_id, "role": "verifier", "state": proof.state,
                    "threadId": data["threadId"],
                });
                Outgoing { kind: "Proof", state: proof.state.clone(), data }
            })
            .collect();
        self.dispatch(code, outgoing);
    }

    /// Sends `outgoing` in the background, one after another, faults applied.
    pub(super) fn dispatch(&self, code: &str, mut outgoing: Vec<Outgoing>) {
        let Some(faults) = self.with_state(|s| s.invitations.get(code).map(|i| i.faults.clone())) else {
            return;
        };
        let mut previous_state: Option<String> = None;
        for item in &mut outgoing {
            let tags_state = if faults.stale_tags { previous_state.clone() } else { None };
            previous_state = Some(item.state.clone());
            if let (Some(stale), Some(tags)) = (tags_state, item.data.get_mut("_tags")) {
                tags["state"] = Value::String(stale);
            }
            if faults.oob_only_in_tags
                && let Some(object) = item.data.as_object_mut()
            {
                object.remove("outOfBandId");
            }
        }
        if faults.shuffle {
            outgoing.shuffle(&mut rand::rng());
        }
        if faults.duplicate {
            outgoing = outgoing.into_iter().flat_map(|o| [o.clone(), o]).collect();
        }
        let agent = self.clone();
        let code = code.to_owned();
        self.inner.tasks.spawn(async move {
            for item in outgoing {
                let (low, high) = agent.settings().delay_ms;
                let pause = rand::rng().random_range(low..=high.max(low)) + faults.delay_ms;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let status = if faults.drop_state.as_deref() == Some(item.state.as_str()) {
                    0
                } else {
                    agent.post(&faults, &item).await
                };
                agent.record_sent(&code, SentWebhook { kind: item.kind, state: item.state.clone(), status });
            }
        });
    }

    fn record_sent(&self, code: &str, sent: SentWebhook) {
        self.with_state(|s| {
            if let Some(inv) = s.invitations.get_mut(code) {
                if inv.sent.len() >= MAX_SENT_PER_INVITATION {
                    inv.sent.pop_front();
                }
                inv.sent.push_back(sent);
            }
        });
    }

    /// POSTs one webhook; returns Beacon's status (599 when unreachable).
    async fn post(&self, faults: &Faults, item: &Outgoing) -> u16 {
        let settings = self.settings();
        let tenant = "00000000-0000-4000-8000-00000000d0e5";
        let mut data = item.data.clone();
        data["contextCorrelationId"] = Value::String(tenant.into());
        let body = match faults.envelope {
            EnvelopeStyle::Nested => json!({
                "type": item.kind, "timestamp": crate::store::now_ms().to_string(), "orgId": settings.org_id,
                "tenantId": tenant, "appId": "beacon-dev-app", "appName": "Beacon (dev)",
                "data": data, "clientContext": {},
            }),
            EnvelopeStyle::Flat => {
                let mut flat = data;
                flat["type"] = Value::String(item.kind.into());
                flat["timestamp"] = Value::String(crate::store::now_ms().to_string());
                flat["orgId"] = Value::String(settings.org_id.clone());
                if item.kind == "Connection" {
                    flat["connectionId"] = flat["id"].clone();
                }
                flat
            }
            EnvelopeStyle::Signed => json!({ "data": data }),
        };
        let raw = body.to_string();
        let mut request = self
            .inner
            .http
            .post(&settings.webhook_url)
            .header("content-type", "application/json")
            .body(raw.clone());
        request = match faults.envelope {
            EnvelopeStyle::Signed => {
                let timestamp = crate::store::now_ms().to_string();
                let mut mac = Hmac::<Sha256>::new_from_slice(settings.webhook_secret.expose().as_bytes())
                    .expect("HMAC accepts any key length");
                mac.update(format!("{timestamp}.{raw}").as_bytes());
                let signature = hex::encode(mac.finalize().into_bytes());
                request.header("x-timestamp", timestamp).header("x-signature", signature)
            }
            EnvelopeStyle::Nested | EnvelopeStyle::Flat => request
                .header("x-api-key", settings.webhook_secret.expose())
                .header("x-app-id", "beacon-dev-app")
                .header("x-org-id", &settings.org_id),
        };
        match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(err) => {
                tracing::warn!(error = %err, "dev agent: webhook not delivered");
                599
            }
        }
    }
}
