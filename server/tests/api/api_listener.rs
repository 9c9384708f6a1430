//! `BEACON_API_BIND`: the server-to-server routes on a listener of their own,
//! so publishers never queue behind a storm of sockets on the public port.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, PUBLISH_KEY, spawn_app_with};

#[tokio::test]
async fn the_api_listener_serves_the_server_routes_and_nothing_else() {
    let app = spawn_app_with(|c| c.api_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let api = format!("http://{}", app.api_addr.expect("an API listener"));
    let http = reqwest::Client::new();
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&inbox, None).await;

    let published = http
        .post(format!("{api}/api/realtime/publish"))
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({ "channel": inbox, "payload": { "via": "api" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let event = &socket.events(1).await[0];
    assert_eq!((event.seq, &event.payload), (1, &json!({ "via": "api" })));
    // The key is still required there.
    let unkeyed = http
        .post(format!("{api}/api/realtime/publish"))
        .json(&json!({ "channel": inbox, "payload": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(unkeyed.status(), 401);
    for path in ["/health", "/metrics"] {
        assert_eq!(http.get(format!("{api}{path}")).send().await.unwrap().status(), 200, "{path}");
    }
    let stats = http.get(format!("{api}/api/admin/realtime-stats")).bearer_auth(ADMIN_KEY).send().await;
    assert_eq!(stats.unwrap().status(), 200);

    // Visitors' routes are on the public port only.
    for path in ["/", "/ws", "/api/realtime/token", "/api/realtime/poll", "/pkg/beacon.js"] {
        let status = http.get(format!("{api}{path}")).send().await.unwrap().status();
        assert_eq!(status, 404, "{path} on the API listener");
    }
    // Creating notifications is a server's call; reading them is a visitor's.
    let listing = http.get(format!("{api}/api/notifications")).send().await.unwrap().status();
    assert_eq!(listing, 405);
    // And the public port keeps serving the API too (one port is the default).
    assert_eq!(app.publish_ok(&inbox, json!({ "via": "public" })).await, 2);
}
