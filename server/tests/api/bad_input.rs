//! Rows of the bad-input catalogue (docs/SECURITY.md) that no other test
//! covers: each input gets a typed error and changes nothing.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn long_poll_query_strings_that_do_not_parse_are_400s() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let poll = async |query: &[(&str, &str)]| {
        visitor.http.get(app.url("/api/realtime/poll")).query(query).send().await.unwrap()
    };
    let inbox = visitor.inbox();
    for query in [
        vec![("channel", inbox.as_str())],
        vec![("channel", inbox.as_str()), ("since", "abc")],
        vec![("channel", inbox.as_str()), ("since", "-1")],
        vec![("channel", inbox.as_str()), ("since", "18446744073709551616")],
        vec![("channel", "nope:x"), ("since", "0")],
        vec![("channel", "user:"), ("since", "0")],
    ] {
        let response = poll(&query).await;
        assert_eq!(response.status(), 400, "{query:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{query:?}");
    }
    // The largest since is not an error: the log is behind it, so the answer is a reset.
    let response = poll(&[("channel", inbox.as_str()), ("since", "18446744073709551615")]).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reset"]["reason"], "ahead_of_log");
}

#[tokio::test]
async fn webhook_bodies_that_are_not_records_are_refused_and_store_nothing_usable() {
    let app = spawn_app().await;
    let post = async |body: Vec<u8>| {
        reqwest::Client::new()
            .post(app.url("/api/webhooks/confirmd"))
            .header("x-api-key", &app.webhook_secret)
            .header("x-org-id", &app.org_id)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(post(vec![0xff, 0xfe, b'{']).await.status(), 400, "not UTF-8");
    assert_eq!(post(b"{\"type\": \"Connection\", ".to_vec()).await.status(), 400, "not JSON");
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_eq!(post(huge.into_bytes()).await.status(), 413, "larger than any record");
    // JSON that is no record Beacon knows: kept for inspection, acted on never.
    let odd = post(json!({ "hello": "world" }).to_string().into_bytes()).await;
    assert_eq!(odd.status(), 200);
    assert_eq!(odd.json::<serde_json::Value>().await.unwrap()["outcome"], "unclassified");
}

#[tokio::test]
async fn registration_before_verification_is_a_conflict_and_creates_nothing() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, _) = visitor.start_connect().await;
    assert_eq!(visitor.register(&view.session_id, "Ada", "ada@example.org").await, 409);
    assert_eq!(visitor.register("not-a-session", "Ada", "ada@example.org").await, 404);
    let malformed = visitor
        .http
        .post(app.url("/api/register"))
        .json(&json!({ "session_id": view.session_id, "display_name": "Ada" }))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400, "a missing field");
    assert_eq!(visitor.http.get(app.url("/api/me")).send().await.unwrap().status(), 404);
    let session = app.store.connect_session(&view.session_id).await.unwrap().unwrap();
    assert_eq!(session.status, protocol::connect::SessionStatus::AwaitingScan);
}

#[tokio::test]
async fn grants_and_admin_calls_refuse_bad_keys_and_bad_principals() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let grant = client
        .post(app.url("/api/realtime/grants"))
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({ "channel": "dashboard:d1", "principal": "not-hex" }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);
    let wrong_key = client
        .post(app.url("/api/realtime/grants"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "channel": "dashboard:d1", "principal": "0123456789abcdef0123456789abcdef" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401, "the admin key is not the publish key");
    let stats =
        client.get(app.url("/api/admin/realtime-stats")).bearer_auth(PUBLISH_KEY).send().await.unwrap();
    assert_eq!(stats.status(), 401, "nor the other way round");
    let disconnect = client
        .post(app.url("/api/admin/disconnect"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "principal": "0123", "extra": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(disconnect.status(), 400);
}
