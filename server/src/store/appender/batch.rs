//! The SQL of a group's trips (see [`super::group`]), built for its shape:
//! one statement per kind of read or write, with a row of values per
//! channel, message or event. A shape's statements are prepared once and
//! then come from sqlx's statement cache (at most four statements an entry,
//! so the cache's memory stays small whatever the groups look like).

/// The first trip: the write lock, then each channel's head (`last_seq`,
/// `epoch`) and each sender's read (see [`SENDER_COLUMNS`]), one row per
/// channel and per message, in the order bound (`NULL`s where nothing is
/// stored). One row each because `channel_heads.channel`,
/// `conversation_members (conversation_id, principal)` and
/// `messages (conversation_id, sender_principal, client_id)` are unique.
pub(super) fn reads(channels: usize, senders: usize) -> String {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    if channels > 0 {
        sql.push_str(&format!(
            "WITH wanted (n, channel) AS (VALUES {}) \
             SELECT h.last_seq, h.epoch FROM wanted \
             LEFT JOIN channel_heads h ON h.channel = wanted.channel ORDER BY wanted.n;",
            numbered_rows(channels, 1)
        ));
    }
    if senders > 0 {
        sql.push_str(&format!(
            "WITH wanted (n, conversation_id, principal, client_id) AS (VALUES {}) \
             SELECT {SENDER_COLUMNS} FROM wanted \
             LEFT JOIN conversation_members m ON m.conversation_id = wanted.conversation_id \
               AND m.principal = wanted.principal AND m.left_at IS NULL \
             LEFT JOIN messages d ON d.conversation_id = m.conversation_id \
               AND d.sender_principal = m.principal AND d.client_id = wanted.client_id \
             ORDER BY wanted.n;",
            numbered_rows(senders, 3)
        ));
    }
    sql
}

/// A sender's current membership (`member_id`, `display_name`) and the
/// message its client id stored before (`messages::MESSAGE_COLUMNS`).
const SENDER_COLUMNS: &str = "m.member_id AS member_id, m.display_name AS display_name, \
     d.seq AS seq, d.id AS id, d.sender AS sender, d.sender_name AS sender_name, \
     d.client_id AS client_id, d.body AS body, d.created_at AS created_at";

/// The second trip: the moved heads (channel, last_seq, epoch), the messages
/// (as their `INSERT` names them), the events (channel, seq, id, ts,
/// payload), then the `COMMIT`.
pub(super) fn writes(heads: usize, messages: usize, events: usize) -> String {
    let mut sql = String::new();
    if heads > 0 {
        sql.push_str(&format!(
            "INSERT INTO channel_heads (channel, last_seq, epoch) VALUES {} \
             ON CONFLICT (channel) DO UPDATE SET last_seq = excluded.last_seq;",
            rows(heads, 3)
        ));
    }
    if messages > 0 {
        sql.push_str(&format!(
            "INSERT INTO messages (conversation_id, seq, id, sender_principal, sender, sender_name, \
             client_id, body, created_at) VALUES {};",
            rows(messages, 9)
        ));
    }
    if events > 0 {
        sql.push_str(&format!(
            "INSERT INTO events (channel, seq, id, ts, payload) VALUES {};",
            rows(events, 5)
        ));
    }
    sql.push_str("COMMIT;");
    sql
}

/// A group of appends whose heads the writer assumed ([`super::known_heads`]),
/// as one statement, with no `BEGIN` or `COMMIT` around it (per event: channel,
/// the head assumed, its epoch, seq, id, ts, payload). Its own transaction
/// stores the events, and the `events_move_head` trigger (migration 0007)
/// moves each head to its event's seq.
///
/// An event keeps its seq only if its channel's head is the one assumed, in
/// the same epoch. Otherwise the seq is `NULL`, the insert fails
/// `events.seq`'s `NOT NULL`, and SQLite rolls the whole statement back. A
/// head deleted finds no row: `NULL` too. Every row is compared with the head
/// as it was before the statement: SQLite selects all the rows before it
/// inserts any when the table has triggers. (Were it ever to interleave them,
/// a channel's second event would find the head moved by its first, and the
/// group would be written again with its reads: slower, never wrong.)
pub(super) fn checked_appends(events: usize) -> String {
    format!(
        "WITH planned (channel, assumed, epoch, seq, id, ts, payload) AS (VALUES {}) \
         INSERT INTO events (channel, seq, id, ts, payload) \
         SELECT p.channel, \
                CASE WHEN h.epoch = p.epoch AND h.last_seq = p.assumed THEN p.seq END, \
                p.id, p.ts, p.payload \
         FROM planned p LEFT JOIN channel_heads h ON h.channel = p.channel",
        rows(events, 7)
    )
}

/// `(?, ?), (?, ?)`: `count` rows of `width` parameters.
fn rows(count: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row; count].join(", ")
}

/// `(1, ?), (2, ?)`: as [`rows`], each led by its number, to keep the order.
fn numbered_rows(count: usize, width: usize) -> String {
    let params = vec!["?"; width].join(", ");
    (1..=count).map(|n| format!("({n}, {params})")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_one_statement_with_a_row_each() {
        assert_eq!(rows(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(numbered_rows(2, 1), "(1, ?), (2, ?)");
        let read = reads(2, 3);
        assert_eq!(read.matches(';').count(), 3, "{read}");
        assert_eq!(read.matches('?').count(), 2 + 3 * 3);
        let write = writes(1, 2, 3);
        assert_eq!(write.matches(';').count(), 4, "{write}");
        assert_eq!(write.matches('?').count(), 3 + 2 * 9 + 3 * 5);
        assert_eq!(writes(0, 0, 0), "COMMIT;", "a group that stores nothing still ends");
        let checked = checked_appends(3);
        assert!(!checked.contains(';'), "one statement: {checked}");
        assert_eq!(checked.matches('?').count(), 3 * 7);
    }
}
