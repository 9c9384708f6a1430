//! The conversation list (`GET /api/conversations`): each conversation with
//! its newest message, the most recently active first.

use std::time::Duration;

use protocol::chat::ConversationSummary;

use crate::chat::{create_conversation, say};
use crate::helpers::spawn_app;

#[tokio::test]
async fn each_conversation_comes_with_its_newest_message_the_most_recent_first() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let quiet = create_conversation(&ada, "Quiet", "Ada").await;
    let launch = create_conversation(&ada, "Launch", "Ada").await;
    let review = create_conversation(&ada, "Review", "Ada").await;
    let mut socket = ada.connect().await;
    for (n, text) in ["first", "second", "third"].into_iter().enumerate() {
        say(&mut socket, &launch.id, &format!("l{n}"), text).await;
    }
    // The list orders by the newest message's time, in milliseconds.
    tokio::time::sleep(Duration::from_millis(5)).await;
    for (n, text) in ["draft", "final"].into_iter().enumerate() {
        say(&mut socket, &review.id, &format!("r{n}"), text).await;
    }

    let list: Vec<ConversationSummary> = ada.get_json("/api/conversations").await;

    let newest: Vec<(&str, Option<&str>)> =
        list.iter().map(|c| (c.id.as_str(), c.last_message.as_ref().map(|m| m.text.as_str()))).collect();
    assert_eq!(
        newest,
        [(review.id.as_str(), Some("final")), (launch.id.as_str(), Some("third")), (quiet.id.as_str(), None)],
        "the newest message of each, the most recently active first"
    );
}
