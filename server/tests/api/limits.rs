//! Abuse limits that hold however many cookies a client mints: per address,
//! per principal for long-polls, and for the whole server; trusted proxies.

use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

/// Opens a WebSocket from "address" `forwarded` (sent as `X-Forwarded-For`);
/// returns the HTTP status of a refused upgrade.
async fn upgrade(app: &TestApp, forwarded: Option<&str>) -> Result<TestSocketStream, u16> {
    let mut request = app.url("/ws").replacen("http://", "ws://", 1).into_client_request().unwrap();
    if let Some(address) = forwarded {
        request.headers_mut().insert("x-forwarded-for", address.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(stream),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("upgrade failed oddly: {other}"),
    }
}

type TestSocketStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Retries `attempt` until it succeeds (a closed socket frees its place once
/// its task ends) or the wait runs out.
async fn eventually<T, E: std::fmt::Debug>(mut attempt: impl AsyncFnMut() -> Result<T, E>) -> T {
    let until = tokio::time::Instant::now() + FRAME_WAIT;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(err) if tokio::time::Instant::now() > until => panic!("never succeeded: {err:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn sockets_per_address_are_capped_and_places_come_back() {
    let app = spawn_app_with(|c| c.abuse.sockets_per_ip = 2).await;
    let first = upgrade(&app, None).await.unwrap();
    let _second = upgrade(&app, None).await.unwrap();
    assert_eq!(upgrade(&app, None).await.err(), Some(429), "however many cookies it mints");
    drop(first);
    eventually(async || upgrade(&app, None).await.map(drop)).await;
}

#[tokio::test]
async fn the_whole_server_caps_sockets() {
    let app = spawn_app_with(|c| c.abuse.max_sockets = 1).await;
    let _only = upgrade(&app, None).await.unwrap();
    assert_eq!(upgrade(&app, None).await.err(), Some(503));
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let untrusted = spawn_app_with(|c| c.abuse.sockets_per_ip = 1).await;
    let _a = upgrade(&untrusted, Some("203.0.113.1")).await.unwrap();
    assert_eq!(
        upgrade(&untrusted, Some("203.0.113.2")).await.err(),
        Some(429),
        "a written header is no escape"
    );

    let proxied = spawn_app_with(|c| {
        c.abuse.sockets_per_ip = 1;
        c.trusted_proxies = vec![server::config::IpNet::parse("127.0.0.1").unwrap()];
    })
    .await;
    let _a = upgrade(&proxied, Some("203.0.113.1")).await.unwrap();
    let _b = upgrade(&proxied, Some("203.0.113.2")).await.unwrap();
    assert_eq!(
        upgrade(&proxied, Some("203.0.113.1")).await.err(),
        Some(429),
        "each client its own allowance"
    );
    assert_eq!(
        upgrade(&proxied, Some("198.51.100.7, 203.0.113.1")).await.err(),
        Some(429),
        "the nearest hop counts"
    );
}

#[tokio::test]
async fn one_principal_cannot_hold_more_long_polls_than_its_share() {
    let app = spawn_app_with(|c| {
        c.abuse.long_polls_per_principal = 1;
        c.long_poll_wait = Duration::from_secs(2);
    })
    .await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let waiting = {
        let http = visitor.http.clone();
        let url = app.url("/api/realtime/poll");
        let inbox = inbox.clone();
        tokio::spawn(async move {
            http.get(url).query(&[("channel", inbox.as_str()), ("since", "0")]).send().await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = visitor.poll(&inbox, 0).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(waiting.await.unwrap().unwrap().status(), 200, "the waiting one answers at its deadline");
    assert_eq!(visitor.poll(&inbox, 0).await.status(), 200, "its place came back");
}

#[tokio::test]
async fn connect_sessions_are_limited_per_address_not_per_cookie() {
    let app = spawn_app_with(|c| c.abuse.connect_sessions_per_ip_per_min = 2).await;
    let create = async |visitor: &Visitor| {
        visitor.http.post(app.url("/api/connections/session")).send().await.unwrap()
    };
    let one = app.visitor().await;
    assert_eq!(create(&one).await.status(), 201);
    assert_eq!(create(&one).await.status(), 201);
    let fresh_cookie = app.visitor().await;
    let refused = create(&fresh_cookie).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}

#[tokio::test]
async fn token_requests_are_limited_per_address() {
    let app = spawn_app_with(|c| c.abuse.token_requests_per_ip_per_min = 3).await;
    let visitor = app.visitor().await; // the first token
    let token = async || visitor.http.get(app.url("/api/realtime/token")).send().await.unwrap().status();
    assert_eq!(token().await, 200);
    assert_eq!(token().await, 200);
    assert_eq!(token().await, 429);
}

fn session_of(html: &str) -> String {
    let start = html.find("data-session=\"").expect("the connect card") + "data-session=\"".len();
    html[start..start + 32].to_owned()
}

#[tokio::test]
async fn reopening_the_connect_page_shows_the_same_qr_and_crawlers_are_told_off() {
    let app = spawn_app_with(|c| c.abuse.connect_sessions_per_ip_per_min = 2).await;
    let visitor = app.visitor().await;
    let page = async |path: &str| visitor.http.get(app.url(path)).send().await.unwrap();
    let first = page("/register/connect").await;
    assert_eq!(first.headers()["x-robots-tag"], "noindex, nofollow");
    let first = first.text().await.unwrap();
    assert!(first.contains(r#"<meta name="robots" content="noindex, nofollow""#));
    let session = session_of(&first);
    for _ in 0..5 {
        // Reloads and prefetches cost nothing: the same session, no new platform call.
        assert_eq!(session_of(&page("/register/connect").await.text().await.unwrap()), session);
    }
    let renewed = session_of(&page("/register/connect?new=1").await.text().await.unwrap());
    assert_ne!(renewed, session, "the new-QR link makes a new one");
    let old = app.store.connect_session(&session).await.unwrap().unwrap();
    assert_eq!(old.status, protocol::connect::SessionStatus::Expired, "one live QR per visitor");
    let refused = page("/register/connect?new=1").await.text().await.unwrap();
    assert!(refused.contains("too many requests"), "the allowance of 2 per minute is spent");
}
