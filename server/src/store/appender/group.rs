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
use std::sync::atomic::Ordering;

use protocol::{ChannelName, EventEnvelope};
use sqlx::AnyConnection;

use super::decide::{Decided, Head, decide_all};
use super::known_heads::KnownHeads;
use super::trips::{self, Checked, EventRow};
use super::{Job, Reply, WriterCounts};
use crate::store::StoreError;
use crate::store::conversations::conversation_channel;
use crate::store::heads::LogHeads;
use crate::store::messages::{NewMessage, Stored};

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
pub(super) enum Planned {
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

/// How a group ended: `Err` means it failed and its answers say so.
type Outcome = Result<Vec<Answer>, (Vec<Answer>, StoreError)>;

/// Writes `jobs` in one transaction on `conn`, counting in `counts` a group
/// that went in one statement and one whose assumed heads had moved. An `Err`
/// outcome means the group failed and its answers say so; the connection may
/// be mid-transaction and must not be used again.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    heads: &LogHeads,
    known: &mut KnownHeads,
    jobs: Vec<Job>,
    counts: &WriterCounts,
) -> Outcome {
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
        return Ok(planned.into_iter().map(|job| job.unwritten("")).collect());
    }

    let appends_only = planned.iter().all(|job| matches!(job, Planned::Append { .. }));
    // A message's sender has to be read first: only appends may assume.
    if let Some(assumed) = appends_only.then(|| known.assume(&channels, heads)).flatten() {
        match commit_assumed(conn, heads, planned, assumed).await {
            Assumed::Done(outcome, next) => {
                if let Some(next) = next {
                    counts.one_trip_groups.fetch_add(1, Ordering::Relaxed);
                    known.learn(next);
                }
                return outcome;
            }
            Assumed::HeadMoved(again) => {
                counts.stale_heads.fetch_add(1, Ordering::Relaxed);
                known.forget(&channels);
                planned = again;
            }
        }
    }
    let (outcome, next) = commit_read(conn, heads, planned, channels).await;
    if let Some(next) = next {
        known.learn(next);
    }
    outcome
}

/// How a group with assumed heads ended.
enum Assumed {
    /// Committed (with the heads it moved) or failed.
    Done(Outcome, Option<HashMap<ChannelName, Head>>),
    /// A head had moved: nothing is stored, and the group is to be written
    /// again with its reads.
    HeadMoved(Vec<Planned>),
}

/// A group of appends only, on heads assumed (see [`KnownHeads`]): one trip.
async fn commit_assumed(
    conn: &mut AnyConnection,
    heads: &LogHeads,
    planned: Vec<Planned>,
    mut next: HashMap<ChannelName, Head>,
) -> Assumed {
    let Decided { answers, events, .. } = match decide_all(planned, &mut next, &[]) {
        Ok(decided) => decided,
        Err(failed) => return Assumed::Done(Err(failed), None),
    };
    announce(heads, &next, &events);
    match trips::write_checked(conn, &next, &events).await {
        Ok(Checked::Stored) => Assumed::Done(Ok(answers), Some(next)),
        Ok(Checked::HeadMoved) => {
            tracing::debug!("a head the log writer assumed had moved; reading it");
            for event in &events {
                heads.abandon_write(&event.channel);
            }
            Assumed::HeadMoved(answers.into_iter().map(Planned::again).collect())
        }
        Err(err) => Assumed::Done(Err(fail_answers(answers, err)), None),
    }
}

/// Any group: its heads (and its messages' senders) read, then its writes.
/// Two trips.
async fn commit_read(
    conn: &mut AnyConnection,
    heads: &LogHeads,
    planned: Vec<Planned>,
    channels: Vec<ChannelName>,
) -> (Outcome, Option<HashMap<ChannelName, Head>>) {
    let senders: Vec<&NewMessage> = planned
        .iter()
        .filter_map(|job| if let Planned::Message { new, .. } = job { Some(new) } else { None })
        .collect();
    let reads = trips::read(conn, &channels, &senders).await;
    drop(senders);
    let reads = match reads {
        Ok(reads) => reads,
        Err(err) => return (Err(fail(planned, err)), None),
    };
    let (heads_read, senders_read) = reads.split_at(channels.len());
    let mut next: HashMap<ChannelName, Head> = HashMap::with_capacity(channels.len());
    for (channel, row) in channels.into_iter().zip(heads_read) {
        match Head::from_row(row) {
            Ok(head) => next.insert(channel, head),
            Err(err) => return (Err(fail(planned, err)), None),
        };
    }
    let Decided { answers, messages, events } = match decide_all(planned, &mut next, senders_read) {
        Ok(decided) => decided,
        Err(failed) => return (Err(failed), None),
    };
    announce(heads, &next, &events);
    match trips::write(conn, &next, &messages, &events).await {
        Ok(()) => (Ok(answers), Some(next)),
        Err(err) => (Err(fail_answers(answers, err)), None),
    }
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
    pub(super) fn unwritten(self, message: &str) -> Answer {
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
pub(super) fn fail_answers(answers: Vec<Answer>, err: StoreError) -> (Vec<Answer>, StoreError) {
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
