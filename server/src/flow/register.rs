//! Registration: a verified session becomes a user. The user gets a principal
//! of its own, issued here, and a sign-in: whoever knew the visitor's cookie
//! before (a shared computer, a planted cookie) does not become the user
//! (no session fixation).

use protocol::connect::SessionStatus;

use super::{ConnectFlow, FlowError};
use crate::auth::Principal;

/// A new user and the sign-in its browser now holds.
#[derive(Debug, Clone)]
pub struct Registered {
    pub user: Principal,
    pub sign_in: String,
}

impl ConnectFlow {
    /// Registers the verified visitor `owner` from `session_id`.
    pub async fn register(
        &self,
        owner: &str,
        session_id: &str,
        display_name: &str,
        email: &str,
    ) -> Result<Registered, FlowError> {
        let display_name = display_name.trim();
        let email = email.trim();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(FlowError::Invalid("name must be 1 to 100 characters".into()));
        }
        let email_ok = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !email_ok {
            return Err(FlowError::Invalid("email must look like name@example.org".into()));
        }
        let session = self.store().connect_session(session_id).await?.ok_or(FlowError::NotFound)?;
        if session.owner != owner {
            return Err(FlowError::NotFound);
        }
        if session.status != SessionStatus::Verified {
            return Err(FlowError::NotVerified);
        }
        if self.store().user(owner).await?.is_some() {
            return Err(FlowError::AlreadyRegistered);
        }
        let user = Principal::new_random();
        let attributes = session.attributes.clone().unwrap_or_else(|| "{}".into());
        // One user per session (a unique index): a second, concurrent attempt loses here.
        if !self.store().create_user(user.as_str(), display_name, email, &attributes, session_id).await? {
            return Err(FlowError::AlreadyRegistered);
        }
        self.store().transfer_session(session_id, user.as_str()).await?;
        let sign_in = self.store().create_sign_in(user.as_str()).await?;
        self.move_to(session_id, SessionStatus::Registered).await?;
        Ok(Registered { user, sign_in })
    }
}
