//! The heads the writer itself last committed, so that a group of appends to
//! channels it knows needs no read first: one trip to SQLite's connection
//! thread instead of two (docs/PERFORMANCE.md, step 24). A channel the writer
//! has not written lately is often known to the log heads' cache all the
//! same ([`LogHeads::committed_head`]: a subscriber read its bounds), which
//! is preferred: it is the newest when no write is in flight, the writer's
//! own included.
//!
//! A hint, never trusted on its own. The pool's transactions (notifications,
//! dashboards, conversation changes) move heads too, and forgetting a finished
//! session deletes its head. So the one-trip statement checks every head it
//! assumed against `channel_heads` in its own transaction, and a head that
//! moved fails it whole ([`super::batch::checked_appends`]). The writer then
//! forgets the group's channels and writes the group again with its reads.
//!
//! Bounded: at most [`MAX_KNOWN`] channels. When full, it starts again empty
//! (a channel missing costs its next group one read trip, as before).

use std::collections::HashMap;

use protocol::ChannelName;

use super::decide::Head;
use crate::store::heads::LogHeads;

/// About 100 bytes an entry: at most about 400 KiB.
const MAX_KNOWN: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct KnownHeads {
    heads: HashMap<ChannelName, (u64, String)>,
}

impl KnownHeads {
    /// The heads of `channels` as last committed, if every one is known here
    /// or to `log`.
    pub(super) fn assume(
        &self,
        channels: &[ChannelName],
        log: &LogHeads,
    ) -> Option<HashMap<ChannelName, Head>> {
        channels
            .iter()
            .map(|channel| {
                let (last_seq, epoch) = log
                    .committed_head(channel)
                    .map(|bounds| (bounds.head, bounds.epoch))
                    .or_else(|| self.heads.get(channel).cloned())?;
                Some((channel.clone(), Head::assumed(last_seq, epoch)))
            })
            .collect()
    }

    /// Remembers the heads a group moved, once it has committed.
    pub(super) fn learn(&mut self, next: HashMap<ChannelName, Head>) {
        for (channel, head) in next.into_iter().filter(|(_, head)| head.moved()) {
            if self.heads.len() >= MAX_KNOWN && !self.heads.contains_key(&channel) {
                self.heads.clear();
            }
            self.heads.insert(channel, (head.last_seq, head.epoch));
        }
    }

    /// The heads of `channels` had moved behind the writer's back.
    pub(super) fn forget(&mut self, channels: &[ChannelName]) {
        for channel in channels {
            self.heads.remove(channel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(last_seq: u64) -> Head {
        let mut head = Head::assumed(last_seq - 1, "e".into());
        head.take();
        head
    }

    #[test]
    fn only_a_group_whose_channels_are_all_known_is_assumed() {
        let (a, b) = (ChannelName::parse("user:a").unwrap(), ChannelName::parse("user:b").unwrap());
        let mut known = KnownHeads::default();
        known.learn(HashMap::from([(a.clone(), moved(7)), (b.clone(), Head::assumed(3, "e".into()))]));
        let assumed =
            known.assume(std::slice::from_ref(&a), &LogHeads::disabled()).expect("a moved and was learnt");
        assert_eq!((assumed[&a].last_seq, assumed[&a].epoch.as_str()), (7, "e"));
        assert!(
            known.assume(&[a.clone(), b], &LogHeads::disabled()).is_none(),
            "b did not move: nothing was written for it"
        );
        known.forget(std::slice::from_ref(&a));
        assert!(known.assume(&[a], &LogHeads::disabled()).is_none());
    }

    #[test]
    fn it_is_bounded() {
        let mut known = KnownHeads::default();
        for n in 0..=MAX_KNOWN {
            known.learn(HashMap::from([(ChannelName::parse(&format!("user:{n}")).unwrap(), moved(1))]));
            assert!(known.heads.len() <= MAX_KNOWN);
        }
        assert_eq!(known.heads.len(), 1, "full, it started again");
    }
}
