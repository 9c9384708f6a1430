//! SQLite's single writer for the event log.
//!
//! SQLite allows one write transaction at a time. With every publisher opening
//! its own, a transaction whose task waits behind thousands of busy socket
//! tasks holds the file lock while the others spin on the busy timeout (seen
//! as 5 s publish failures under fan-out load). Instead, one task owns event
//! appends: it takes what is queued (up to [`GROUP_MAX`]) and writes it in one
//! transaction, so concurrent publishers share a commit and never contend.
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

use protocol::{ChannelName, EventEnvelope};
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::events::append_in;
use super::heads::LogHeads;

/// Appends waiting for the writer. When full, publishers wait (backpressure
/// reaches the publish API) rather than queueing without bound.
const QUEUE: usize = 1024;
/// Most appends committed together; keeps one transaction short.
const GROUP_MAX: usize = 128;

struct Job {
    channel: ChannelName,
    payload: serde_json::Value,
    reply: oneshot::Sender<Result<EventEnvelope, StoreError>>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("channel", &self.channel).finish_non_exhaustive()
    }
}

impl Appender {
    /// Starts the writer. It ends when every handle is dropped.
    pub fn start(options: AnyConnectOptions, heads: LogHeads) -> std::io::Result<Self> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let writer = async move {
            let mut connection: Option<AnyConnection> = None;
            while let Some(first) = queue.recv().await {
                let mut group = vec![first];
                while group.len() < GROUP_MAX {
                    match queue.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                write_group(&options, &heads, &mut connection, group).await;
            }
        };
        std::thread::Builder::new()
            .name("beacon-log-writer".into())
            .spawn(move || runtime.block_on(writer))?;
        Ok(Self { jobs })
    }

    pub async fn append(
        &self,
        channel: ChannelName,
        payload: serde_json::Value,
    ) -> Result<EventEnvelope, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { channel, payload, reply }).await.map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Writes a group in one transaction; on failure every member gets the error
/// (nothing of the group is stored, so each publisher may retry).
async fn write_group(
    options: &AnyConnectOptions,
    heads: &LogHeads,
    connection: &mut Option<AnyConnection>,
    group: Vec<Job>,
) {
    let mut replies = Vec::with_capacity(group.len());
    let result = async {
        let conn = match connection {
            Some(conn) => conn,
            None => connection.insert(open(options).await?),
        };
        let mut tx = conn.begin().await?;
        let mut events = Vec::with_capacity(group.len());
        for job in group {
            replies.push(job.reply);
            events.push(append_in(&mut tx, heads, job.channel, job.payload).await?);
        }
        tx.commit().await?;
        Ok::<_, StoreError>(events)
    }
    .await;
    match result {
        Ok(events) => {
            for (reply, event) in replies.into_iter().zip(events) {
                let _ = reply.send(Ok(event));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "event log append failed");
            // The connection may be what failed: the next group opens a new one.
            *connection = None;
            let message = err.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Failed(message.clone())));
            }
        }
    }
}

async fn open(options: &AnyConnectOptions) -> Result<AnyConnection, StoreError> {
    let mut conn = options.connect().await?;
    super::sqlite_settings(&mut conn).await?;
    Ok(conn)
}
