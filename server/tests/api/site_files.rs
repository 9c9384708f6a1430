//! The site's files (the WASM module and its chunks, scripts, styles) next to
//! page renders. A page split into chunks has the browser ask for dozens of
//! files at once, while the same browser's `/favicon.ico` renders the 404
//! page and other visitors open the wallet connect page, whose render sets
//! a cookie: every file must come back as itself, `200 OK`, with no status or
//! header of a render running beside it (another visitor's cookie above all).

use futures_util::future::join_all;

use crate::helpers::spawn_app_with;

/// Files asked for at once, as a split page's first visit does.
const FILES: usize = 48;
/// Pages that do not exist, rendered (404) among them.
const MISSING_PAGES: usize = 16;
/// Connect pages of other visitors among them (each render sets a cookie).
const CONNECT_PAGES: usize = 8;
const ROUNDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_files_come_back_whole_beside_not_found_renders() {
    let app = spawn_app_with(|_| {}).await;
    let pkg = app.site_root().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let body = |n: usize| format!("chunk {n} ").repeat(200 + n).into_bytes();
    for n in 0..FILES {
        std::fs::write(pkg.join(format!("chunk_{n}.wasm")), body(n)).unwrap();
    }
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    // A visitor's cookie first, as a browser has it after the page itself.
    http.get(app.url("/")).send().await.unwrap();

    let mut wrong = Vec::new();
    for _ in 0..ROUNDS {
        let files = (0..FILES).map(|n| {
            let request = http.get(app.url(&format!("/pkg/chunk_{n}.wasm")));
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let cookie = response.headers().get(reqwest::header::SET_COOKIE).cloned();
                let same = response.bytes().await.unwrap() == body(n);
                (n, status, same, cookie)
            }
        });
        let missing = (0..MISSING_PAGES).map(|n| {
            let request = http.get(app.url(&format!("/no-such-page-{n}")));
            async move { request.send().await.unwrap().status() }
        });
        let connects = (0..CONNECT_PAGES).map(|_| {
            // Each a visitor of its own.
            let request = reqwest::Client::new().get(app.url("/register/connect"));
            async move { request.send().await.unwrap().status() }
        });
        let (files, missing, connects) = tokio::join!(join_all(files), join_all(missing), join_all(connects));
        wrong.extend(
            files
                .into_iter()
                .filter(|(_, status, same, cookie)| {
                    *status != reqwest::StatusCode::OK || !same || cookie.is_some()
                })
                .map(|(n, status, same, cookie)| {
                    format!("chunk_{n}.wasm: {status}, body intact: {same}, set-cookie: {cookie:?}")
                }),
        );
        assert!(missing.iter().all(|s| *s == reqwest::StatusCode::NOT_FOUND), "{missing:?}");
        assert!(connects.iter().all(|s| *s == reqwest::StatusCode::OK), "{connects:?}");
    }
    assert!(wrong.is_empty(), "{} of {} file answers were wrong: {wrong:?}", wrong.len(), FILES * ROUNDS);
}
