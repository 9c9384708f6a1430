//! One group of the log writer's jobs as one transaction, in two trips to
//! SQLite's connection thread whatever the group's size.
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

use std::collections::HashMap;

use protocol::chat::{ConversationEvent, Message};
use protocol::{ChannelName, EventEnvelope};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Job, Reply, batch};
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

/// An event's row, bound in the second trip: its payload as text, so the
/// answer keeps the event itself and the payload is not copied.
struct EventRow {
    channel: ChannelName,
    seq: u64,
    id: String,
    ts: i64,
    payload: String,
}

impl EventRow {
    fn of(event: &EventEnvelope) -> Self {
        Self {
            channel: event.channel.clone(),
            seq: event.seq,
            id: event.id.clone(),
            ts: event.ts,
            payload: event.payload.to_string(),
        }
    }
}

/// A stored message's row, bound in the second trip.
struct MessageRow {
    conversation: String,
    principal: String,
    message: Message,
}

/// Writes `jobs` in one transaction on `conn`. `Err` means the group failed
/// and its answers say so; the connection may be mid-transaction and must
/// not be used again.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    heads: &LogHeads,
    jobs: Vec<Job>,
) -> Result<Vec<Answer>, (Vec<Answer>, StoreError)> {
    let planned: Vec<Planned> = jobs.into_iter().map(plan).collect();
    let mut channels: Vec<&ChannelName> = Vec::new();
    let mut senders: Vec<&NewMessage> = Vec::new();
    for job in &planned {
        let channel = match job {
            Planned::Append { channel, .. } => channel,
            Planned::Message { channel, new, .. } => {
                senders.push(new);
                channel
            }
            Planned::Refused(_) => continue,
        };
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    if channels.is_empty() {
        // Every job was refused before reading anything.
        return Ok(planned.into_iter().map(|job| job.unwritten("")).collect());
    }

    let reads = match read(conn, &channels, &senders).await {
        Ok(reads) => reads,
        Err(err) => return Err(fail(planned, err)),
    };
    let (heads_read, senders_read) = reads.split_at(channels.len());
    let mut next: HashMap<ChannelName, Head> = HashMap::with_capacity(channels.len());
    for (channel, row) in channels.iter().zip(heads_read) {
        match Head::from_row(row) {
            Ok(head) => next.insert((*channel).clone(), head),
            Err(err) => return Err(fail(planned, err)),
        };
    }

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

    // Known before the commit, as `heads` requires; told of the commit by
    // `Hub::broadcast`.
    for event in &events {
        heads.begin_write(&event.channel, event.seq, &next[&event.channel].epoch);
    }
    match write(conn, &next, &messages, &events).await {
        Ok(()) => Ok(decided),
        Err(err) => Err(fail_answers(decided, err)),
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
struct Head {
    last_seq: u64,
    epoch: String,
    /// Seqs handed out in this group.
    taken: u64,
}

impl Head {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let last_seq = row.try_get::<Option<i64>, _>(0)?;
        let epoch = row.try_get::<Option<String>, _>(1)?;
        Ok(match (last_seq, epoch) {
            (Some(last_seq), Some(epoch)) => Self { last_seq: last_seq as u64, epoch, taken: 0 },
            // A log that starts now.
            _ => Self { last_seq: 0, epoch: new_epoch(), taken: 0 },
        })
    }

    fn take(&mut self) -> u64 {
        self.last_seq += 1;
        self.taken += 1;
        self.last_seq
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

/// The first trip: `BEGIN IMMEDIATE` and every read, one row each.
async fn read(
    conn: &mut AnyConnection,
    channels: &[&ChannelName],
    senders: &[&NewMessage],
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = batch::reads(channels.len(), senders.len());
    let mut query = sqlx::query(&sql);
    for channel in channels {
        query = query.bind(channel.as_str());
    }
    for new in senders {
        query = query.bind(&new.conversation).bind(&new.principal).bind(&new.client_id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    if rows.len() != channels.len() + senders.len() {
        return Err(StoreError::Corrupt(format!(
            "a group's reads returned {} rows for {} reads",
            rows.len(),
            channels.len() + senders.len()
        )));
    }
    Ok(rows)
}

/// The second trip: the heads, the messages, the events, and the `COMMIT`.
async fn write(
    conn: &mut AnyConnection,
    next: &HashMap<ChannelName, Head>,
    messages: &[MessageRow],
    events: &[EventRow],
) -> Result<(), StoreError> {
    let moved: Vec<_> = next.iter().filter(|(_, head)| head.taken > 0).collect();
    let sql = batch::writes(moved.len(), messages.len(), events.len());
    let mut query = sqlx::query(&sql);
    for (channel, head) in moved {
        query = query.bind(channel.as_str()).bind(head.last_seq as i64).bind(&head.epoch);
    }
    for row in messages {
        let message = &row.message;
        query = query
            .bind(&row.conversation)
            .bind(message.seq as i64)
            .bind(&message.id)
            .bind(&row.principal)
            .bind(&message.sender)
            .bind(&message.sender_name)
            .bind(&message.client_id)
            .bind(&message.text)
            .bind(message.created_at);
    }
    for event in events {
        query = query
            .bind(event.channel.as_str())
            .bind(event.seq as i64)
            .bind(&event.id)
            .bind(event.ts)
            .bind(&event.payload);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
