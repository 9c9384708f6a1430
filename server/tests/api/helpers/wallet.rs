//! The connect flow from a test: the dev agent's wallet, webhooks as the
//! platform posts them, and a visitor's connect session and registration.

use server::agent::dev::CONTROL_TOKEN_HEADER;

use super::*;

impl TestApp {
    /// Drives the dev agent's wallet: `connect`, `reject`, `share`, `share-invalid`, `decline`.
    pub async fn wallet(&self, code: &str, action: &str, body: serde_json::Value) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(self.url(&format!("/dev-agent/control/{code}/{action}")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn set_faults(&self, code: &str, faults: serde_json::Value) {
        let status = reqwest::Client::new()
            .put(self.url(&format!("/dev-agent/control/{code}/faults")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .json(&faults)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204, "faults accepted");
    }

    pub async fn wallet_view(&self, code: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(&format!("/dev-agent/control/{code}")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a webhook the way ConfirmD does, with this app's credentials.
    pub async fn post_webhook(&self, body: &serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/api/webhooks/confirmd"))
            .header("x-api-key", &self.webhook_secret)
            .header("x-org-id", &self.org_id)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

impl Visitor {
    /// Registers with a verified session; returns the HTTP status.
    pub async fn register(&self, session: &str, display_name: &str, email: &str) -> reqwest::StatusCode {
        let body = serde_json::json!({ "session_id": session, "display_name": display_name, "email": email });
        self.http.post(format!("{}/api/register", self.base)).json(&body).send().await.unwrap().status()
    }

    /// Starts a connect session; returns its view and the dev agent's invitation code.
    pub async fn start_connect(&self) -> (protocol::connect::ConnectView, String) {
        let response = self.http.post(format!("{}/api/connections/session", self.base)).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let view: protocol::connect::ConnectView = response.json().await.unwrap();
        let code = view.invitation_url.rsplit('/').next().unwrap().to_owned();
        (view, code)
    }
}
