//! One group of the log writer's jobs as one transaction, in one or two trips
//! to SQLite's connection thread whatever the group's size.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement
//! sent is a command to that thread and every result a message back, each a
//! thread wake-up. Statement by statement, a conversation message took five
//! trips, so the writer's pace was its trips' pace: on a machine whose cores
//! are busy every wake-up waits for one, and 1,000 messages a second fell
//! behind by seconds (docs/PERFORMANCE.md, step 17). Here a group is:
//!
//! 1. `BEGIN IMMEDIATE`, then the head of each channel and, for each message,
//!    the sender's membership and an earlier message with its client id, as
//!    one batch ([`batch::reads`]): one row per channel and per message, in
//!    order. The write lock is held from the `BEGIN`: nothing else changes
//!    what was read until the commit.
//! 2. What the group writes (each channel's new head, the messages, their
//!    events) and the `COMMIT`, as one batch ([`batch::writes`]).
//!
//! Between the two the writer decides every job: seqs are handed out in the
//! group's order, and `heads` learns of each before the commit.
//!
//! A group of appends only, to channels whose heads are known
//! ([`KnownHeads`]), is one statement with no transaction around it
//! ([`batch::checked_appends`]): one trip, and one result back. It checks the
//! heads it assumed, and a group whose check fails is written again with its
//! reads (step 24).

use std::collections::HashMap;

use protocol::chat::{ConversationEvent, Message};
use protocol::{ChannelName, EventEnvelope};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::known_heads::KnownHeads;
use super::trips::{self, EventRow, MessageRow};
use super::{Job, Reply};
use crate::store::conversations::conversation_channel;
use crate::store::events::new_epoch;
use crate::store::heads::LogHeads;
use crate::store::messages::{NewMessage, Stored, message_from_row};
use crate::store::{StoreError, now_ms};

/// A job's answer, sent once its group has committed (or failed).
pub(super) enum Answer {
    Append(Reply<EventEnvelope>, Result<EventEnvelope, StoreError>),
    Message(Reply<Stored>, Result<Stored, StoreError>),
}

impl Answer {
    pub(super) fn send(self) {
        // A publisher that stopped waiting has nothing to be told.
        match self {
            Answer::Append(reply, result) => drop(reply.send(result)),
            Answer::Message(reply, result) => drop(reply.send(result)),
        }
    }

    /// The group failed: nothing of it is stored, so each publisher may retry.
    fn failed(self, message: &str) -> Self {
        let err = || StoreError::Failed(message.to_owned());
        match self {
            Answer::Append(reply, _) => Answer::Append(reply, Err(err())),
            Answer::Message(reply, _) => Answer::Message(reply, Err(err())),
        }
    }
}

/// A job as the group sees it, from its reads to its answer.
enum Planned {
    Append {
        reply: Reply<EventEnvelope>,
        channel: ChannelName,
        payload: serde_json::Value,
    },
    Message {
        reply: Reply<Stored>,
        channel: ChannelName,
        new: NewMessage,
    },
    /// Refused before anything was read (a malformed conversation id).
    Refused(Answer),
}

/// What a group decided, ready for its last trip.
struct Decided {
    answers: Vec<Answer>,
    messages: Vec<MessageRow>,
    events: Vec<EventRow>,
}

/// How a group ended: `Err` means it failed and its answers say so.
type Outcome = Result<Vec<Answer>, (Vec<Answer>, StoreError)>;

/// Writes `jobs` in one transaction on `conn`, and says how many trips it
/// took. An `Err` outcome means the group failed and its answers say so; the
/// connection may be mid-transaction and must not be used again.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    heads: &LogHeads,
    known: &mut KnownHeads,
    jobs: Vec<Job>,
) -> (Outcome, Trips) {
    let mut planned: Vec<Planned> = jobs.into_iter().map(plan).collect();
    let mut channels: Vec<ChannelName> = Vec::new();
    for job in &planned {
        let (Planned::Append { channel, .. } | Planned::Message { channel, .. }) = job else { continue };
        if !channels.contains(channel) {
            channels.push(channel.clone());
        }
    }
    if channels.is_empty() {
        // Every job was refused before reading anything.
        return (Ok(planned.into_iter().map(|job| job.unwritten("")).collect()), Trips::None);
    }

    let appends_only = planned.iter().all(|job| matches!(job, Planned::Append { .. }));
    let mut trips = Trips::Read;
    if let Some(mut next) = known.assume(&channels, heads).filter(|_| appends_only) {
        let Decided { answers, events, .. } = match decide_all(planned, &mut next, &[]) {
            Ok(decided) => decided,
            Err(failed) => return (Err(failed), Trips::Assumed),
        };
        announce(heads, &next, &events);
        match trips::write_checked(conn, &next, &events).await {
            Ok(()) => {
                known.learn(next);
                return (Ok(answers), Trips::Assumed);
            }
            Err(err) => {
                // Nothing was stored: SQLite rolled the statement back.
                tracing::debug!(error = %err, "a head the log writer knew had moved; reading it");
                known.forget();
                planned = answers.into_iter().map(Planned::again).collect();
                trips = Trips::Stale;
            }
        }
    }

    let senders: Vec<&NewMessage> = planned
        .iter()
        .filter_map(|job| if let Planned::Message { new, .. } = job { Some(new) } else { None })
        .collect();
    let reads = trips::read(conn, &channels, &senders).await;
    drop(senders);
    let reads = match reads {
        Ok(reads) => reads,
        Err(err) => return (Err(fail(planned, err)), trips),
    };
    let (heads_read, senders_read) = reads.split_at(channels.len());
    let mut next: HashMap<ChannelName, Head> = HashMap::with_capacity(channels.len());
    for (channel, row) in channels.into_iter().zip(heads_read) {
        match Head::from_row(row) {
            Ok(head) => next.insert(channel, head),
            Err(err) => return (Err(fail(planned, err)), trips),
        };
    }
    let Decided { answers, messages, events } = match decide_all(planned, &mut next, senders_read) {
        Ok(decided) => decided,
        Err(failed) => return (Err(failed), trips),
    };
    announce(heads, &next, &events);
    match trips::write(conn, &next, &messages, &events).await {
        Ok(()) => {
            known.learn(next);
            (Ok(answers), trips)
        }
        Err(err) => (Err(fail_answers(answers, err)), trips),
    }
}

/// How a group reached its commit, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Trips {
    /// Every job was refused: no trip.
    None,
    /// Its heads were read, then written: two trips.
    Read,
    /// Its heads were assumed: one trip.
    Assumed,
    /// A head assumed had moved: three trips.
    Stale,
}

/// Decides every job in the group's order: seqs from `next`, and each
/// message from its sender's read (`senders_read`, one row per message).
fn decide_all(
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

/// Known before the commit, as `heads` requires; told of the commit by
/// `Hub::broadcast`.
fn announce(heads: &LogHeads, next: &HashMap<ChannelName, Head>, events: &[EventRow]) {
    for event in events {
        heads.begin_write(&event.channel, event.seq, &next[&event.channel].epoch);
    }
}

fn plan(job: Job) -> Planned {
    match job {
        Job::Append { channel, payload, reply } => Planned::Append { reply, channel, payload },
        Job::Message { message, reply } => match conversation_channel(&message.conversation) {
            Ok(channel) => Planned::Message { reply, channel, new: message },
            Err(err) => Planned::Refused(Answer::Message(reply, Err(err))),
        },
    }
}

impl Planned {
    /// Its answer should the group fail before deciding it (a job refused
    /// on its own keeps its own answer).
    fn unwritten(self, message: &str) -> Answer {
        let err = || StoreError::Failed(message.to_owned());
        match self {
            Planned::Append { reply, .. } => Answer::Append(reply, Err(err())),
            Planned::Message { reply, .. } => Answer::Message(reply, Err(err())),
            Planned::Refused(answer) => answer,
        }
    }

    /// An append decided in a batch that did not commit, to be decided again.
    fn again(answer: Answer) -> Self {
        match answer {
            Answer::Append(reply, Ok(event)) => {
                Planned::Append { reply, channel: event.channel, payload: event.payload }
            }
            other => Planned::Refused(other),
        }
    }
}

fn fail(planned: Vec<Planned>, err: StoreError) -> (Vec<Answer>, StoreError) {
    let message = err.to_string();
    (planned.into_iter().map(|job| job.unwritten(&message)).collect(), err)
}

/// The group failed after deciding its jobs: nothing of it is stored. A job
/// whose own answer is an error keeps it.
fn fail_answers(answers: Vec<Answer>, err: StoreError) -> (Vec<Answer>, StoreError) {
    let message = err.to_string();
    let answers = answers
        .into_iter()
        .map(|answer| match answer {
            Answer::Append(_, Ok(_)) | Answer::Message(_, Ok(_)) => answer.failed(&message),
            own_error => own_error,
        })
        .collect();
    (answers, err)
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
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
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
