//! Health, pages, headers, the welcome message, graceful shutdown.

use protocol::{CloseCode, ServerMessage};

use crate::helpers::*;

#[tokio::test]
async fn health_reports_status_and_database() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["reachable"], true);
    let expected_backend = if app.database_url.starts_with("postgres") { "postgres" } else { "sqlite" };
    assert_eq!(body["database"]["backend"], expected_backend);
    assert_eq!(body["open_sockets"], 0);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn health_counts_open_sockets() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let _socket = visitor.connect().await;
    let body: serde_json::Value = reqwest::get(app.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(body["open_sockets"], 1);
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(reqwest::get(app.url("/health")).await.unwrap().status(), 200);
    // Close the server's own pool: every query fails from now on.
    app.store.close().await;
    let response = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"]["reachable"], false);
}

#[tokio::test]
async fn home_page_is_server_rendered_with_security_headers_and_a_visitor_cookie() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("x-request-id"));
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("beacon_visitor="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let html = response.text().await.unwrap();
    assert!(html.contains("Your channel, live"), "{html}");
    assert!(html.contains(r#"data-testid="bell""#), "the bell is in the first HTML: {html}");
    assert!(html.contains(r#"data-state="connecting""#), "{html}");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/no/such/page")).await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_socket_greets_with_welcome() {
    let app = spawn_app().await;
    let url = app.url("/ws").replacen("http://", "ws://", 1);
    let (mut stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::StreamExt;
    let frame = stream.next().await.unwrap().unwrap();
    let message: ServerMessage = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    match message {
        ServerMessage::Welcome(welcome) => {
            assert_eq!(welcome.heartbeat_interval_ms, 25_000);
            assert!(!welcome.connection_id.is_empty());
        }
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_closes_sockets_with_the_reconnect_code() {
    let mut app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let closing = tokio::spawn(async move { socket.closed().await });
    app.stop().await;
    assert_eq!(closing.await.unwrap(), Closed::Code(CloseCode::Shutdown.code()));
    assert!(CloseCode::Shutdown.reconnect_allowed());
}

#[tokio::test]
async fn cross_site_upgrades_are_refused() {
    let app = spawn_app().await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = app.url("/ws").replacen("http://", "ws://", 1).into_client_request().unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}
