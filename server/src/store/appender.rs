//! SQLite's single writer for the event log: event appends, and the
//! conversation messages stored with their events.
//!
//! SQLite allows one write transaction at a time. With every publisher opening
//! its own, a transaction whose task waits behind thousands of busy socket
//! tasks holds the file lock while the others spin on the busy timeout (seen
//! as 5 s publish failures under fan-out load). Instead, one task owns event
//! appends: it takes what is queued (up to [`GROUP_MAX`]) and writes it in one
//! transaction of one or two trips to the connection (see [`group`]), so
//! concurrent publishers share a commit and never contend.
//!
//! The writer holds a connection of its own, outside the pool: no group waits
//! for a pooled connection, and since nothing else writes the log's pages its
//! page cache stays valid between groups (a pooled connection finds the file
//! changed by the others and reads its pages again). A failed group drops the
//! connection; the next group opens a new one.
//!
//! The writer runs on a thread and runtime of its own: on the main runtime its
//! every wake-up queued behind whatever else was ready (thousands of
//! resubscribes in a reconnect storm), and every publisher waited with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::{ChannelName, EventEnvelope};
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions};
use tokio::sync::{mpsc, oneshot};

mod batch;
mod decide;
mod group;
mod known_heads;
mod trips;

use self::known_heads::KnownHeads;
use super::StoreError;
use super::heads::LogHeads;
use super::messages::{NewMessage, Stored};

/// Appends waiting for the writer. When full, publishers wait (backpressure
/// reaches the publish API) rather than queueing without bound.
const QUEUE: usize = 1024;
/// Most appends committed together; keeps one transaction short.
const GROUP_MAX: usize = 128;

/// A write the writer does for someone, with where its answer goes.
enum Job {
    Append { channel: ChannelName, payload: serde_json::Value, reply: Reply<EventEnvelope> },
    Message { message: NewMessage, reply: Reply<Stored> },
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Append { channel, .. } => {
                f.debug_struct("Append").field("channel", channel).finish_non_exhaustive()
            }
            Job::Message { message, .. } => {
                f.debug_struct("Message").field("conversation", &message.conversation).finish_non_exhaustive()
            }
        }
    }
}

impl Job {
    /// Answers with an error; nothing of it was written.
    fn fail(self, message: &str) {
        let err = || StoreError::Failed(message.to_owned());
        match self {
            Job::Append { reply, .. } => drop(reply.send(Err(err()))),
            Job::Message { reply, .. } => drop(reply.send(Err(err()))),
        }
    }
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    jobs: mpsc::Sender<Job>,
    counts: Arc<WriterCounts>,
}

/// What the writer committed, for `/metrics`: jobs per group says how much
/// the group commit shares.
#[derive(Debug, Default)]
pub struct WriterCounts {
    /// Transactions committed.
    pub groups: AtomicU64,
    /// Jobs in them: events appended, messages stored or refused.
    pub jobs: AtomicU64,
    /// Groups of appends committed as one statement on heads known in memory
    /// (see [`group`]).
    pub one_trip_groups: AtomicU64,
    /// Groups whose assumed heads another transaction had moved: nothing
    /// stored, written again after reading them.
    pub stale_heads: AtomicU64,
}

impl Appender {
    /// Starts the writer. It ends when every handle is dropped.
    pub fn start(options: AnyConnectOptions, heads: LogHeads) -> std::io::Result<Self> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let counts = Arc::new(WriterCounts::default());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let writer_counts = counts.clone();
        let writer = async move {
            let mut connection: Option<AnyConnection> = None;
            let mut known = KnownHeads::default();
            while let Some(first) = queue.recv().await {
                let mut group = vec![first];
                while group.len() < GROUP_MAX {
                    match queue.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                write_group(&options, &heads, &mut connection, &mut known, group, &writer_counts).await;
            }
        };
        std::thread::Builder::new()
            .name("beacon-log-writer".into())
            .spawn(move || runtime.block_on(writer))?;
        Ok(Self { jobs, counts })
    }

    pub fn counts(&self) -> &WriterCounts {
        &self.counts
    }

    pub async fn append(
        &self,
        channel: ChannelName,
        payload: serde_json::Value,
    ) -> Result<EventEnvelope, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Append { channel, payload, reply }).await?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Stores a conversation message with its event, unless its sender is not
    /// a member or its client id stored one before (see [`group`]).
    pub async fn send_message(&self, message: NewMessage) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Message { message, reply }).await?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| StoreError::WriterGone)
    }
}

/// Writes a group in one transaction (see [`group`]); on failure every
/// member gets the error (nothing of the group is stored, so each publisher
/// may retry).
async fn write_group(
    options: &AnyConnectOptions,
    heads: &LogHeads,
    connection: &mut Option<AnyConnection>,
    known: &mut KnownHeads,
    jobs: Vec<Job>,
    counts: &WriterCounts,
) {
    let conn = match connection {
        Some(conn) => conn,
        None => match open(options).await {
            Ok(conn) => connection.insert(conn),
            Err(err) => {
                tracing::error!(error = %err, "opening the event log's writer connection failed");
                let message = err.to_string();
                jobs.into_iter().for_each(|job| job.fail(&message));
                return;
            }
        },
    };
    let jobs_in_group = jobs.len() as u64;
    let answers = match group::commit(conn, heads, known, jobs, counts).await {
        Ok(answers) => {
            counts.groups.fetch_add(1, Ordering::Relaxed);
            counts.jobs.fetch_add(jobs_in_group, Ordering::Relaxed);
            answers
        }
        Err((answers, err)) => {
            tracing::error!(error = %err, "event log write failed");
            // The connection may be what failed, or be left mid-transaction:
            // the next group opens a new one.
            *connection = None;
            answers
        }
    };
    answers.into_iter().for_each(group::Answer::send);
}

async fn open(options: &AnyConnectOptions) -> Result<AnyConnection, StoreError> {
    let mut conn = options.connect().await?;
    super::sqlite_settings(&mut conn).await?;
    Ok(conn)
}
