//! Starting a connect session: a fresh single-use invitation from the agent,
//! or the visitor's open one. Reopening the page (a reload, a second tab, a
//! link prefetcher) shows the same QR instead of asking the platform again.

use protocol::connect::SessionStatus;

use super::{ConnectFlow, FlowError};
use crate::store::sessions::ConnectSession;

/// An open QR is shown again only while this much of its time is left;
/// closer to its expiry a new one serves the person better.
const MIN_LEFT_TO_REUSE_MS: i64 = 60_000;

impl ConnectFlow {
    /// The visitor's open session, if one still has time left.
    pub async fn open_session(&self, owner: &str) -> Result<Option<ConnectSession>, FlowError> {
        let ttl = self.settings().session_ttl.as_millis().min(i64::MAX as u128) as i64;
        // A short-lived QR (tests, tight settings) is reused while half its time is left.
        let min_left = MIN_LEFT_TO_REUSE_MS.min(ttl / 2);
        Ok(self.store().open_session_of(owner, min_left).await?)
    }

    /// A new session for `owner` with a fresh single-use invitation. The
    /// visitor's other unscanned sessions expire: one QR per visitor is live.
    #[tracing::instrument(skip(self))]
    pub async fn start_session(&self, owner: &str) -> Result<ConnectSession, FlowError> {
        while let Some(previous) = self.store().open_session_of(owner, 0).await? {
            self.move_to(&previous.id, SessionStatus::Expired).await?;
        }
        let ttl = self.settings().session_ttl.as_millis().min(i64::MAX as u128) as i64;
        let session = self.store().create_connect_session(owner, ttl).await?;
        let invitation = self.inner.agent.create_invitation(&session.id).await?;
        let updated = self
            .store()
            .update_session(&session.id, |s| {
                s.invitation_url = Some(invitation.url.clone());
                s.record_id = Some(invitation.record_id.clone());
                true
            })
            .await?;
        updated.ok_or(FlowError::NotFound)
    }
}
