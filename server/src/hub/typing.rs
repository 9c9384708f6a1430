//! Who is typing where. A typer is forgotten after [`TYPING_EXPIRY_MS`] without
//! a refresh, when they say they stopped, when their message arrives, or when
//! their last connection leaves the channel. Every change produces the full
//! set for the channel (as Matrix does), so a lost signal is corrected by the
//! next one.
//!
//! Bounded: one entry per member typing, and a member must be subscribed to
//! the channel as a member to be in it; refreshes faster than
//! [`MIN_REFRESH`] are refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::ChannelName;
use protocol::chat::{Member, TYPING_EXPIRY_MS};

/// Fastest a member may repeat `typing: true`: a third of the client's
/// 3 s cadence, room for jitter, not for a flood.
pub const MIN_REFRESH: Duration = Duration::from_millis(1000);

struct Typer {
    member: Member,
    since_refresh: Instant,
    expires: Instant,
}

#[derive(Default)]
pub struct Typing {
    channels: Mutex<HashMap<ChannelName, Vec<Typer>>>,
}

/// Why a typing signal was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooFast;

/// The full set of typers on a channel, in the order they started.
pub type TypingSet = Vec<Member>;

impl Typing {
    /// Records that `member` is typing (or stopped). Returns the new full set
    /// when it should be announced.
    pub fn set(
        &self,
        channel: &ChannelName,
        member: &Member,
        active: bool,
        now: Instant,
    ) -> Result<Option<TypingSet>, TooFast> {
        let mut channels = self.channels.lock().expect("typing lock poisoned");
        let typers = channels.entry(channel.clone()).or_default();
        let position = typers.iter().position(|t| t.member.member_id == member.member_id);
        let expiry = Duration::from_millis(TYPING_EXPIRY_MS);
        let answer = match (position, active) {
            (Some(i), true) => {
                if now.saturating_duration_since(typers[i].since_refresh) < MIN_REFRESH {
                    return Err(TooFast);
                }
                typers[i].since_refresh = now;
                typers[i].expires = now + expiry;
                // Announced again: a client that missed the start learns of it now.
                Some(set_of(typers))
            }
            (None, true) => {
                typers.push(Typer { member: member.clone(), since_refresh: now, expires: now + expiry });
                Some(set_of(typers))
            }
            (Some(i), false) => {
                typers.remove(i);
                Some(set_of(typers))
            }
            (None, false) => None,
        };
        if typers.is_empty() {
            channels.remove(channel);
        }
        Ok(answer)
    }

    /// Forgets `member_id` on `channel` (their message arrived, or they left).
    pub fn clear(&self, channel: &ChannelName, member_id: &str) -> Option<TypingSet> {
        let mut channels = self.channels.lock().expect("typing lock poisoned");
        let typers = channels.get_mut(channel)?;
        let position = typers.iter().position(|t| t.member.member_id == member_id)?;
        typers.remove(position);
        let set = set_of(typers);
        if typers.is_empty() {
            channels.remove(channel);
        }
        Some(set)
    }

    /// Forgets typers not refreshed in time; returns the channels that changed.
    pub fn expire(&self, now: Instant) -> Vec<(ChannelName, TypingSet)> {
        let mut channels = self.channels.lock().expect("typing lock poisoned");
        let mut changed = Vec::new();
        channels.retain(|channel, typers| {
            let before = typers.len();
            typers.retain(|t| t.expires > now);
            if typers.len() != before {
                changed.push((channel.clone(), set_of(typers)));
            }
            !typers.is_empty()
        });
        changed
    }
}

fn set_of(typers: &[Typer]) -> TypingSet {
    typers.iter().map(|t| t.member.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        Member { member_id: id.into(), name: id.to_uppercase() }
    }

    #[test]
    fn every_change_carries_the_full_set() {
        let typing = Typing::default();
        let channel = ChannelName::parse("conversation:c").unwrap();
        let now = Instant::now();
        assert_eq!(typing.set(&channel, &member("a"), true, now).unwrap().unwrap().len(), 1);
        let both = typing.set(&channel, &member("b"), true, now).unwrap().unwrap();
        assert_eq!(both.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(typing.set(&channel, &member("a"), true, now), Err(TooFast));
        let after_stop = typing.set(&channel, &member("a"), false, now).unwrap().unwrap();
        assert_eq!(after_stop, vec![member("b")]);
        assert_eq!(typing.clear(&channel, "b"), Some(vec![]));
        assert_eq!(typing.clear(&channel, "b"), None, "nothing to announce twice");
    }

    #[test]
    fn silent_typers_expire() {
        let typing = Typing::default();
        let channel = ChannelName::parse("conversation:c").unwrap();
        let now = Instant::now();
        typing.set(&channel, &member("a"), true, now).unwrap();
        typing.set(&channel, &member("b"), true, now + Duration::from_secs(3)).unwrap();
        assert!(typing.expire(now + Duration::from_secs(5)).is_empty());
        let expired = typing.expire(now + Duration::from_millis(TYPING_EXPIRY_MS));
        assert_eq!(expired, vec![(channel, vec![member("b")])]);
        assert!(typing.channels.lock().unwrap().len() == 1);
    }
}
