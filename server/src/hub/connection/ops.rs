//! Dashboard ops on a socket: applied by the same service as over HTTP and
//! answered with `ack` (the new `version` and the event's `seq`) or `nack`
//! (with `conflicts` when a base was stale). The answer comes before the
//! event on this socket's queue only by chance; clients match the event by
//! client id and op seq, not by order.

use protocol::dashboard::{Op, OpOutcome};
use protocol::message::{Ack, Nack};
use protocol::{ErrorCode, ServerMessage};

use super::{Connection, End};
use crate::dashboard::DashboardError;

impl Connection {
    pub(super) async fn dashboard_op(&mut self, id: &str, dashboard: &str, op: &Op) -> Result<(), End> {
        let principal = self.principal.clone().expect("authenticated");
        let dashboards = self.ctx.dashboards.clone();
        let answer = match dashboards.submit(&principal, dashboard, op).await {
            Ok(OpOutcome::Ack { version, seq, duplicate, .. }) => {
                ServerMessage::Ack(Ack { seq: Some(seq), version: Some(version), duplicate, ..Ack::of(id) })
            }
            Ok(OpOutcome::Nack { code, message, conflicts, .. }) => {
                ServerMessage::Nack(Nack { conflicts, ..Nack::new(Some(id.to_owned()), code, message) })
            }
            Err(DashboardError::NotFound) => {
                ServerMessage::Nack(Nack::new(Some(id.to_owned()), ErrorCode::Forbidden, "no such dashboard"))
            }
            Err(err) => {
                tracing::error!(error = %err, "a dashboard op failed");
                ServerMessage::Nack(Nack::new(Some(id.to_owned()), ErrorCode::Unavailable, "try again"))
            }
        };
        self.send_message(&answer).await
    }
}
