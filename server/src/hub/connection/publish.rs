//! What members send on a socket: messages (`publish`, stored and
//! acknowledged with their seq), `typing` and `activity` (ephemeral, answered
//! only when refused). Write permission is membership, checked again inside
//! the storing transaction; `user:`, `session:` and `dashboard:` channels are
//! written by the server only.

use protocol::chat::Draft;
use protocol::message::Ack;
use protocol::{ChannelKind, ChannelName, ErrorCode, ServerMessage};

use super::{Connection, End};
use crate::chat::ChatError;

impl Connection {
    pub(super) async fn publish(
        &mut self,
        id: &str,
        channel: &str,
        client_id: &str,
        payload: serde_json::Value,
    ) -> Result<(), End> {
        let channel = match ChannelName::parse(channel) {
            Ok(channel) => channel,
            Err(err) => return self.nack(Some(id), ErrorCode::InvalidChannel, err.to_string()).await,
        };
        if channel.kind() != ChannelKind::Conversation {
            let kind = channel.kind().as_str();
            return self.nack(Some(id), ErrorCode::Forbidden, format!("{kind} channels are read-only")).await;
        }
        let draft: Draft = match serde_json::from_value(payload) {
            Ok(draft) => draft,
            Err(err) => {
                let detail = format!("a conversation takes {{\"text\": ...}}: {err}");
                return self.nack(Some(id), ErrorCode::InvalidPayload, detail).await;
            }
        };
        let principal = self.principal.clone().expect("authenticated");
        let chat = self.ctx.chat.clone();
        match chat.send(&principal, channel.id(), client_id, &draft.text).await {
            Ok(sent) => {
                let ack = Ack { seq: Some(sent.message.seq), duplicate: sent.duplicate, ..Ack::of(id) };
                self.send_message(&ServerMessage::Ack(ack)).await
            }
            Err(err) => {
                let code = nack_code(&err);
                if code == ErrorCode::Internal {
                    tracing::error!(error = %err, "storing a message failed");
                    return self.nack(Some(id), code, "try again").await;
                }
                self.nack(Some(id), code, err.to_string()).await
            }
        }
    }

    pub(super) async fn typing(&mut self, channel: &str, active: bool) -> Result<(), End> {
        let member = ChannelName::parse(channel).ok().and_then(|c| self.memberships.get_key_value(&c));
        let Some((channel, member)) = member.map(|(c, m)| (c.clone(), m.clone())) else {
            let detail = format!("typing on `{channel}` needs a subscription to it as a member");
            return self.nack(None, ErrorCode::NotSubscribed, detail).await;
        };
        if self.ctx.hub.typing(&channel, &member, active).await.is_err() {
            return self.nack(None, ErrorCode::RateLimited, "typing: at most one signal a second").await;
        }
        Ok(())
    }

    pub(super) async fn activity(&mut self) -> Result<(), End> {
        self.ctx.hub.activity(self.id).await;
        Ok(())
    }
}

/// The nack code of each refusal: the client switches on it (retry the
/// rate-limited, give up on the rest).
fn nack_code(err: &ChatError) -> ErrorCode {
    match err {
        ChatError::Invalid(_) => ErrorCode::InvalidPayload,
        ChatError::TooLarge => ErrorCode::TooLarge,
        ChatError::RateLimited { .. } => ErrorCode::RateLimited,
        ChatError::NotFound | ChatError::InviteExpired => ErrorCode::Forbidden,
        ChatError::Store(_) => ErrorCode::Internal,
    }
}
