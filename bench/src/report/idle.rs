//! Section 1: idle sockets, and the goals they are held to.

use std::fmt::Write;

use super::{Better, Verdict, num, row, table};
use crate::scenarios::idle::IdleRun;

/// The idle-socket goals. A verdict comes only from a measurement that
/// succeeded: a shortfall is "out of reach" only when the server was alive
/// and held every socket the file limit let the run ask for; a failed memory
/// reading is no measurement, never 0 KiB.
pub(super) fn idle_goals(b: &IdleRun, socket_cap: usize, fd_note: &str) -> Vec<(String, String, Verdict)> {
    let held = format!("{} held (of {} asked)", b.held, b.requested);
    let count = if b.held >= 100_000 {
        Verdict::Met
    } else if !b.server_alive {
        Verdict::NotMet(format!("the server exited during the run after holding {}", b.held))
    } else if b.held < b.requested {
        Verdict::NotMet(format!(
            "{} of the {} sockets asked failed or were dropped, below the file limit",
            b.requested - b.held,
            b.requested
        ))
    } else {
        Verdict::OutOfReach(format!("{fd_note}, so one run holds at most {socket_cap} sockets"))
    };
    let per = b.kib_per_socket();
    let memory = match per {
        _ if !b.server_alive => Verdict::NotMeasured("the server exited during the run".into()),
        Some(kib) if kib <= 8.0 => Verdict::Met,
        Some(_) => Verdict::NotMet(String::new()),
        None if b.held == 0 => Verdict::NotMeasured("no socket held".into()),
        None => Verdict::NotMeasured("the server's memory could not be read".into()),
    };
    vec![
        ("≥ 100,000 idle sockets".into(), held, count),
        (
            "≤ 8 KiB server memory per idle socket".into(),
            format!("{} KiB per socket at {} sockets", num(per, 2), b.held),
            memory,
        ),
    ]
}

pub(super) fn idle_section(out: &mut String, (b, n): &(IdleRun, IdleRun)) {
    out.push_str("## 1. Idle sockets\n\n");
    let _ = writeln!(
        out,
        "Each socket connects, authenticates and subscribes (Beacon: its own principal and `user:` channel; \
         Node: its own `sessionId`), then stays idle for {:.0} s (Beacon's 25 s heartbeat pings are answered). \
         Memory is the server's `VmRSS` from `/proc/<pid>/status` before the first socket and at the end of the hold.\n",
        b.hold_secs
    );
    let f = |v: u64| Some(v as f64);
    table(
        out,
        &[
            row("sockets asked", f(b.requested as u64), f(n.requested as u64), 0, Better::Neither),
            row("sockets connected", f(b.connected as u64), f(n.connected as u64), 0, Better::Higher),
            row("sockets that failed to connect", f(b.failed as u64), f(n.failed as u64), 0, Better::Lower),
            row(
                "sockets still connected after the hold",
                f(b.held as u64),
                f(n.held as u64),
                0,
                Better::Higher,
            ),
            row(
                "connect rate (sockets/s, incl. token fetch on Beacon)",
                Some(b.connects_per_sec()),
                Some(n.connects_per_sec()),
                0,
                Better::Higher,
            ),
            row(
                "server RSS before (MiB)",
                b.rss_before_kib.map(|k| k as f64 / 1024.0),
                n.rss_before_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row(
                "server RSS connected (MiB)",
                b.rss_connected_kib.map(|k| k as f64 / 1024.0),
                n.rss_connected_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row(
                "server RSS after the hold (MiB)",
                b.rss_after_hold_kib.map(|k| k as f64 / 1024.0),
                n.rss_after_hold_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row("**RSS per idle socket (KiB)**", b.kib_per_socket(), n.kib_per_socket(), 2, Better::Lower),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;
    use crate::server::Kind;

    fn idle(held: usize, rss: (Option<u64>, Option<u64>), alive: bool) -> IdleRun {
        IdleRun {
            kind: Kind::Beacon,
            requested: 9_000,
            connected: held,
            held,
            failed: 9_000 - held,
            connect_secs: 1.0,
            rss_before_kib: rss.0,
            rss_connected_kib: rss.1,
            rss_after_hold_kib: rss.1,
            hold_secs: 1.0,
            server_alive: alive,
        }
    }

    #[test]
    fn an_unreadable_memory_figure_is_no_measurement_never_met() {
        let goals = idle_goals(&idle(9_000, (Some(10_000), None), true), 9_000, "fd");
        assert!(matches!(goals[1].2, Verdict::NotMeasured(_)), "{:?}", goals[1].2);
        let goals = idle_goals(&idle(9_000, (None, Some(50_000)), true), 9_000, "fd");
        assert!(matches!(goals[1].2, Verdict::NotMeasured(_)));
        let goals = idle_goals(&idle(9_000, (Some(10_000), Some(46_000)), true), 9_000, "fd");
        assert_eq!(goals[1].2, Verdict::Met, "4 KiB per socket, measured");
    }

    #[test]
    fn a_dead_server_or_lost_sockets_are_not_blamed_on_the_file_limit() {
        let died = idle_goals(&idle(3_000, (Some(10_000), Some(20_000)), false), 9_000, "fd");
        assert!(matches!(&died[0].2, Verdict::NotMet(why) if why.contains("exited")), "{:?}", died[0].2);
        assert!(matches!(died[1].2, Verdict::NotMeasured(_)));
        let dropped = idle_goals(&idle(8_000, (Some(10_000), Some(20_000)), true), 9_000, "fd");
        assert!(
            matches!(&dropped[0].2, Verdict::NotMet(why) if why.contains("1000 of the 9000")),
            "{:?}",
            dropped[0].2
        );
        let capped = idle_goals(&idle(9_000, (Some(10_000), Some(20_000)), true), 9_000, "fd");
        assert!(matches!(capped[0].2, Verdict::OutOfReach(_)));
    }
}
