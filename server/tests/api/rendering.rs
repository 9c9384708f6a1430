//! Server rendering under load: every page's HTML arrives whole and right,
//! however many render at once. A render that fails here would leave a visitor
//! on a blank page until the request timeout, and (a panic inside the reactive
//! arena) could break every render after it.

use std::time::Duration;

use futures_util::future::join_all;

use crate::helpers::{TestApp, spawn_app};

/// Every page of the app, and one that does not exist.
const PAGES: [&str; 8] =
    ["/", "/register/connect", "/register", "/me", "/notifications", "/chat", "/dashboards", "/no-such-page"];
/// Renders of each page at once, and how many times over.
const AT_ONCE: usize = 4;
const ROUNDS: usize = 4;
/// Far longer than a render takes (milliseconds), far shorter than the request timeout.
const RENDER_WAIT: Duration = Duration::from_secs(20);

fn expected_status(path: &str) -> reqwest::StatusCode {
    match path {
        "/no-such-page" => reqwest::StatusCode::NOT_FOUND,
        _ => reqwest::StatusCode::OK,
    }
}

/// Renders every page many times at once, as a first-time visitor (no cookie)
/// and as a visitor with one unread notification, whose count must be in the
/// title of every page.
async fn render_every_page_many_times(app: &TestApp) {
    let first_visit = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(RENDER_WAIT)
        .build()
        .unwrap();
    let visitor = app.visitor().await;
    app.notify_ok(&visitor.principal, "One unread").await;

    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        let renders =
            PAGES.iter().flat_map(|path| std::iter::repeat_n(*path, AT_ONCE)).enumerate().map(|(i, path)| {
                let (client, title) = match i % 2 {
                    0 => (&first_visit, "<title>Beacon</title>"),
                    // The 404 page is rendered without the inbox (the browser loads it).
                    _ if path == "/no-such-page" => (&visitor.http, "<title>Beacon</title>"),
                    _ => (&visitor.http, "<title>(1) Beacon</title>"),
                };
                let request = client.get(app.url(path)).send();
                async move {
                    let outcome = tokio::time::timeout(RENDER_WAIT, async {
                        let response = request.await?;
                        let status = response.status();
                        Ok::<_, reqwest::Error>((status, response.text().await?))
                    })
                    .await;
                    (path, title, outcome)
                }
            });
        for (path, title, outcome) in join_all(renders).await {
            match outcome {
                Ok(Ok((status, html)))
                    if html.contains("</html>")
                        && html.contains(title)
                        && status == expected_status(path) => {}
                Ok(Ok((status, html))) => wrong.push(format!(
                    "round {round} {path}: {status}, {} bytes, {title} {}, ending {:?}",
                    html.len(),
                    if html.contains(title) { "present" } else { "missing" },
                    &html[html.len().saturating_sub(80)..]
                )),
                Ok(Err(err)) => wrong.push(format!("round {round} {path}: {err:?}")),
                Err(_) => wrong.push(format!("round {round} {path}: no answer in {RENDER_WAIT:?}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{} renders went wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn every_page_renders_whole_when_many_render_at_once() {
    render_every_page_many_times(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_whole_on_a_multi_threaded_runtime_too() {
    render_every_page_many_times(&spawn_app().await).await;
}
