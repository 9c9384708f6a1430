//! Conversations in the browser: the outbox of messages not yet shown, and
//! the small rules of what the page says (who is typing, who is here).

pub mod api;
pub mod composer;
pub mod outbox;

use protocol::chat::{Member, PresenceEntry, PresenceStatus};

/// "Ada is typing…", "Ada and Alan are typing…", "Ada, Alan and 2 others are
/// typing…"; nothing when nobody (other than `me`) is.
pub fn typing_line(typers: &[Member], me: &str) -> Option<String> {
    let names: Vec<&str> = typers.iter().filter(|m| m.member_id != me).map(|m| m.name.as_str()).collect();
    match names.as_slice() {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [a, b] => Some(format!("{a} and {b} are typing…")),
        [a, b, rest @ ..] => Some(format!("{a}, {b} and {} others are typing…", rest.len())),
    }
}

/// A member's dot: here and active, here but idle, or not here.
pub fn status_of(member_id: &str, here: &[PresenceEntry]) -> &'static str {
    match here.iter().find(|p| p.member_id == member_id).map(|p| p.status) {
        Some(PresenceStatus::Online) => "online",
        Some(PresenceStatus::Away) => "away",
        None => "offline",
    }
}

/// A fresh client id for a message: unique per tab and attempt series.
pub fn new_client_id(now_ms: f64, random: f64) -> String {
    format!("m{}-{}", now_ms as u64, (random * 1e9) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, name: &str) -> Member {
        Member { member_id: id.into(), name: name.into() }
    }

    #[test]
    fn the_typing_line_names_others_only() {
        assert_eq!(typing_line(&[], "me"), None);
        assert_eq!(typing_line(&[m("me", "Me")], "me"), None);
        assert_eq!(typing_line(&[m("a", "Ada")], "me").unwrap(), "Ada is typing…");
        assert_eq!(
            typing_line(&[m("a", "Ada"), m("me", "Me"), m("b", "Alan")], "me").unwrap(),
            "Ada and Alan are typing…"
        );
        let many = [m("a", "Ada"), m("b", "Alan"), m("c", "Grace"), m("d", "Edsger")];
        assert_eq!(typing_line(&many, "me").unwrap(), "Ada, Alan and 2 others are typing…");
    }

    #[test]
    fn client_ids_are_valid_on_the_wire() {
        assert!(protocol::chat::valid_client_id(&new_client_id(1_700_000_000_000.0, 0.123456789)));
    }
}
