//! The chat section of the report.

use std::fmt::Write as _;

use super::{Better, row, table};
use crate::scenarios::chat::ChatRun;

pub(super) fn chat_section(out: &mut String, (b, n): &(ChatRun, ChatRun)) {
    out.push_str("## 5. Chat\n\n");
    let _ = writeln!(
        out,
        "{} conversations of {} members, one socket per member. Each conversation carries one message a second \
         for {:.0} s, the members sending in turn over their own socket, each message preceded by a typing signal. \
         Beacon: every member its own principal, joined by invite; messages `publish`ed (stored in SQLite with \
         their event, acknowledged, fanned out), typing as ephemeral signals. Node: the reference server relays \
         `message:send` and `typing:start` to the conversation's sockets and stores nothing. Latency is from just \
         before the sender writes the frame to its arrival at each other member, same clock.\n",
        b.conversations, b.members, b.send_secs
    );
    let f = |v: u64| Some(v as f64);
    table(
        out,
        &[
            row("members connected", f(b.connected as u64), f(n.connected as u64), 0, Better::Neither),
            row("messages sent", f(b.sent), f(n.sent), 0, Better::Neither),
            row(
                "deliveries expected (to the other members)",
                f(b.expected),
                f(n.expected),
                0,
                Better::Neither,
            ),
            row("deliveries", f(b.delivered), f(n.delivered), 0, Better::Higher),
            row("duplicates", f(b.duplicates), f(n.duplicates), 0, Better::Lower),
            row("typing signals received", f(b.typing_received), f(n.typing_received), 0, Better::Neither),
            row("**p50 (ms)**", b.latency_ms(50.0), n.latency_ms(50.0), 3, Better::Lower),
            row("**p99 (ms)**", b.latency_ms(99.0), n.latency_ms(99.0), 3, Better::Lower),
            row("max (ms)", b.latency_ms(100.0), n.latency_ms(100.0), 3, Better::Lower),
            row("server CPU (s)", b.server_cpu_secs, n.server_cpu_secs, 2, Better::Lower),
            row(
                "**server CPU per delivered message (µs)**",
                b.cpu_us_per_delivery(),
                n.cpu_us_per_delivery(),
                1,
                Better::Lower,
            ),
        ],
    );
}
