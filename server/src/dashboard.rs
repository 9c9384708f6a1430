//! Live dashboards as a service: validates what members send, enforces the op
//! rate, applies each op in its transaction (`store::dashboard_ops`) and
//! broadcasts the event. The socket path is `hub::connection::publish`, the
//! HTTP surface `http::dashboards`; both answer an op with the same
//! [`OpOutcome`]. [`live`] pushes the metric widgets' values.

pub mod live;

use std::sync::Arc;
use std::time::Instant;

use protocol::dashboard::{
    self, DashboardChanges, DashboardInvite, DashboardInvitePreview, DashboardSummary, DashboardView, Op,
    OpOutcome, Role,
};
use protocol::{ErrorCode, limits};

use crate::auth::Principal;
use crate::chat::limits::SendLimits;
use crate::hub::Hub;
use crate::hub::resume::{self, Read};
use crate::store::dashboard_ops::Submitted;
use crate::store::dashboards::{DashboardInviteProblem, dashboard_channel};
use crate::store::{Store, StoreError};

/// How long a share link stays valid.
const INVITE_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Why a dashboard request was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{0}")]
    Invalid(String),
    /// Not a member (or no such dashboard: the same answer, so ids cannot be probed).
    #[error("no such dashboard")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this invite link has expired")]
    InviteExpired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A dashboard id as the API takes it: 32 lowercase hex digits.
fn check_id(id: &str) -> Result<(), DashboardError> {
    if Principal::parse(id).is_some() { Ok(()) } else { Err(DashboardError::NotFound) }
}

/// A dashboard title: trimmed, 1 to `MAX_TITLE_CHARS`, no control characters.
fn clean_title(title: &str) -> Result<String, DashboardError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(DashboardError::Invalid("a title must not be empty".into()));
    }
    dashboard::board::check_value(&dashboard::FieldValue::Title(title.to_owned()))
        .map_err(|refusal| DashboardError::Invalid(refusal.to_string()))?;
    Ok(title.to_owned())
}

fn nack(op: &Op, code: ErrorCode, message: impl Into<String>) -> OpOutcome {
    OpOutcome::Nack { op_seq: op.op_seq, code, message: message.into(), conflicts: Vec::new() }
}

#[derive(Clone)]
pub struct Dashboards {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    limits: SendLimits,
}

impl Dashboards {
    pub fn new(store: Store, hub: Hub, ops_per_sec: u32) -> Self {
        Self { inner: Arc::new(Inner { store, hub, limits: SendLimits::new(ops_per_sec) }) }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    pub async fn create(&self, principal: &Principal, title: &str) -> Result<DashboardView, DashboardError> {
        let title = clean_title(title)?;
        let (id, event) = self.store().create_dashboard(principal.as_str(), &title).await?;
        self.inner.hub.broadcast(&event).await;
        self.view(principal, &id).await
    }

    pub async fn list(&self, principal: &Principal) -> Result<Vec<DashboardSummary>, DashboardError> {
        Ok(self.store().dashboards_of(principal.as_str()).await?)
    }

    pub async fn view(&self, principal: &Principal, id: &str) -> Result<DashboardView, DashboardError> {
        check_id(id)?;
        self.store().dashboard_view(id, principal.as_str()).await?.ok_or(DashboardError::NotFound)
    }

    /// The events after `since` (at most one replay batch; ask again from the
    /// last one), or a snapshot when the log cannot serve `since` in `epoch`.
    pub async fn changes(
        &self,
        principal: &Principal,
        id: &str,
        since: u64,
        epoch: Option<&str>,
    ) -> Result<DashboardChanges, DashboardError> {
        check_id(id)?;
        if self.store().dashboard_role(id, principal.as_str()).await?.is_none() {
            return Err(DashboardError::NotFound);
        }
        let channel = dashboard_channel(id)?;
        let bounds = self.store().log_bounds(&channel).await?;
        let snapshot = || async {
            let view = self.view(principal, id).await?;
            let (head_seq, epoch) = (view.head_seq, view.epoch.clone());
            Ok(DashboardChanges { events: Vec::new(), snapshot: Some(view), head_seq, epoch })
        };
        if resume::start(Some(since), epoch, &bounds).1.is_some() {
            return snapshot().await;
        }
        match resume::read_after(self.store(), &channel, since, bounds.head, limits::MAX_REPLAY_BATCH).await?
        {
            Read::Gap => snapshot().await,
            Read::Events(events) => {
                Ok(DashboardChanges { events, snapshot: None, head_seq: bounds.head, epoch: bounds.epoch })
            }
        }
    }

    /// Applies an op (or answers it as before). Refusals are answers, not
    /// errors: only a non-member gets an error (the dashboard "does not exist").
    pub async fn submit(
        &self,
        principal: &Principal,
        id: &str,
        op: &Op,
    ) -> Result<OpOutcome, DashboardError> {
        check_id(id)?;
        if !dashboard::valid_id(&op.client_id, dashboard::MAX_CLIENT_ID_BYTES) {
            let detail = format!("client_id: 1 to {} of A-Z a-z 0-9 - _", dashboard::MAX_CLIENT_ID_BYTES);
            return Ok(nack(op, ErrorCode::InvalidPayload, detail));
        }
        if self.inner.limits.allow(principal.as_str(), id, Instant::now()).is_err() {
            return Ok(nack(op, ErrorCode::RateLimited, "too many changes; slow down"));
        }
        let submitted = match self.store().submit_dashboard_op(id, principal.as_str(), op).await {
            Ok(submitted) => submitted,
            Err(err) => {
                // Retryable: the client keeps the op and sends it again.
                tracing::error!(error = %err, dashboard = id, "applying a dashboard op failed");
                return Ok(nack(op, ErrorCode::Unavailable, "could not apply the change now; try again"));
            }
        };
        Ok(match submitted {
            Submitted::Applied { outcome, event } => {
                self.inner.hub.broadcast(&event).await;
                outcome
            }
            Submitted::Replayed(outcome) | Submitted::Refused(outcome) => outcome,
            Submitted::ReadOnly => nack(op, ErrorCode::Forbidden, "viewers cannot change this dashboard"),
            Submitted::NotMember => return Err(DashboardError::NotFound),
        })
    }

    /// A share link for `role` (owners only; a link never makes an owner).
    pub async fn invite(
        &self,
        principal: &Principal,
        id: &str,
        role: Role,
    ) -> Result<DashboardInvite, DashboardError> {
        check_id(id)?;
        match self.store().dashboard_role(id, principal.as_str()).await? {
            None => return Err(DashboardError::NotFound),
            Some(Role::Owner) => {}
            Some(_) => return Err(DashboardError::Forbidden("only the owner shares this dashboard")),
        }
        if role == Role::Owner {
            return Err(DashboardError::Invalid("a link invites editors or viewers".into()));
        }
        let (token, expires_at) =
            self.store().create_dashboard_invite(id, principal.as_str(), role, INVITE_TTL_MS).await?;
        let path = format!("/dashboards/join/{token}");
        Ok(DashboardInvite { token, role, path, expires_at })
    }

    pub async fn invite_preview(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<DashboardInvitePreview, DashboardError> {
        invite_answer(self.store().dashboard_invite(token, principal.as_str()).await?)
    }

    pub async fn accept(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<DashboardInvitePreview, DashboardError> {
        let (preview, event) =
            invite_answer(self.store().accept_dashboard_invite(token, principal.as_str()).await?)?;
        if let Some(event) = event {
            self.inner.hub.broadcast(&event).await;
        }
        Ok(preview)
    }
}

fn invite_answer<T>(answer: Result<T, DashboardInviteProblem>) -> Result<T, DashboardError> {
    answer.map_err(|problem| match problem {
        DashboardInviteProblem::Unknown => DashboardError::NotFound,
        DashboardInviteProblem::Expired => DashboardError::InviteExpired,
    })
}
