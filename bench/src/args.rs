//! The command line, and the plan of sizes and durations it makes.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::scenarios::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Idle,
    Push,
    Fanout,
    Storm,
    Chat,
    /// Two Beacon nodes on PostgreSQL and Redis: fan-out across them, and a node killed.
    Cluster,
    /// Beacon's pages: time to first byte, and the sizes a visit downloads.
    Pages,
    /// An event published until a page in headless Chromium shows it, live and long-polling.
    Browser,
}

/// Benchmark Beacon against the Node reference server and write BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "bench")]
pub struct Args {
    /// Small sizes and short runs: the whole benchmark in under two minutes.
    #[arg(long)]
    pub quick: bool,
    /// Which scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Idle sockets per server (default: as many as the fd limit allows; quick 2000).
    #[arg(long)]
    pub idle_sockets: Option<usize>,
    /// Watchers in the push-latency scenario (default 10000; quick 2000).
    #[arg(long)]
    pub watchers: Option<usize>,
    /// Events per second in the push-latency scenario.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Subscribers of the fan-out channel (default: as many as fit; quick 2000).
    #[arg(long)]
    pub fanout_subscribers: Option<usize>,
    /// Clients in the reconnect storm (default: half of what fits, at most 10000; quick 2000).
    #[arg(long)]
    pub storm_clients: Option<usize>,
    /// Events per second during the reconnect storm.
    #[arg(long, default_value_t = 500)]
    pub storm_rate: u32,
    /// Conversations in the chat scenario, of 10 members each (default 1000; quick 100).
    #[arg(long)]
    pub chat_conversations: Option<usize>,
    /// Spread client sockets over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub sources: u8,
    /// The Beacon release binary (default: $CARGO_TARGET_DIR or <workspace>/target, then release/beacon).
    #[arg(long)]
    pub beacon_bin: Option<PathBuf>,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    pub node: String,
    /// PostgreSQL for the two-node scenario: a database is created there for each run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Redis for the two-node scenario.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Where to write the report (default: <workspace>/BENCHMARKS.md).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn make_plan(args: &Args, cap: usize) -> Plan {
    let capped = |asked: usize| asked.min(cap).max(1);
    let quick = args.quick;
    Plan {
        quick,
        sources: usize::from(args.sources),
        socket_cap: cap,
        idle_sockets: capped(args.idle_sockets.unwrap_or(if quick { 2_000 } else { cap })),
        idle_hold: Duration::from_secs(if quick { 3 } else { 30 }),
        watchers: capped(args.watchers.unwrap_or(if quick { 2_000 } else { 10_000 })),
        rate: args.rate.max(1),
        push_duration: Duration::from_secs(if quick { 6 } else { 30 }),
        fanout_subscribers: capped(args.fanout_subscribers.unwrap_or(if quick { 2_000 } else { cap })),
        fanout_duration: Duration::from_secs(if quick { 5 } else { 20 }),
        fanout_window: 16,
        payload_bytes: 100,
        // During a storm a server may briefly hold the old and the new socket of
        // a client, so only half of what fits is safe.
        storm_clients: capped(args.storm_clients.unwrap_or(if quick {
            2_000
        } else {
            (cap / 2).min(10_000)
        })),
        storm_rate: args.storm_rate.max(1),
        storm_before: Duration::from_secs(if quick { 2 } else { 5 }),
        storm_after: Duration::from_secs(if quick { 2 } else { 5 }),
        storm_deadline: Duration::from_secs(if quick { 15 } else { 30 }),
        setup_concurrency: 128,
        chat_members: 10,
        chat_conversations: (args.chat_conversations.unwrap_or(if quick { 100 } else { 1_000 }))
            .min(cap / 10)
            .max(1),
        chat_duration: Duration::from_secs(if quick { 8 } else { 20 }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn quick_mode_is_small_and_caps_hold() {
        let args = Args::parse_from(["bench", "--quick"]);
        let plan = make_plan(&args, 19_000);
        assert!(plan.quick);
        assert_eq!(plan.watchers, 2_000);
        let args = Args::parse_from(["bench", "--watchers", "50000"]);
        let plan = make_plan(&args, 19_000);
        assert_eq!(plan.watchers, 19_000);
        assert_eq!(plan.idle_sockets, 19_000);
        assert_eq!(plan.storm_clients, 9_500);
    }

    #[test]
    fn scenarios_parse_as_a_list() {
        let args = Args::parse_from(["bench", "--scenarios", "idle,storm"]);
        assert_eq!(args.scenarios, vec![Scenario::Idle, Scenario::Storm]);
    }
}
