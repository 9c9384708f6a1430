//! Safe defaults: the dev agent's guard rails, cookies, sign-in and sign-out,
//! the Content-Security-Policy, and refusals that name the request.

use protocol::{ClientMessage, ErrorCode, ServerMessage};
use serde_json::json;
use server::agent::dev::CONTROL_TOKEN_HEADER;

use crate::helpers::*;

/// A client that keeps no cookies, to read `Set-Cookie` itself.
fn bare() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn set_cookie(response: &reqwest::Response) -> String {
    response.headers().get("set-cookie").expect("a Set-Cookie header").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_dev_agent_control_api_needs_the_per_start_token() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (_, code) = visitor.start_connect().await;
    let control = app.url(&format!("/dev-agent/control/{code}/connect"));
    let client = reqwest::Client::new();
    let without = client.post(&control).json(&json!({})).send().await.unwrap();
    assert_eq!(without.status(), 401, "no token, no verified identity");
    let wrong =
        client.post(&control).header(CONTROL_TOKEN_HEADER, "guess").json(&json!({})).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let view = client.get(app.url(&format!("/dev-agent/control/{code}"))).send().await.unwrap();
    assert_eq!(view.status(), 401);
    assert!(app.wallet_view(&code).await["connection_state"].is_null(), "the refused calls changed nothing");
    assert_eq!(app.wallet(&code, "connect", json!({})).await, 202, "with the token it works");
}

#[tokio::test]
async fn the_wallet_page_carries_the_token_and_a_strict_policy() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (_, code) = visitor.start_connect().await;
    let page = reqwest::get(app.url(&format!("/i/{code}"))).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"<meta name="dev-agent-token" content="{}">"#, app.dev_agent_token)));
    assert!(!html.contains("<script>"), "no inline script");
    let script = reqwest::get(app.url("/dev-agent/assets/wallet.js")).await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("x-dev-agent-token"));
}

#[tokio::test]
async fn pages_show_the_dev_agent_ribbon_while_it_is_active() {
    let app = spawn_app().await;
    let html = reqwest::get(app.url("/")).await.unwrap().text().await.unwrap();
    assert!(html.contains("Development identity agent active"), "ribbon rendered on the server");
}

fn policy_of(path: &str, response: &reqwest::Response) -> String {
    let policy = response.headers().get("content-security-policy");
    let policy = policy.unwrap_or_else(|| panic!("{path}: a {} answer without a policy", response.status()));
    policy.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_get_a_nonce_policy_and_every_inline_script_carries_the_nonce() {
    let app = spawn_app().await;
    for path in ["/", "/register/connect", "/me", "/no-such-page"] {
        let response = bare().get(app.url(path)).send().await.unwrap();
        let csp = policy_of(path, &response);
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"))
            .to_owned();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        let html = response.text().await.unwrap();
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(!scripts.is_empty(), "{path}: the hydration script is there");
        for script in scripts {
            let tag = script.split('>').next().unwrap();
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: a script without the nonce: <script{tag}>"
            );
        }
        // A fresh nonce per response.
        let again = bare().get(app.url(path)).send().await.unwrap();
        assert!(!policy_of(path, &again).contains(&nonce));
    }
    let api = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
}

#[tokio::test]
async fn over_https_cookies_are_host_only_and_secure_with_hsts() {
    let app = spawn_app_with(|c| {
        c.public_url = Some("https://beacon.example.org".into());
        c.https = true;
    })
    .await;
    let response = bare().get(app.url("/api/realtime/token")).send().await.unwrap();
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("__Host-beacon_visitor="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));

    let plain = spawn_app().await;
    let response = bare().get(plain.url("/api/realtime/token")).send().await.unwrap();
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("beacon_visitor=") && !cookie.contains("Secure"), "{cookie}");
    assert!(response.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
}

/// A verified session for a new visitor; returns the visitor and the session id.
async fn verified(app: &TestApp) -> (Visitor, String) {
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    app.wallet(&code, "connect", json!({})).await;
    socket.statuses_until(protocol::connect::SessionStatus::AwaitingShare).await;
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.wallet_view(&code).await["proof_state"] != "request-sent" {
        assert!(tokio::time::Instant::now() < until, "proof request never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.wallet(&code, "share", json!({})).await;
    socket.statuses_until(protocol::connect::SessionStatus::Verified).await;
    (visitor, view.session_id)
}

#[tokio::test]
async fn registering_issues_a_new_principal_so_a_planted_cookie_gets_nothing() {
    let app = spawn_app().await;
    let (visitor, session) = verified(&app).await;
    // What an attacker who planted or copied the visitor's cookie holds.
    let planted = visitor.http.get(app.url("/api/realtime/token")).send().await.unwrap();
    let planted: protocol::ConnectToken = planted.json().await.unwrap();

    assert_eq!(visitor.register(&session, "Ada Lovelace", "ada@example.org").await, 201);
    let me: protocol::connect::UserView =
        visitor.http.get(app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_ne!(me.id, planted.principal, "the user is not the pre-registration principal");

    // The planted principal's token opens a socket, but as nobody in particular.
    let attacker = app.visitor().await;
    let mut socket = attacker.open_socket().await;
    let id = socket.send_request(|id| ClientMessage::Auth { id, token: planted.token }).await;
    socket.expect_ack(&id).await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: format!("user:{}", me.id),
            since: Some(0),
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
}

#[tokio::test]
async fn signing_out_revokes_on_the_server_so_a_copied_cookie_stops_working() {
    let app = spawn_app().await;
    let (visitor, session) = verified(&app).await;
    let response = visitor
        .http
        .post(app.url("/api/register"))
        .json(&json!({ "session_id": session, "display_name": "Ada", "email": "ada@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let copied = set_cookie(&response).split(';').next().unwrap().to_owned();
    let with_copy = |path: &str| bare().get(app.url(path)).header("cookie", copied.clone());
    assert_eq!(with_copy("/api/me").send().await.unwrap().status(), 200, "the copy works while signed in");
    let token: protocol::ConnectToken =
        with_copy("/api/realtime/token").send().await.unwrap().json().await.unwrap();
    let mut live = visitor.connect().await;

    let out = visitor.http.post(app.url("/api/logout")).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(set_cookie(&out).contains("Max-Age=0"), "the browser's cookie is cleared");

    let after = with_copy("/api/me").send().await.unwrap();
    assert_eq!(after.status(), 404, "the copied cookie is a stranger now");
    assert!(set_cookie(&after).starts_with("beacon_visitor="), "and gets a fresh anonymous principal");
    assert_eq!(live.closed().await, Closed::Code(protocol::CloseCode::Reconnect.code()), "open sockets end");
    // A token fetched before signing out no longer authenticates.
    let mut socket = app.visitor().await.open_socket().await;
    let id = socket.send_request(|id| ClientMessage::Auth { id, token: token.token }).await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::BadToken);
    assert_eq!(socket.closed().await, Closed::Code(protocol::CloseCode::BadToken.code()));
}

#[tokio::test]
async fn every_refusal_of_a_frame_with_a_readable_id_carries_it() {
    let app = spawn_app_with(|c| c.inbound_rate_per_sec = 2).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.open_socket().await;
    // Before auth.
    socket.send_json(&json!({"type": "subscribe", "id": "early", "channel": visitor.inbox()})).await;
    assert_eq!(socket.expect_nack(Some("early")).await, ErrorCode::NotAuthenticated);
    let token = visitor.token().await;
    socket.send_json(&json!({"type": "auth", "id": "a", "token": token})).await;
    socket.expect_ack("a").await;
    // A misspelt field, an unknown type: malformed or unknown, with the id.
    socket.send_json(&json!({"type": "subscribe", "id": "t", "channel": visitor.inbox(), "sinze": 3})).await;
    assert_eq!(socket.expect_nack(Some("t")).await, ErrorCode::MalformedMessage);
    socket.send_json(&json!({"type": "dance", "id": "u"})).await;
    assert_eq!(socket.expect_nack(Some("u")).await, ErrorCode::UnknownType);
    // Past the rate (2/s, burst 4): refused with the id too.
    let mut limited = None;
    for n in 0..5 {
        socket
            .send_json(&json!({"type": "unsubscribe", "id": format!("r{n}"), "channel": visitor.inbox()}))
            .await;
        if let ServerMessage::Nack(nack) = socket.recv().await
            && nack.code == ErrorCode::RateLimited
        {
            limited = nack.id;
            break;
        }
    }
    assert!(limited.is_some_and(|id| id.starts_with('r')), "rate-limit nack names the request");
}
