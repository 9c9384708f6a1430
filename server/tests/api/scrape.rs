//! Reads one series from the application's `/metrics`.

use crate::helpers::TestApp;

/// The value of the counter or gauge `name`; panics, showing the page, when it is missing.
pub async fn metric(app: &TestApp, name: &str) -> u64 {
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    let line = metrics.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| {
        panic!("no {name} in /metrics:\n{metrics}");
    });
    line.rsplit(' ').next().unwrap().parse().unwrap()
}
