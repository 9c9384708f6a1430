//! Client and server messages from any bytes: decoding never panics, and a
//! client message that decodes re-encodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{ClientMessage, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(message) = serde_json::from_str::<ClientMessage>(text) {
        let encoded = serde_json::to_string(&message).expect("a decoded message encodes");
        let again: ClientMessage = serde_json::from_str(&encoded).expect("and decodes again");
        assert_eq!(again, message);
    }
    let _ = serde_json::from_str::<ServerMessage>(text);
    let _ = serde_json::from_str::<protocol::inbox::InboxEvent>(text);
    let _ = serde_json::from_str::<protocol::inbox::CreateNotifications>(text);
});
