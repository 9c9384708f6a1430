//! Compression on the real routes: a page is gzipped for a client that asks,
//! a publish's short JSON answer is not (every HTTP client asks by default,
//! and setting up an encoder for a hundred bytes cost more than the publish).

use serde_json::json;

use crate::helpers::{PUBLISH_KEY, spawn_app};

#[tokio::test]
async fn a_page_is_gzipped_and_a_publish_answer_is_not() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();

    let answer = client
        .post(app.url("/api/realtime/publish"))
        .bearer_auth(PUBLISH_KEY)
        .header("accept-encoding", "gzip")
        .json(&json!({ "channel": "dashboard:compression", "payload": { "n": 1 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers().get("content-encoding"), None, "a short answer goes as it is");
    let published: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(published["seq"], 1, "readable without gzip: {published}");

    let page = client.get(app.url("/")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "gzip", "a page is compressed");
}
