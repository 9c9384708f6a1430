//! The realtime hub's operations: the publish API's key and input, stats
//! and metrics, the publish CLI, and an admin's disconnect.

use protocol::CloseCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn publish_needs_the_key_and_valid_input() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let url = app.url("/api/realtime/publish");
    let body = json!({ "channel": "dashboard:x", "payload": {} });
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(&url).bearer_auth("wrong").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(&url)
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({ "channel": "nope:x", "payload": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"], "bad_request");
    let huge = json!({ "channel": "dashboard:x", "payload": { "pad": "x".repeat(70 * 1024) } });
    let r = client.post(&url).bearer_auth(PUBLISH_KEY).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // Nothing was stored by the refused requests.
    let bounds = app.store.log_bounds(&channel("dashboard:x")).await.unwrap();
    assert_eq!(bounds.head, 0);
}

#[tokio::test]
async fn stats_and_metrics_report_the_hub() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&visitor.inbox(), None).await;
    app.publish_ok(&visitor.inbox(), json!({})).await;
    socket.events(1).await;
    let r = reqwest::get(app.url("/api/admin/realtime-stats")).await.unwrap();
    assert_eq!(r.status(), 401);
    let stats: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/admin/realtime-stats"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["connections"], 1);
    assert_eq!(stats["subscribers_per_channel"][0], json!([visitor.inbox(), 1]));
    assert_eq!(stats["metrics"]["published"], 1);
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("beacon_events_published_total 1"), "{text}");
    assert!(text.contains("beacon_connections 1"), "{text}");
}

#[tokio::test]
async fn the_publish_cli_posts_through_the_api() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let answer =
        server::cli::publish(channel(&visitor.inbox()), r#"{"text":"hi"}"#, &app.url(""), PUBLISH_KEY)
            .await
            .unwrap();
    assert_eq!(answer.seq, 1);
    let err =
        server::cli::publish(channel(&visitor.inbox()), "{", &app.url(""), PUBLISH_KEY).await.unwrap_err();
    assert!(err.to_string().contains("not JSON"));
    let err = server::cli::publish(channel(&visitor.inbox()), "{}", &app.url(""), "wrong").await.unwrap_err();
    assert!(err.to_string().contains("401"));
}

#[tokio::test]
async fn an_admin_disconnect_closes_with_the_reconnect_code() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let other = app.visitor().await;
    let mut socket = visitor.connect().await;
    let mut bystander = other.connect().await;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(app.url("/api/admin/disconnect"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "principal": visitor.principal }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["closed"], 1);
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::Reconnect.code()));
    assert!(CloseCode::Reconnect.reconnect_allowed());
    // Other principals are untouched.
    bystander.subscribe(&other.inbox(), None).await;
}
