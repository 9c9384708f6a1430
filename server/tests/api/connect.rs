//! The wallet-connect flow end to end over HTTP: Beacon, its ConfirmD client,
//! and the dev agent posting webhooks back, with every fault switch.

use std::time::Duration;

use futures_util::StreamExt;
use protocol::connect::SessionStatus::{self, *};
use serde_json::json;

use crate::helpers::*;

/// Statuses must only move forward along the flow.
fn assert_forward(seen: &[SessionStatus]) {
    let order = [AwaitingScan, Connecting, AwaitingShare, Verifying, Verified, Registered];
    let position = |s: &SessionStatus| order.iter().position(|o| o == s).unwrap_or(order.len());
    assert!(seen.windows(2).all(|w| position(&w[0]) < position(&w[1])), "forward only: {seen:?}");
}

/// Runs connect + share with `faults`; returns the statuses seen and the wallet view.
pub(crate) async fn verified_with(
    faults: serde_json::Value,
) -> (TestApp, Visitor, String, Vec<SessionStatus>, serde_json::Value) {
    let (app, visitor, session, _, seen, wallet) = verified_with_code(faults).await;
    (app, visitor, session, seen, wallet)
}

async fn verified_with_code(
    faults: serde_json::Value,
) -> (TestApp, Visitor, String, String, Vec<SessionStatus>, serde_json::Value) {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    assert_eq!(view.status, AwaitingScan);
    app.set_faults(&code, faults).await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;

    assert_eq!(app.wallet(&code, "connect", json!({ "label": "Ada's phone" })).await, 202);
    let mut seen = socket.statuses_until(AwaitingShare).await;
    // The proof request reaches the wallet; then the person shares.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.wallet_view(&code).await["proof_state"] != "request-sent" {
        assert!(tokio::time::Instant::now() < until, "proof request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.wallet(&code, "share", json!({})).await, 202);
    seen.extend(socket.statuses_until(Verified).await);
    let wallet = app.wallet_view(&code).await;
    (app, visitor, view.session_id, code, seen, wallet)
}

async fn session_status(visitor: &Visitor, app: &TestApp, id: &str) -> serde_json::Value {
    visitor
        .http
        .get(app.url(&format!("/api/connections/session/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_whole_flow_verifies_and_registers() {
    let (app, visitor, session, seen, wallet) = verified_with(json!({})).await;
    assert_eq!(seen, vec![Connecting, AwaitingShare, Verifying, Verified]);
    assert_eq!(wallet["proof_requests"], 1, "one proof request per session");
    assert_eq!(wallet["proof_state"], "done", "Beacon called verify");
    let status = session_status(&visitor, &app, &session).await;
    assert_eq!(status["status"], "verified");
    assert_eq!(status["wallet_label"], "Ada's phone");

    let draft: protocol::connect::RegistrationDraft = visitor
        .http
        .get(app.url(&format!("/api/connections/session/{session}/registration")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(draft.display_name, "Ada Lovelace");
    assert!(draft.attributes.contains(&("email".into(), "ada.lovelace@example.org".into())));

    assert_eq!(visitor.register(&session, "Ada", "not-an-email").await, 400);
    assert_eq!(visitor.http.get(app.url("/api/me")).send().await.unwrap().status(), 404, "nothing created");

    let mut socket = visitor.connect().await;
    let (replayed, _) = socket.subscribe(&format!("session:{session}"), Some(0)).await;
    assert_eq!(replayed.len(), 4, "the whole history replays for a late tab");
    assert_eq!(visitor.register(&session, "Ada Lovelace", "ada@example.org").await, 201);
    // The visitor's sockets are sent to reconnect: they come back as the user.
    loop {
        match tokio::time::timeout(FRAME_WAIT, socket.stream.next()).await.expect("closed in time") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), protocol::CloseCode::Reconnect.code());
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let me: protocol::connect::UserView =
        visitor.http.get(app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me.display_name, "Ada Lovelace");
    assert_ne!(me.id, visitor.principal, "registration issues a new principal (no session fixation)");
    assert!(me.attributes.contains(&("surname".into(), "Lovelace".into())));
    // The session went with the person: its channel is the user's now.
    let mut socket = visitor.connect().await;
    let (replayed, _) = socket.subscribe(&format!("session:{session}"), Some(0)).await;
    let last: protocol::connect::SessionUpdate =
        serde_json::from_value(replayed.last().unwrap().payload.clone()).unwrap();
    assert_eq!(last.status, Registered);

    assert_eq!(visitor.register(&session, "Ada", "ada@example.org").await, 409);
}

#[tokio::test]
async fn another_visitor_cannot_register_with_my_session() {
    let (app, _visitor, session, _, _) = verified_with(json!({})).await;
    let thief = app.visitor().await;
    assert_eq!(thief.register(&session, "Eve", "eve@example.org").await, 404);
}

#[tokio::test]
async fn shuffled_webhooks_still_verify() {
    let (_app, _, _, seen, wallet) = verified_with(json!({ "shuffle": true })).await;
    assert_forward(&seen);
    assert_eq!(seen.last(), Some(&Verified));
    assert_eq!(wallet["proof_requests"], 1);
}

#[tokio::test]
async fn duplicated_webhooks_are_applied_once() {
    let (app, _, _, seen, wallet) = verified_with(json!({ "duplicate": true })).await;
    assert_eq!(seen, vec![Connecting, AwaitingShare, Verifying, Verified]);
    assert_eq!(wallet["proof_requests"], 1, "the duplicate `completed` did not ask twice");
    let outcomes = app.store.webhook_outcomes().await.unwrap();
    assert!(outcomes.iter().all(|(outcome, _)| outcome != "unmatched"), "{outcomes:?}");
}

#[tokio::test]
async fn a_dropped_completed_is_recovered_by_polling_the_platform() {
    let (app, _, _, code, seen, _) = verified_with_code(json!({ "drop_state": "completed" })).await;
    assert_forward(&seen);
    assert!(seen.contains(&AwaitingShare));
    // The `done` webhook follows Beacon's verify call; wait until the agent sent all six.
    let mut wallet = serde_json::Value::Null;
    for _ in 0..250 {
        wallet = app.wallet_view(&code).await;
        if wallet["sent"].as_array().map_or(0, Vec::len) == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = wallet["sent"].as_array().unwrap().iter().filter(|s| s["status"] == 0).count();
    assert_eq!(dropped, 1, "the completed webhook was never sent");
    // Received: request-received, response-sent; then request-sent, presentation-received, done.
    let stored = app.store.webhook_outcomes().await.unwrap();
    let total: i64 = stored.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 5, "{stored:?}");
    assert!(stored.iter().all(|(outcome, _)| outcome == "applied" || outcome == "ignored"), "{stored:?}");
}

#[tokio::test]
async fn delayed_webhooks_still_verify() {
    let (_app, _, _, seen, _) = verified_with(json!({ "delay_ms": 150 })).await;
    assert_eq!(seen.last(), Some(&Verified));
}

#[tokio::test]
async fn stale_tags_are_ignored() {
    let (_app, _, _, seen, _) = verified_with(json!({ "stale_tags": true })).await;
    assert_eq!(seen, vec![Connecting, AwaitingShare, Verifying, Verified]);
}

#[tokio::test]
async fn an_out_of_band_id_only_in_tags_still_correlates() {
    let (_app, _, _, seen, _) = verified_with(json!({ "oob_only_in_tags": true })).await;
    assert_eq!(seen.last(), Some(&Verified));
}

#[tokio::test]
async fn the_reuse_shape_correlates_through_the_out_of_band_record() {
    let (_app, _, _, seen, wallet) = verified_with(json!({ "reuse": true })).await;
    assert_eq!(seen, vec![AwaitingShare, Verifying, Verified]);
    assert_eq!(wallet["proof_requests"], 1);
}

#[tokio::test]
async fn flat_and_signed_envelopes_are_understood() {
    for envelope in ["flat", "signed"] {
        let (_app, _, _, seen, _) = verified_with(json!({ "envelope": envelope })).await;
        assert_eq!(seen, vec![Connecting, AwaitingShare, Verifying, Verified], "{envelope}");
    }
}

#[tokio::test]
async fn webhooks_with_wrong_credentials_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let body = json!({"type": "Connection", "data": {"id": "c", "state": "completed", "role": "responder"}});
    let client = reqwest::Client::new();
    let url = app.url("/api/webhooks/confirmd");
    let missing = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong_key = client
        .post(&url)
        .header("x-api-key", "nope")
        .header("x-org-id", &app.org_id)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401);
    let wrong_org = client
        .post(&url)
        .header("x-api-key", &app.webhook_secret)
        .header("x-org-id", "someone-else")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_org.status(), 401);
    let forged_signature = client
        .post(&url)
        .header("x-timestamp", server::store::now_ms().to_string())
        .header("x-signature", "00ff")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged_signature.status(), 401);
    assert!(app.store.webhook_outcomes().await.unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn an_unmatched_webhook_is_stored_not_guessed() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, _) = visitor.start_connect().await;
    let stranger = json!({"type": "Connection", "data": {"id": "conn-x", "state": "completed", "role": "responder",
        "outOfBandId": "unknown-oob", "theirLabel": "Mallory"}});
    let answer: serde_json::Value = app.post_webhook(&stranger).await.json().await.unwrap();
    assert_eq!(answer["outcome"], "unmatched");
    assert_eq!(app.store.webhook_outcomes().await.unwrap(), vec![("unmatched".to_owned(), 1)]);
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("beacon_webhooks_unmatched_total 1"), "{metrics}");
    // The open session was not touched.
    let status = session_status(&visitor, &app, &view.session_id).await;
    assert_eq!(status["status"], "awaiting_scan");
    // The same webhook again is a duplicate.
    let again: serde_json::Value = app.post_webhook(&stranger).await.json().await.unwrap();
    assert_eq!(again["outcome"], "duplicate");
    let garbage: serde_json::Value = app.post_webhook(&json!({"hello": "world"})).await.json().await.unwrap();
    assert_eq!(garbage["outcome"], "unclassified");
}

#[tokio::test]
async fn the_confirmd_client_speaks_the_platform_api_of_the_dev_agent() {
    use server::agent::Agent;
    use server::agent::confirmd::{ConfirmdClient, ConfirmdSettings};
    let app = spawn_app().await;
    let settings = |secret: &str| ConfirmdSettings {
        base_url: app.url("/dev-agent"),
        auth_url: app.url("/dev-agent/auth/token"),
        client_id: "beacon-dev".into(),
        client_secret: server::config::Secret::new(secret),
        org_id: app.org_id.clone(),
        requested_attributes: vec!["surname".into()],
        schema_id: "s".into(),
        cred_def_id: "c".into(),
    };
    let wrong = ConfirmdClient::new(settings("wrong-secret"));
    let err = wrong.create_invitation("alias").await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    // The dev agent's client secret is random per start; read it from a session the app made.
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let invitation_json: String = reqwest::Client::new()
        .get(&view.invitation_url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oob = invitation_json.split_once("?oob=").unwrap().1;
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(oob).unwrap();
    let invitation: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(invitation["@type"], "https://didcomm.org/out-of-band/1.1/invitation");
    // Read twice: short links do not expire on first read.
    let again =
        reqwest::Client::new().get(&view.invitation_url).header("accept", "application/json").send().await;
    assert_eq!(again.unwrap().status(), 200);
    let page = reqwest::get(&view.invitation_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("Beacon wants to connect"));
    assert_eq!(app.wallet_view(&code).await["alias"], view.session_id, "the alias is the session id");
}

#[tokio::test]
async fn the_stall_poller_backs_off_on_a_quiet_session() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (_, code) = visitor.start_connect().await;
    // Stalled after 400 ms, polled every 100 ms: without backoff that is ~16
    // reads in two seconds; doubling from 100 ms it is about four.
    tokio::time::sleep(Duration::from_millis(2_400)).await;
    let reads = app.wallet_view(&code).await["connection_reads"].as_u64().unwrap();
    assert!((1..=6).contains(&reads), "the platform was asked {reads} times");
}
