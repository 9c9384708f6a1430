//! HTTP routes, one module per area, and the middleware stack around them.

pub mod conversations;
pub mod dashboards;
pub mod health;
pub mod inbox;
pub mod listener;
pub mod metrics;
pub mod pages;
pub mod realtime;
pub mod sessions;
mod site_files;
pub mod socket;
pub mod webhooks;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::visitor;
use crate::config::REQUEST_TIMEOUT;
use crate::state::AppState;

/// A JSON body, or the error its rejection deserves: too large (with the
/// route's limit) or a bad request naming what did not parse.
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
    max_bytes: usize,
) -> Result<T, crate::error::AppError> {
    body.map(|axum::Json(value)| value).map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => crate::error::AppError::TooLarge(max_bytes),
        _ => crate::error::AppError::BadRequest(e.body_text()),
    })
}

/// Every route of the application.
pub fn router(state: AppState) -> Router {
    let leptos_options = state.leptos_options.clone();
    let routes = generate_route_list(app::App);

    // Routes that know the visitor: pages, the token, long-poll, sessions.
    let visitor_routes = Router::new()
        .route("/api/realtime/token", get(realtime::token))
        .route("/api/realtime/poll", get(realtime::poll))
        .route("/api/connections/session", post(sessions::create))
        .route("/api/connections/session/{id}", get(sessions::status))
        .route("/api/connections/session/{id}/registration", get(sessions::registration))
        .route("/api/register", post(sessions::register))
        .route("/api/logout", post(sessions::logout))
        .route("/api/notifications", get(inbox::list))
        .route("/api/notifications/counts", get(inbox::counts))
        .route("/api/notifications/state", post(inbox::change))
        .route("/api/notifications/read-all", post(inbox::read_all))
        .route("/api/notifications/preferences", get(inbox::preferences).put(inbox::set_preferences))
        .route("/api/notifications/demo", post(inbox::demo))
        .route("/api/me", get(sessions::me))
        .route("/api/conversations", get(conversations::list).post(conversations::create))
        .route("/api/conversations/{id}", get(conversations::view))
        .route(
            "/api/conversations/{id}/messages",
            get(conversations::history)
                .post(conversations::send)
                .layer(axum::extract::DefaultBodyLimit::max(conversations::MAX_BODY_BYTES)),
        )
        .route("/api/conversations/{id}/read", post(conversations::mark_read))
        .route("/api/conversations/{id}/invites", post(conversations::invite))
        .route("/api/conversations/{id}/leave", post(conversations::leave))
        .route("/api/conversations/{id}/presence", get(conversations::presence))
        .route("/api/invites/{token}", get(conversations::preview))
        .route("/api/invites/{token}/accept", post(conversations::accept))
        .route("/api/dashboards", get(dashboards::list).post(dashboards::create))
        .route("/api/dashboards/{id}", get(dashboards::view))
        .route(
            "/api/dashboards/{id}/ops",
            post(dashboards::submit).layer(axum::extract::DefaultBodyLimit::max(dashboards::MAX_BODY_BYTES)),
        )
        .route("/api/dashboards/{id}/invites", post(dashboards::invite))
        .route("/api/dashboard-invites/{token}", get(dashboards::preview))
        .route("/api/dashboard-invites/{token}/accept", post(dashboards::accept))
        .merge(
            Router::new()
                .leptos_routes_with_context(&state, routes, pages::provide_backend(state.clone()), {
                    let options = leptos_options.clone();
                    move || app::shell(options.clone())
                })
                // Not on the fallback: it serves the site's files too, and the 404
                // page's inbox is loaded by the browser.
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), pages::preload_inbox)),
        )
        .fallback(site_files::file_or_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), visitor::ensure_visitor));

    let https = state.config.https;
    #[cfg(feature = "dev-agent")]
    let dev_agent = state.dev_agent.clone();
    #[allow(unused_mut)] // only the dev-agent build merges more routes
    let mut app = Router::new()
        .merge(api_routes())
        // The socket authenticates with its connect token, never the cookie:
        // outside the visitor layer, an upgrade costs no cookie check (a
        // database read for a signed-in visitor) and sets no cookie. In a
        // reconnect storm that is one read less per returning socket.
        .route("/ws", get(socket::upgrade))
        .merge(visitor_routes)
        .with_state(state);
    #[cfg(feature = "dev-agent")]
    if let Some(dev_agent) = dev_agent {
        app = app.merge(dev_agent.router());
    }
    with_layers(app, https, REQUEST_TIMEOUT)
}

/// The server-to-server routes alone, for `BEACON_API_BIND`'s listener.
pub fn api_router(state: AppState) -> Router {
    let https = state.config.https;
    with_layers(api_routes().with_state(state), https, REQUEST_TIMEOUT)
}

/// Server-to-server and operations routes: API keys, no cookies.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::prometheus))
        .route(
            "/api/realtime/publish",
            post(realtime::publish)
                .layer(axum::extract::DefaultBodyLimit::max(protocol::limits::MAX_PUBLISH_BYTES)),
        )
        .route("/api/realtime/grants", post(realtime::grant))
        .route(
            "/api/notifications",
            post(inbox::create)
                .layer(axum::extract::DefaultBodyLimit::max(protocol::limits::MAX_PUBLISH_BYTES)),
        )
        .route("/api/admin/realtime-stats", get(realtime::stats))
        .route("/api/admin/disconnect", post(realtime::disconnect))
        .route(
            "/api/webhooks/confirmd",
            post(webhooks::confirmd).layer(axum::extract::DefaultBodyLimit::max(webhooks::MAX_WEBHOOK_BYTES)),
        )
}

/// Request ids, tracing, the security headers, the timeout and compression.
/// The headers wrap the timeout, so its own answer carries them too.
fn with_layers(app: Router, https: bool, timeout: std::time::Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    app.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(security_header("x-content-type-options", "nosniff"))
            .layer(security_header("x-frame-options", "DENY"))
            .layer(security_header("referrer-policy", "strict-origin-when-cross-origin"))
            .layer(security_header("permissions-policy", "camera=(), microphone=(), geolocation=()"))
            // Pages set their own policy with the response's nonce (`app::shell`);
            // everything else (JSON, files, errors) runs no script at all.
            .layer(security_header("content-security-policy", API_CSP))
            .layer(SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static("strict-transport-security"),
                https.then(|| HeaderValue::from_static(HSTS)),
            ))
            .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
            .layer(CompressionLayer::new().compress_when(worth_compressing())),
    )
}

/// Smallest response body compressed. Below one TCP segment compression saves
/// no round trip, and a gzip encoder's setup cost more server CPU than the
/// rest of a publish (about 200 µs against 500: docs/PERFORMANCE.md, step 37);
/// HTTP clients ask for gzip by default, so every small JSON answer paid it.
const MIN_COMPRESSED_BYTES: u16 = 1024;

/// tower-http's default choice (not gRPC, images or event streams), with
/// [`MIN_COMPRESSED_BYTES`] in place of its 32 bytes.
fn worth_compressing() -> impl Predicate {
    SizeAbove::new(MIN_COMPRESSED_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// The policy of every response that is not a page.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Two years, subdomains too: once served over HTTPS, browsers never try HTTP.
const HSTS: &str = "max-age=63072000; includeSubDomains";

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(HeaderName::from_static(name), HeaderValue::from_static(value))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_request_that_times_out_still_gets_the_security_headers() {
        let never = Router::new().route("/slow", get(std::future::pending::<()>));
        let app = with_layers(never, true, Duration::from_millis(20));
        let answer = app.oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
        let headers = answer.headers();
        assert_eq!(headers["content-security-policy"], API_CSP);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["strict-transport-security"], HSTS);
        assert!(headers.contains_key("x-request-id"));
    }

    #[tokio::test]
    async fn only_answers_of_a_segment_or_more_are_compressed() {
        let body = |bytes: usize| move || std::future::ready("x".repeat(bytes));
        let app = with_layers(
            Router::new().route("/small", get(body(1023))).route("/large", get(body(1024))),
            false,
            Duration::from_secs(5),
        );
        let encoding = |path: &'static str| {
            let app = app.clone();
            async move {
                let request =
                    Request::get(path).header("accept-encoding", "gzip").body(Body::empty()).unwrap();
                let answer = app.oneshot(request).await.unwrap();
                answer.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned())
            }
        };
        assert_eq!(encoding("/small").await, None, "under a segment: as it is");
        assert_eq!(encoding("/large").await.as_deref(), Some("gzip"));
    }
}
