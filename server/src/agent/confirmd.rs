//! Client of the ConfirmD platform API (a CREDEBL deployment). Every call sends
//! `Authorization: Bearer <token>`; the token comes from the Keycloak
//! client-credentials grant, is cached until a minute before it expires, and is
//! refreshed once on a 401.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Agent, AgentError, AgentFuture, ConnectionRecord, Invitation, ProofRecord};
use crate::config::Secret;

/// Every platform call gives up after this long; the stall poller retries later.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Renew a token this long before the platform says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Where the platform is and who Beacon is there.
#[derive(Debug, Clone)]
pub struct ConfirmdSettings {
    pub base_url: String,
    pub auth_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub org_id: String,
    /// The attributes the proof request asks for.
    pub requested_attributes: Vec<String>,
    pub schema_id: String,
    pub cred_def_id: String,
}

pub struct ConfirmdClient {
    http: reqwest::Client,
    settings: ConfirmdSettings,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// The platform wraps every answer as `{statusCode, message, data}`.
#[derive(Deserialize)]
struct Envelope {
    data: Value,
}

impl ConfirmdClient {
    pub fn new(settings: ConfirmdSettings) -> Self {
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build().expect("static client settings");
        Self { http, settings, token: Mutex::new(None) }
    }

    fn org_url(&self, path: &str) -> String {
        format!("{}/orgs/{}{path}", self.settings.base_url.trim_end_matches('/'), self.settings.org_id)
    }

    async fn token(&self, force: bool) -> Result<String, AgentError> {
        if !force {
            let cached = self.token.lock().expect("token lock poisoned").clone();
            if let Some((token, valid_until)) = cached
                && Instant::now() < valid_until
            {
                return Ok(token);
            }
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.settings.client_id.as_str()),
            ("client_secret", self.settings.client_secret.expose()),
        ];
        let response = self
            .http
            .post(&self.settings.auth_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AgentError::Transport(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(AgentError::Status { status: status.as_u16(), body });
        }
        let answer: TokenAnswer = response.json().await.map_err(|e| AgentError::Decode(e.to_string()))?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(TOKEN_MARGIN);
        *self.token.lock().expect("token lock poisoned") =
            Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(answer.access_token)
    }

    /// Calls the platform and returns the envelope's `data`.
    async fn call(&self, method: Method, url: String, body: Option<Value>) -> Result<Value, AgentError> {
        let mut refreshed = false;
        loop {
            let token = self.token(refreshed).await?;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| AgentError::Transport(e.to_string()))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                continue;
            }
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(AgentError::Status { status: status.as_u16(), body });
            }
            let envelope: Envelope = response.json().await.map_err(|e| AgentError::Decode(e.to_string()))?;
            return Ok(envelope.data);
        }
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn required(value: &Value, field: &str) -> Result<String, AgentError> {
    text(value, field).ok_or_else(|| AgentError::Decode(format!("missing `{field}`")))
}

fn connection_record(value: &Value) -> Result<ConnectionRecord, AgentError> {
    Ok(ConnectionRecord {
        id: required(value, "id")?,
        state: required(value, "state")?,
        their_label: text(value, "theirLabel"),
    })
}

fn proof_record(value: &Value) -> Result<ProofRecord, AgentError> {
    Ok(ProofRecord {
        id: required(value, "id")?,
        state: required(value, "state")?,
        is_verified: value.get("isVerified").and_then(Value::as_bool),
        error_message: text(value, "errorMessage"),
    })
}

impl Agent for ConfirmdClient {
    fn create_invitation<'a>(&'a self, alias: &'a str) -> AgentFuture<'a, Invitation> {
        Box::pin(async move {
            // multiUseInvitation defaults to true on the platform: always send false.
            let body = json!({ "multiUseInvitation": false, "autoAcceptConnection": true, "alias": alias });
            let data = self.call(Method::POST, self.org_url("/connections"), Some(body)).await?;
            Ok(Invitation {
                id: required(&data, "id")?,
                url: required(&data, "connectionInvitation")?,
                record_id: required(&data, "recordId")?,
            })
        })
    }

    fn connection_by_record<'a>(&'a self, record_id: &'a str) -> AgentFuture<'a, Option<ConnectionRecord>> {
        Box::pin(async move {
            let url = self.org_url(&format!("/agent/connections?outOfBandId={record_id}"));
            let data = self.call(Method::GET, url, None).await?;
            let records = data.as_array().cloned().unwrap_or_default();
            records.first().map(connection_record).transpose()
        })
    }

    fn connection<'a>(&'a self, connection_id: &'a str) -> AgentFuture<'a, ConnectionRecord> {
        Box::pin(async move {
            let data =
                self.call(Method::GET, self.org_url(&format!("/connections/{connection_id}")), None).await?;
            connection_record(&data)
        })
    }

    fn send_proof_request<'a>(&'a self, connection_id: &'a str) -> AgentFuture<'a, ProofRecord> {
        Box::pin(async move {
            let s = &self.settings;
            let attributes: Vec<Value> = s
                .requested_attributes
                .iter()
                .map(|name| json!({ "attributeName": name, "schemaId": s.schema_id, "credDefId": s.cred_def_id }))
                .collect();
            let body = json!({
                "connectionId": connection_id,
                "comment": "Beacon registration",
                "proofFormats": { "indy": { "attributes": attributes } },
                "autoAcceptProof": "never",
            });
            let data = self.call(Method::POST, self.org_url("/proofs?requestType=indy"), Some(body)).await?;
            proof_record(&data)
        })
    }

    fn proof<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, ProofRecord> {
        Box::pin(async move {
            let data = self.call(Method::GET, self.org_url(&format!("/proofs/{proof_id}")), None).await?;
            proof_record(&data)
        })
    }

    fn verify<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, ()> {
        Box::pin(async move {
            self.call(Method::POST, self.org_url(&format!("/proofs/{proof_id}/verify")), None).await?;
            Ok(())
        })
    }

    fn verified_attributes<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, BTreeMap<String, String>> {
        Box::pin(async move {
            let data =
                self.call(Method::GET, self.org_url(&format!("/verified-proofs/{proof_id}")), None).await?;
            let mut merged = BTreeMap::new();
            for entry in data.as_array().into_iter().flatten() {
                for (name, value) in entry.as_object().into_iter().flatten() {
                    if name == "credDefId" || name == "schemaId" {
                        continue;
                    }
                    if let Some(value) = value.as_str() {
                        merged.insert(name.clone(), value.to_owned());
                    }
                }
            }
            Ok(merged)
        })
    }
}
