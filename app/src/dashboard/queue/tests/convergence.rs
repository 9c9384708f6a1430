//! Two browsers and the server, any interleaving of edits, sends, lost
//! answers, repeated events and resolved conflicts: they end in one state.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Step {
    Edit {
        browser: usize,
        kind: u8,
        pick: usize,
        value: u32,
    },
    Send {
        browser: usize,
        answer_lost: bool,
    },
    Read {
        browser: usize,
    },
    /// An event read before comes again (a snapshot newer than part of a replay).
    Reread {
        browser: usize,
        back: usize,
    },
    Resolve {
        browser: usize,
        keep_mine: bool,
        by_field: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..2usize, 0..5u8, any::<usize>(), any::<u32>())
            .prop_map(|(browser, kind, pick, value)| Step::Edit { browser, kind, pick, value }),
        3 => (0..2usize, prop::bool::weighted(0.15)).prop_map(|(browser, answer_lost)| Step::Send { browser, answer_lost }),
        3 => (0..2usize).prop_map(|browser| Step::Read { browser }),
        1 => (0..2usize, 0..5usize).prop_map(|(browser, back)| Step::Reread { browser, back }),
        1 => (0..2usize, any::<bool>(), any::<bool>())
            .prop_map(|(browser, keep_mine, by_field)| Step::Resolve { browser, keep_mine, by_field }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Two browsers editing one dashboard in any interleaving, with lost
    /// answers, repeated events and conflicts resolved either way, end with
    /// the server's state: on their confirmed boards and on screen.
    #[test]
    fn two_browsers_and_the_server_converge(steps in prop::collection::vec(step(), 1..80)) {
        let mut server = Server::with_widgets(&["w1", "w2", "w3"]);
        let mut browsers = [Browser::new("ada", &server), Browser::new("alan", &server)];
        for step in steps {
            match step {
                Step::Edit { browser, kind, pick, value } => browsers[browser].make_edit(kind, pick, value),
                Step::Send { browser, answer_lost } => browsers[browser].send(&mut server, answer_lost),
                Step::Read { browser } => browsers[browser].read_one(&server),
                Step::Reread { browser, back } => {
                    let b = &mut browsers[browser];
                    if b.read > back {
                        let event = server.log[b.read - 1 - back].clone();
                        b.model.on_event(&event);
                    }
                }
                Step::Resolve { browser, keep_mine, by_field } => browsers[browser].resolve_all(keep_mine, by_field),
            }
        }
        // Settle: everyone resolves, sends and reads until nothing is left.
        for round in 0..50 {
            for b in &mut browsers {
                b.resolve_all(round % 2 == 0, round % 3 == 0);
                while b.model.pending() > 0 {
                    let before = b.model.pending();
                    b.send(&mut server, false);
                    b.resolve_all(false, false);
                    prop_assert!(b.model.pending() < before, "every answer settles an op");
                }
            }
            for b in &mut browsers {
                while b.read < server.log.len() {
                    b.read_one(&server);
                }
            }
            if browsers.iter().all(|b| b.model.queue.is_empty()) {
                break;
            }
        }
        for b in &browsers {
            prop_assert!(b.model.queue.is_empty());
            prop_assert_eq!(&b.model.confirmed.widgets, &server.board.widgets);
            prop_assert_eq!(&b.model.view().widgets, &server.board.widgets);
        }
    }
}
