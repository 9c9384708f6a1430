//! The notification inbox: creation with idempotency, read state with a
//! watermark, counts that always match the table, owners only, muted
//! categories, polling with 304s, and one event per change.

use protocol::inbox::{
    ChangeAnswer, CreateAnswer, InboxCounts, InboxEvent, InboxPage, NotificationView, Preferences,
    StateChange,
};
use serde_json::json;

use crate::helpers::*;

impl TestApp {
    async fn notify(
        &self,
        recipients: &[&str],
        category: &str,
        title: &str,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request =
            reqwest::Client::new().post(self.url("/api/notifications")).bearer_auth(PUBLISH_KEY);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request
            .json(&json!({ "recipients": recipients, "category": category, "title": title, "body": "…" }))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn notify_ok(&self, recipient: &str, title: &str) -> String {
        let response = self.notify(&[recipient], "mention", title, None).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let answer: CreateAnswer = response.json().await.unwrap();
        answer.notifications[0].id.clone()
    }
}

impl Visitor {
    async fn page(&self, app: &TestApp, query: &str) -> InboxPage {
        let response = self.http.get(app.url(&format!("/api/notifications{query}"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn all(&self, app: &TestApp) -> Vec<NotificationView> {
        let mut items = self.page(app, "?limit=100").await.items;
        items.extend(self.page(app, "?filter=archived&limit=100").await.items);
        items
    }

    async fn change(&self, app: &TestApp, ids: &[String], change: StateChange) -> ChangeAnswer {
        let response = self
            .http
            .post(app.url("/api/notifications/state"))
            .json(&json!({ "ids": ids, "change": change }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn read_all(&self, app: &TestApp, up_to: u64) -> ChangeAnswer {
        let response = self
            .http
            .post(app.url("/api/notifications/read-all"))
            .json(&json!({ "up_to": up_to }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// The counts, recounted from the rows themselves.
fn recount(items: &[NotificationView]) -> InboxCounts {
    let live: Vec<_> = items.iter().filter(|n| !n.archived).collect();
    InboxCounts {
        total: live.len() as u64,
        unread: live.iter().filter(|n| !n.read).count() as u64,
        unseen: live.iter().filter(|n| !n.seen).count() as u64,
    }
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_makes_one() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let first = app.notify(&[&ada.principal], "mention", "Hello", Some("order-42")).await;
    assert_eq!(first.status(), 201);
    let first: CreateAnswer = first.json().await.unwrap();
    let again = app.notify(&[&ada.principal], "mention", "Hello", Some("order-42")).await;
    assert_eq!(again.status(), 200, "nothing new");
    let again: CreateAnswer = again.json().await.unwrap();
    assert_eq!(again.notifications[0].id, first.notifications[0].id);
    assert!(first.notifications[0].created && !again.notifications[0].created);
    assert_eq!(ada.all(&app).await.len(), 1);
    assert_eq!(app.store.log_bounds(&channel(&ada.inbox())).await.unwrap().head, 1, "announced once");
    // Concurrent retries of another key: still one.
    let recipient = [ada.principal.as_str()];
    let retries = (0..8).map(|_| app.notify(&recipient, "mention", "Again", Some("order-43")));
    let answers = futures_util::future::join_all(retries).await;
    assert!(answers.iter().all(|r| r.status().is_success()));
    assert_eq!(ada.all(&app).await.len(), 2);
    // A different key in the body and the header is a mistake, not a guess.
    let conflicting = reqwest::Client::new()
        .post(app.url("/api/notifications"))
        .bearer_auth(PUBLISH_KEY)
        .header("idempotency-key", "a")
        .json(&json!({ "recipients": [ada.principal], "category": "mention", "title": "x", "idempotency_key": "b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(conflicting.status(), 400);
}

#[tokio::test]
async fn mark_all_read_is_a_watermark_so_a_notification_arriving_meanwhile_stays_unread() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    app.notify_ok(&ada.principal, "one").await;
    app.notify_ok(&ada.principal, "two").await;
    let seen_up_to = ada.page(&app, "").await.head_seq;
    // Arrives after the tab rendered, before its "mark all read" lands.
    let late = app.notify_ok(&ada.principal, "three").await;
    let answer = ada.read_all(&app, seen_up_to).await;
    assert_eq!(answer.counts.unread, 1);
    let items = ada.all(&app).await;
    assert!(items.iter().all(|n| n.read == (n.id != late)), "{items:?}");
    assert_eq!(ada.read_all(&app, seen_up_to).await.changed, 0, "idempotent");

    // And under real concurrency: whatever was announced after the watermark stays unread.
    let up_to = ada.page(&app, "").await.head_seq;
    let recipient = [ada.principal.as_str()];
    let keys: Vec<String> = (0..10).map(|i| format!("race-{i}")).collect();
    let creates = keys.iter().map(|key| app.notify(&recipient, "mention", "racing", Some(key)));
    let (_, answer) = tokio::join!(futures_util::future::join_all(creates), ada.read_all(&app, up_to));
    let items = ada.all(&app).await;
    for item in &items {
        assert_eq!(item.read, item.seq <= up_to, "read exactly up to the watermark: {item:?}");
    }
    assert_eq!(recount(&items).unread, 10, "the ten racers, all announced after the watermark");
    assert!(answer.counts.unread <= 10);
}

#[tokio::test]
async fn counts_after_every_operation_equal_a_recount_and_every_change_is_one_event() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let mut socket = ada.connect().await;
    socket.subscribe(&ada.inbox(), Some(0)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.notify_ok(&ada.principal, &format!("n{i}")).await);
    }
    let expect_event = async |socket: &mut TestSocket, counts: InboxCounts| {
        let event = socket.events(1).await.remove(0);
        let event: InboxEvent = serde_json::from_value(event.payload).unwrap();
        assert_eq!(event.counts(), counts, "the event carries the counts after its change");
    };
    let mut last = InboxCounts::default();
    for _ in 0..5 {
        let event: InboxEvent = serde_json::from_value(socket.events(1).await.remove(0).payload).unwrap();
        last = event.counts();
    }
    assert_eq!(last, recount(&ada.all(&app).await));
    let steps: Vec<(Vec<String>, StateChange)> = vec![
        (ids[0..2].to_vec(), StateChange::Seen),
        (ids[1..3].to_vec(), StateChange::Read),
        (ids[2..3].to_vec(), StateChange::Unread),
        (ids[3..5].to_vec(), StateChange::Archived),
        (ids[4..5].to_vec(), StateChange::Unarchived),
        (ids[0..5].to_vec(), StateChange::Read),
    ];
    for (ids, change) in steps {
        let answer = ada.change(&app, &ids, change).await;
        let recounted = recount(&ada.all(&app).await);
        assert_eq!(answer.counts, recounted, "after {change:?}");
        assert!(answer.changed > 0);
        expect_event(&mut socket, recounted).await;
        // Repeating a change changes nothing and announces nothing.
        assert_eq!(ada.change(&app, &ids, change).await.changed, 0);
    }
    let head = app.store.log_bounds(&channel(&ada.inbox())).await.unwrap().head;
    assert_eq!(head, 11, "5 created + 6 changes, no event for the repeats");
}

#[tokio::test]
async fn nobody_reads_or_changes_someone_elses_inbox() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let bob = app.visitor().await;
    let id = app.notify_ok(&ada.principal, "for Ada").await;
    assert!(bob.all(&app).await.is_empty(), "Bob's listing is Bob's");
    for change in [StateChange::Seen, StateChange::Read, StateChange::Archived] {
        assert_eq!(bob.change(&app, std::slice::from_ref(&id), change).await.changed, 0);
    }
    assert_eq!(bob.read_all(&app, u64::MAX).await.changed, 0);
    let counts: InboxCounts =
        bob.http.get(app.url("/api/notifications/counts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counts, InboxCounts::default());
    let ada_items = ada.all(&app).await;
    assert!(!ada_items[0].seen && !ada_items[0].read && !ada_items[0].archived, "untouched");
    assert_eq!(app.store.log_bounds(&channel(&ada.inbox())).await.unwrap().head, 1, "nothing announced");
    // Creating needs the publish key.
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/notifications"))
        .json(&json!({ "recipients": [ada.principal], "category": "mention", "title": "spoof" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Bad input is refused whole.
    let bad = app.notify(&[&ada.principal, "not-a-principal"], "mention", "x", None).await;
    assert_eq!(bad.status(), 400);
    let bad_id = bob
        .http
        .post(app.url("/api/notifications/state"))
        .json(&json!({ "ids": ["<script>"], "change": "read" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);
    assert_eq!(ada.all(&app).await.len(), 1);
}

#[tokio::test]
async fn a_muted_category_is_stored_read_without_a_toast_and_critical_ones_cannot_be_muted() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let put = async |body: serde_json::Value| {
        ada.http.put(app.url("/api/notifications/preferences")).json(&body).send().await.unwrap()
    };
    let muted =
        put(json!({ "categories": [{ "category": "mention", "muted": true, "critical": false }] })).await;
    assert_eq!(muted.status(), 200);
    let prefs: Preferences = muted.json().await.unwrap();
    assert!(prefs.categories.iter().any(|c| c.category == "mention" && c.muted));
    assert!(prefs.categories.iter().any(|c| c.category == "security" && c.critical));
    let refused =
        put(json!({ "categories": [{ "category": "security", "muted": true, "critical": true }] })).await;
    assert_eq!(refused.status(), 400);

    let mut socket = ada.connect().await;
    socket.subscribe(&ada.inbox(), Some(0)).await;
    app.notify_ok(&ada.principal, "muted mention").await;
    let event: InboxEvent = serde_json::from_value(socket.events(1).await.remove(0).payload).unwrap();
    match event {
        InboxEvent::Created { notification, toast, counts } => {
            assert!(notification.read && !toast);
            assert_eq!(counts.unread, 0);
        }
        other => panic!("expected created, got {other:?}"),
    }
    let security = app.notify(&[&ada.principal], "security", "New sign-in", None).await;
    assert_eq!(security.status(), 201);
    let event: InboxEvent = serde_json::from_value(socket.events(1).await.remove(0).payload).unwrap();
    assert!(matches!(event, InboxEvent::Created { toast: true, counts, .. } if counts.unread == 1));
}

#[tokio::test]
async fn polling_clients_get_304_until_something_changes() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let first = ada.http.get(app.url("/api/notifications")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-poll-interval"], "30");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let head = first.json::<InboxPage>().await.unwrap().head_seq;
    let again =
        ada.http.get(app.url("/api/notifications")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.headers().contains_key("x-poll-interval"));
    let by_since = ada.http.get(app.url(&format!("/api/notifications?since={head}"))).send().await.unwrap();
    assert_eq!(by_since.status(), 304);
    app.notify_ok(&ada.principal, "news").await;
    let changed =
        ada.http.get(app.url("/api/notifications")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(changed.json::<InboxPage>().await.unwrap().items.len(), 1);
    let bad = ada.http.get(app.url("/api/notifications?filter=everything")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    for i in 0..7 {
        app.notify_ok(&ada.principal, &format!("n{i}")).await;
    }
    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = ada.page(&app, &query).await;
        seen.extend(page.items.iter().map(|n| n.title.clone()));
        match page.next_cursor {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("n{i}")).collect();
    assert_eq!(seen, expected, "newest first, each once");
    let unread = ada.page(&app, "?filter=unread&category=mention").await;
    assert_eq!(unread.items.len(), 7);
    assert!(ada.page(&app, "?category=system").await.items.is_empty());
}

#[tokio::test]
async fn the_notify_cli_sends_through_the_api() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let request = protocol::inbox::CreateNotifications {
        recipients: vec![ada.principal.clone()],
        category: "system".into(),
        title: "From the command line".into(),
        body: String::new(),
        link: Some("/notifications".into()),
        actor: None,
        idempotency_key: Some("cli-1".into()),
    };
    let answer = server::cli::notify(&request, &app.url(""), PUBLISH_KEY).await.unwrap();
    assert!(answer.notifications[0].created);
    assert_eq!(ada.all(&app).await[0].title, "From the command line");
    let err = server::cli::notify(&request, &app.url(""), "wrong-key").await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}

#[tokio::test]
async fn the_notifications_page_is_rendered_on_the_server_with_the_list_and_the_counts() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    app.notify_ok(&visitor.principal, "First of two").await;
    let second = app.notify_ok(&visitor.principal, "Second of two").await;
    visitor.change(&app, &[second], StateChange::Read).await;

    // Several renders at once: the page's state is never shared between them.
    let renders = (0..8).map(|_| async {
        let response = visitor.http.get(app.url("/notifications")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    });
    for html in futures_util::future::join_all(renders).await {
        assert!(html.contains("1 unread of 2"), "the counts are in the first HTML: {html}");
        let list = html.split(r#"data-testid="inbox-list""#).nth(1).expect("the list is in the first HTML");
        let (first, second) = (list.find("First of two").unwrap(), list.find("Second of two").unwrap());
        assert!(second < first, "newest first: {list}");
        assert_eq!(list.matches(r#"class="inbox-item"#).count(), 2, "{list}");
    }
}
