//! Applying a dashboard op: one transaction that takes the channel's next seq
//! first (SQLite's write lock, Postgres' head row lock: ops on one dashboard
//! apply one at a time), checks the sender's role and whether this op was
//! answered before, runs the pure applier on the stored board, and writes the
//! changed fields, the answer and the event together.

use std::collections::BTreeSet;

use protocol::EventEnvelope;
use protocol::dashboard::board::{self, Board, Refusal};
use protocol::dashboard::{Change, DashboardEvent, FieldValue, Op, OpOutcome};
use sqlx::Row;

use super::dashboards::{Tx, dashboard_channel, live_widgets, role_in};
use super::events::{insert_event, next_seq};
use super::{Store, StoreError, now_ms};

/// What submitting an op did.
#[derive(Debug)]
pub enum Submitted {
    /// Applied now: answer with the ack, broadcast the event.
    Applied { outcome: OpOutcome, event: EventEnvelope },
    /// Answered before (applied or refused): the same answer, nothing changed.
    Replayed(OpOutcome),
    /// Refused by the applier; the answer is kept for replays.
    Refused(OpOutcome),
    /// Not a member (or no such dashboard).
    NotMember,
    /// A member who may only read.
    ReadOnly,
}

/// The board as stored, with the deleted widgets among `named` (not every
/// tombstone: a dashboard's history of deletions does not grow each op).
async fn load_board(tx: &mut Tx, dashboard: &str, named: &BTreeSet<&str>) -> Result<Board, StoreError> {
    let version: i64 = sqlx::query("SELECT version FROM dashboards WHERE id = $1")
        .bind(dashboard)
        .fetch_one(&mut **tx)
        .await?
        .try_get("version")?;
    let mut board = Board::from_snapshot(version as u64, live_widgets(tx, dashboard).await?);
    for id in named.iter().filter(|id| !board.widgets.contains_key(**id)) {
        let row = sqlx::query("SELECT deleted_version FROM widgets WHERE dashboard_id = $1 AND id = $2")
            .bind(dashboard)
            .bind(*id)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(deleted) =
            row.map(|r| r.try_get::<Option<i64>, _>("deleted_version")).transpose()?.flatten()
        {
            board.deleted.insert((*id).to_owned(), deleted as u64);
        }
    }
    Ok(board)
}

async fn save_change(tx: &mut Tx, dashboard: &str, change: &Change) -> Result<(), StoreError> {
    let query = match change {
        Change::Added { widget } => {
            let v = widget.version() as i64;
            sqlx::query(
                "INSERT INTO widgets (dashboard_id, id, kind, title, title_version, body, body_version, source, \
                 source_version, x, y, pos_version, w, h, size_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $5, $8, $9, $5, $10, $11, $5)",
            )
            .bind(dashboard)
            .bind(&widget.id)
            .bind(widget.kind.as_str())
            .bind(&widget.title.value)
            .bind(v)
            .bind(&widget.body.value)
            .bind(widget.source.value.as_str())
            .bind(i64::from(widget.pos.value.x))
            .bind(i64::from(widget.pos.value.y))
            .bind(i64::from(widget.size.value.w))
            .bind(i64::from(widget.size.value.h))
        }
        Change::Set { widget_id, value, version } => {
            let v = *version as i64;
            let set = |sql: &'static str| sqlx::query(sql).bind(dashboard).bind(widget_id).bind(v);
            match value {
                FieldValue::Title(title) => {
                    set("UPDATE widgets SET title = $4, title_version = $3 WHERE dashboard_id = $1 AND id = $2")
                        .bind(title)
                }
                FieldValue::Body(body) => {
                    set("UPDATE widgets SET body = $4, body_version = $3 WHERE dashboard_id = $1 AND id = $2")
                        .bind(body)
                }
                FieldValue::Source(source) => set(
                    "UPDATE widgets SET source = $4, source_version = $3 WHERE dashboard_id = $1 AND id = $2",
                )
                .bind(source.as_str()),
                FieldValue::Pos(pos) => set(
                    "UPDATE widgets SET x = $4, y = $5, pos_version = $3 WHERE dashboard_id = $1 AND id = $2",
                )
                .bind(i64::from(pos.x))
                .bind(i64::from(pos.y)),
                FieldValue::Size(size) => set(
                    "UPDATE widgets SET w = $4, h = $5, size_version = $3 WHERE dashboard_id = $1 AND id = $2",
                )
                .bind(i64::from(size.w))
                .bind(i64::from(size.h)),
            }
        }
        Change::Deleted { widget_id, version } => {
            sqlx::query("UPDATE widgets SET deleted_version = $3 WHERE dashboard_id = $1 AND id = $2")
                .bind(dashboard)
                .bind(widget_id)
                .bind(*version as i64)
        }
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

fn encode(outcome: &OpOutcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const EARLIER_ANSWER: &str = "SELECT outcome FROM dashboard_ops \
     WHERE dashboard_id = $1 AND principal = $2 AND client_id = $3 AND op_seq = $4";

fn decode(row: &sqlx::any::AnyRow) -> Result<OpOutcome, StoreError> {
    let text: String = row.try_get("outcome")?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("stored op answer: {e}")))
}

/// The answer a replay gets: the stored one, marked as a duplicate.
fn as_replay(outcome: OpOutcome) -> OpOutcome {
    match outcome {
        OpOutcome::Ack { op_seq, version, seq, .. } => {
            OpOutcome::Ack { op_seq, version, seq, duplicate: true }
        }
        nack => nack,
    }
}

impl Store {
    /// Applies `op` from `principal` to a dashboard, or answers it as before.
    pub async fn submit_dashboard_op(
        &self,
        dashboard: &str,
        principal: &str,
        op: &Op,
    ) -> Result<Submitted, StoreError> {
        let channel = dashboard_channel(dashboard)?;
        let op_seq = op.op_seq.min(i64::MAX as u64) as i64;
        let mut tx = self.pool().begin().await?;
        let seq = next_seq(&mut tx, &self.heads, &channel).await?;
        let role = role_in(&mut tx, dashboard, principal).await?;
        let earlier = sqlx::query(EARLIER_ANSWER)
            .bind(dashboard)
            .bind(principal)
            .bind(&op.client_id)
            .bind(op_seq)
            .fetch_optional(&mut *tx)
            .await?;
        // Rolled back on every path that stores nothing: the seq is given back.
        match (role, earlier) {
            (None, _) => {
                tx.rollback().await?;
                return Ok(Submitted::NotMember);
            }
            (Some(_), Some(row)) => {
                tx.rollback().await?;
                return Ok(Submitted::Replayed(as_replay(decode(&row)?)));
            }
            (Some(role), None) if !role.may_write() => {
                tx.rollback().await?;
                return Ok(Submitted::ReadOnly);
            }
            (Some(_), None) => {}
        }
        let named = op.op.widget_ids();
        let board = load_board(&mut tx, dashboard, &named).await?;
        let changes = match board::apply(&board, &op.op) {
            Ok(changes) => changes,
            Err(refusal) => {
                tx.rollback().await?;
                return self.keep_refusal(dashboard, principal, op, &refusal).await;
            }
        };
        let version = board.version + 1;
        for change in &changes {
            save_change(&mut tx, dashboard, change).await?;
        }
        sqlx::query("UPDATE dashboards SET version = $2 WHERE id = $1")
            .bind(dashboard)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        let outcome = OpOutcome::Ack { op_seq: op.op_seq, version, seq, duplicate: false };
        if !record(&mut tx, dashboard, principal, op, &outcome).await? {
            // This op got an answer meanwhile (a refusal kept by an earlier
            // attempt, committed after this one began): that answer stands.
            tx.rollback().await?;
            let stored = self.stored_answer(dashboard, principal, op).await?;
            return Ok(Submitted::Replayed(as_replay(stored)));
        }
        let event =
            DashboardEvent::Applied { client_id: op.client_id.clone(), op_seq: op.op_seq, version, changes };
        let payload = serde_json::to_value(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = insert_event(&mut tx, channel, seq, payload).await?;
        tx.commit().await?;
        Ok(Submitted::Applied { outcome, event })
    }

    /// Keeps a refusal as this op's answer. Outside the op's transaction (its
    /// seq must not be spent on an event that never comes); if a concurrent
    /// resend of the same op got an answer in first, that one stands.
    async fn keep_refusal(
        &self,
        dashboard: &str,
        principal: &str,
        op: &Op,
        refusal: &Refusal,
    ) -> Result<Submitted, StoreError> {
        let outcome = OpOutcome::Nack {
            op_seq: op.op_seq,
            code: refusal.code(),
            message: refusal.to_string(),
            conflicts: refusal.conflicts().to_vec(),
        };
        let mut tx = self.pool().begin().await?;
        let kept = record(&mut tx, dashboard, principal, op, &outcome).await?;
        tx.commit().await?;
        if kept {
            return Ok(Submitted::Refused(outcome));
        }
        Ok(Submitted::Replayed(as_replay(self.stored_answer(dashboard, principal, op).await?)))
    }

    async fn stored_answer(
        &self,
        dashboard: &str,
        principal: &str,
        op: &Op,
    ) -> Result<OpOutcome, StoreError> {
        let row = sqlx::query(EARLIER_ANSWER)
            .bind(dashboard)
            .bind(principal)
            .bind(&op.client_id)
            .bind(op.op_seq.min(i64::MAX as u64) as i64)
            .fetch_one(self.pool())
            .await?;
        decode(&row)
    }
}

async fn record(
    tx: &mut Tx,
    dashboard: &str,
    principal: &str,
    op: &Op,
    outcome: &OpOutcome,
) -> Result<bool, StoreError> {
    let stored = sqlx::query(
        "INSERT INTO dashboard_ops (dashboard_id, principal, client_id, op_seq, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(dashboard)
    .bind(principal)
    .bind(&op.client_id)
    .bind(op.op_seq.min(i64::MAX as u64) as i64)
    .bind(encode(outcome)?)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(stored == 1)
}
