//! What a group decides between its reads and its writes: each job's seq,
//! taken from its channel's head in the group's order, and each message's
//! fate (stored, refused as a non-member's, or answered as a resend).

use std::collections::HashMap;

use protocol::chat::{ConversationEvent, Message};
use protocol::{ChannelName, EventEnvelope};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::group::{Answer, Planned, fail_answers};
use super::trips::{EventRow, MessageRow};
use crate::store::events::new_epoch;
use crate::store::messages::{Stored, message_from_row};
use crate::store::{StoreError, now_ms};

/// What a group decided, ready for its last trip.
pub(super) struct Decided {
    pub(super) answers: Vec<Answer>,
    pub(super) messages: Vec<MessageRow>,
    pub(super) events: Vec<EventRow>,
}

/// Decides every job in the group's order: seqs from `next`, and each
/// message from its sender's read (`senders_read`, one row per message).
pub(super) fn decide_all(
    planned: Vec<Planned>,
    next: &mut HashMap<ChannelName, Head>,
    senders_read: &[AnyRow],
) -> Result<Decided, (Vec<Answer>, StoreError)> {
    let mut senders_read = senders_read.iter();
    let mut sent_here: HashMap<(String, String, String), Message> = HashMap::new();
    let mut decided = Vec::with_capacity(planned.len());
    let mut messages = Vec::new();
    let mut events = Vec::new();
    let mut planned = planned.into_iter();
    while let Some(job) = planned.next() {
        let answer = match job {
            Planned::Refused(answer) => answer,
            Planned::Append { reply, channel, payload } => {
                let seq = next.get_mut(&channel).expect("every channel read").take();
                let event = new_event(channel, seq, payload);
                events.push(EventRow::of(&event));
                Answer::Append(reply, Ok(event))
            }
            Planned::Message { reply, channel, new } => {
                let row = senders_read.next().expect("a read for every message");
                let key = (new.conversation.clone(), new.principal.clone(), new.client_id.clone());
                let stored = match decide(row, sent_here.get(&key)) {
                    Ok(Decision::Refused(stored)) => Ok(stored),
                    Err(err) => Err(err),
                    Ok(Decision::Store { member_id, name }) => {
                        let seq = next.get_mut(&channel).expect("every channel read").take();
                        let message = Message {
                            seq,
                            id: uuid::Uuid::new_v4().simple().to_string(),
                            sender: member_id,
                            sender_name: name,
                            client_id: new.client_id.clone(),
                            text: new.text.clone(),
                            created_at: now_ms(),
                        };
                        let event = match message_event(channel, &message) {
                            Ok(event) => event,
                            // Its seq is taken: the group cannot go on without a hole.
                            Err(err) => {
                                let message = err.to_string();
                                decided
                                    .push(Answer::Message(reply, Err(StoreError::Failed(message.clone()))));
                                decided.extend(planned.map(|job| job.unwritten(&message)));
                                return Err(fail_answers(decided, err));
                            }
                        };
                        sent_here.insert(key, message.clone());
                        events.push(EventRow::of(&event));
                        messages.push(MessageRow {
                            conversation: new.conversation,
                            principal: new.principal,
                            message: message.clone(),
                        });
                        Ok(Stored::New { message, event })
                    }
                };
                Answer::Message(reply, stored)
            }
        };
        decided.push(answer);
    }
    Ok(Decided { answers: decided, messages, events })
}

/// A channel's head as the group moves it.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) last_seq: u64,
    pub(super) epoch: String,
    /// Seqs handed out in this group.
    taken: u64,
}

impl Head {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let last_seq = row.try_get::<Option<i64>, _>(0)?;
        let epoch = row.try_get::<Option<String>, _>(1)?;
        Ok(match (last_seq, epoch) {
            (Some(last_seq), Some(epoch)) => Self::assumed(last_seq as u64, epoch),
            // A log that starts now.
            _ => Self::assumed(0, new_epoch()),
        })
    }

    /// The head as read or known, before this group takes a seq.
    pub(super) fn assumed(last_seq: u64, epoch: String) -> Self {
        Self { last_seq, epoch, taken: 0 }
    }

    pub(super) fn take(&mut self) -> u64 {
        self.last_seq += 1;
        self.taken += 1;
        self.last_seq
    }

    /// Whether this group handed out seqs (its row is written).
    pub(super) fn moved(&self) -> bool {
        self.taken > 0
    }

    /// The head before this group.
    pub(super) fn assumed_seq(&self) -> u64 {
        self.last_seq - self.taken
    }
}

enum Decision {
    Refused(Stored),
    Store { member_id: String, name: String },
}

/// What to do with a message, from its sender's read and the messages this
/// group stored before it.
fn decide(row: &AnyRow, sent_here: Option<&Message>) -> Result<Decision, StoreError> {
    let Some(member_id) = row.try_get::<Option<String>, _>("member_id")? else {
        return Ok(Decision::Refused(Stored::NotMember));
    };
    if row.try_get::<Option<i64>, _>("seq")?.is_some() {
        return Ok(Decision::Refused(Stored::Duplicate(message_from_row(row)?)));
    }
    if let Some(earlier) = sent_here {
        return Ok(Decision::Refused(Stored::Duplicate(earlier.clone())));
    }
    let name = row.try_get::<String, _>("display_name")?;
    Ok(Decision::Store { member_id, name })
}

fn message_event(channel: ChannelName, message: &Message) -> Result<EventEnvelope, StoreError> {
    let payload = serde_json::to_value(ConversationEvent::Message { message: message.clone() })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(new_event(channel, message.seq, payload))
}

fn new_event(channel: ChannelName, seq: u64, payload: serde_json::Value) -> EventEnvelope {
    EventEnvelope { channel, seq, id: uuid::Uuid::new_v4().simple().to_string(), ts: now_ms(), payload }
}
