//! Conversations, their members and invites. Membership changes are announced
//! on the conversation's channel in the same transaction (see `messages` for
//! the messages themselves).

use protocol::chat::{ConversationEvent, ConversationSummary, ConversationView, Member, Message};
use protocol::{ChannelKind, ChannelName, EventEnvelope};
use sqlx::Row;

use super::events::{insert_event, next_seq};
use super::heads::LogHeads;
use super::messages::{MESSAGE_COLUMNS, message_from_row};
use super::{Store, StoreError, now_ms};

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The channel of conversation `id`.
pub fn conversation_channel(id: &str) -> Result<ChannelName, StoreError> {
    ChannelName::new(ChannelKind::Conversation, id)
        .map_err(|e| StoreError::Corrupt(format!("conversation id: {e}")))
}

fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A current member, as the server knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub member: Member,
    pub last_read_seq: u64,
}

/// Appends a conversation event inside `tx`, taking the channel's next seq.
pub(super) async fn announce(
    tx: &mut Tx,
    heads: &LogHeads,
    channel: &ChannelName,
    event: &ConversationEvent,
) -> Result<EventEnvelope, StoreError> {
    let seq = next_seq(tx, heads, channel).await?;
    let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    insert_event(tx, channel.clone(), seq, payload).await
}

/// A principal's current membership of a conversation (`$1`, `$2`).
const MEMBERSHIP: &str = "SELECT member_id, display_name, last_read_seq FROM conversation_members \
     WHERE conversation_id = $1 AND principal = $2 AND left_at IS NULL";

pub(super) async fn membership_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    conversation: &str,
    principal: &str,
) -> Result<Option<Membership>, StoreError> {
    let row = sqlx::query(MEMBERSHIP).bind(conversation).bind(principal).fetch_optional(&mut **tx).await?;
    row.map(|row| membership_from_row(&row)).transpose()
}

fn membership_from_row(row: &sqlx::any::AnyRow) -> Result<Membership, StoreError> {
    Ok(Membership {
        member: Member { member_id: row.try_get("member_id")?, name: row.try_get("display_name")? },
        last_read_seq: row.try_get::<i64, _>("last_read_seq")? as u64,
    })
}

/// What accepting an invite did.
#[derive(Debug)]
pub enum Joined {
    /// Joined now; the event announces it.
    New { conversation_id: String, event: EventEnvelope },
    /// Was a member already.
    Already { conversation_id: String },
}

/// An invite that cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteProblem {
    Unknown,
    Expired,
}

impl Store {
    /// Creates a conversation with its creator as the first member.
    pub async fn create_conversation(
        &self,
        principal: &str,
        title: &str,
        display_name: &str,
    ) -> Result<(String, EventEnvelope), StoreError> {
        let id = random_id();
        let channel = conversation_channel(&id)?;
        let now = now_ms();
        let member = Member { member_id: random_id(), name: display_name.to_owned() };
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO conversations (id, title, created_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(title)
            .bind(principal)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_member(&mut tx, &id, principal, &member, now).await?;
        let event =
            announce(&mut tx, &self.heads, &channel, &ConversationEvent::MemberJoined { member }).await?;
        tx.commit().await?;
        Ok((id, event))
    }

    /// The principal's current membership of a conversation, if any.
    pub async fn membership(
        &self,
        conversation: &str,
        principal: &str,
    ) -> Result<Option<Membership>, StoreError> {
        let row =
            sqlx::query(MEMBERSHIP).bind(conversation).bind(principal).fetch_optional(self.pool()).await?;
        row.map(|row| membership_from_row(&row)).transpose()
    }

    /// A conversation's title.
    pub async fn conversation_title(&self, conversation: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT title FROM conversations WHERE id = $1")
            .bind(conversation)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get("title")).transpose()?)
    }

    /// Current members, in the order they joined.
    pub async fn members(&self, conversation: &str) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, display_name, last_read_seq FROM conversation_members \
             WHERE conversation_id = $1 AND left_at IS NULL ORDER BY joined_at, member_id",
        )
        .bind(conversation)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| membership_from_row(row).map(|m| m.member)).collect()
    }

    /// Current members with their principals, for notifying them.
    pub async fn member_principals(&self, conversation: &str) -> Result<Vec<(String, Member)>, StoreError> {
        let rows = sqlx::query(
            "SELECT principal, member_id, display_name, last_read_seq FROM conversation_members \
             WHERE conversation_id = $1 AND left_at IS NULL",
        )
        .bind(conversation)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok((row.try_get("principal")?, membership_from_row(row)?.member))).collect()
    }

    /// One conversation as its member sees it; `None` for a non-member.
    pub async fn conversation_view(
        &self,
        conversation: &str,
        principal: &str,
    ) -> Result<Option<ConversationView>, StoreError> {
        let Some(me) = self.membership(conversation, principal).await? else {
            return Ok(None);
        };
        let title: String = sqlx::query("SELECT title FROM conversations WHERE id = $1")
            .bind(conversation)
            .fetch_one(self.pool())
            .await?
            .try_get("title")?;
        let members = self.members(conversation).await?;
        let head_seq = self.log_bounds(&conversation_channel(conversation)?).await?.head;
        Ok(Some(ConversationView {
            id: conversation.to_owned(),
            title,
            me: me.member,
            members,
            head_seq,
            last_read_seq: me.last_read_seq,
        }))
    }

    /// The principal's conversations, the most recently active first.
    pub async fn conversations_of(&self, principal: &str) -> Result<Vec<ConversationSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.title, c.created_at, m.last_read_seq, \
                    COALESCE(h.last_seq, 0) AS head_seq, \
                    (SELECT COUNT(*) FROM conversation_members o \
                      WHERE o.conversation_id = c.id AND o.left_at IS NULL) AS members, \
                    (SELECT COUNT(*) FROM messages x \
                      WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq \
                        AND x.sender_principal <> m.principal) AS unread \
             FROM conversation_members m \
             JOIN conversations c ON c.id = m.conversation_id \
             LEFT JOIN channel_heads h ON h.channel = 'conversation:' || c.id \
             WHERE m.principal = $1 AND m.left_at IS NULL \
             ORDER BY head_seq DESC, c.created_at DESC LIMIT 200",
        )
        .bind(principal)
        .fetch_all(self.pool())
        .await?;
        let ids = rows.iter().map(|row| row.try_get::<String, _>("id")).collect::<Result<Vec<_>, _>>()?;
        let mut last_messages = self.last_messages(&ids).await?;
        let mut summaries = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(ids) {
            summaries.push(ConversationSummary {
                title: row.try_get("title")?,
                members: row.try_get::<i64, _>("members")? as u64,
                last_message: last_messages.remove(&id),
                unread: row.try_get::<i64, _>("unread")? as u64,
                head_seq: row.try_get::<i64, _>("head_seq")? as u64,
                id,
            });
        }
        // Most recent activity first: the newest message, else creation.
        summaries.sort_by_key(|s| std::cmp::Reverse(s.last_message.as_ref().map_or(0, |m| m.created_at)));
        Ok(summaries)
    }

    /// Moves the principal's read marker forward to `seq` (never back).
    pub async fn mark_conversation_read(
        &self,
        conversation: &str,
        principal: &str,
        seq: u64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE conversation_members SET last_read_seq = $1 \
             WHERE conversation_id = $2 AND principal = $3 AND left_at IS NULL AND last_read_seq < $1",
        )
        .bind(seq as i64)
        .bind(conversation)
        .bind(principal)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    /// A share link for a conversation, valid for `ttl_ms`.
    pub async fn create_invite(
        &self,
        conversation: &str,
        principal: &str,
        ttl_ms: i64,
    ) -> Result<(String, i64), StoreError> {
        let token = format!("{}{}", random_id(), random_id());
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms);
        sqlx::query(
            "INSERT INTO conversation_invites (token, conversation_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token)
        .bind(conversation)
        .bind(principal)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok((token, expires_at))
    }

    /// The conversation an invite leads to, if it is usable.
    pub async fn invite_target(
        &self,
        token: &str,
    ) -> Result<Result<(String, String), InviteProblem>, StoreError> {
        let row = sqlx::query(
            "SELECT i.conversation_id, i.expires_at, c.title FROM conversation_invites i \
             JOIN conversations c ON c.id = i.conversation_id WHERE i.token = $1",
        )
        .bind(token)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(Err(InviteProblem::Unknown)) };
        if row.try_get::<i64, _>("expires_at")? <= now_ms() {
            return Ok(Err(InviteProblem::Expired));
        }
        Ok(Ok((row.try_get("conversation_id")?, row.try_get("title")?)))
    }

    /// Joins the conversation an invite leads to (again, after leaving: with
    /// the same member id and the new name).
    pub async fn accept_invite(
        &self,
        token: &str,
        principal: &str,
        display_name: &str,
    ) -> Result<Result<Joined, InviteProblem>, StoreError> {
        let conversation_id = match self.invite_target(token).await? {
            Ok((id, _)) => id,
            Err(problem) => return Ok(Err(problem)),
        };
        let channel = conversation_channel(&conversation_id)?;
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        // Rejoin first: a write, so SQLite's write lock is taken at once.
        let rejoined = sqlx::query(
            "UPDATE conversation_members SET left_at = NULL, display_name = $1, joined_at = $2 \
             WHERE conversation_id = $3 AND principal = $4 AND left_at IS NOT NULL RETURNING member_id",
        )
        .bind(display_name)
        .bind(now)
        .bind(&conversation_id)
        .bind(principal)
        .fetch_optional(&mut *tx)
        .await?;
        let member = match rejoined {
            Some(row) => Member { member_id: row.try_get("member_id")?, name: display_name.to_owned() },
            None => {
                if membership_in(&mut tx, &conversation_id, principal).await?.is_some() {
                    tx.rollback().await?;
                    return Ok(Ok(Joined::Already { conversation_id }));
                }
                let member = Member { member_id: random_id(), name: display_name.to_owned() };
                insert_member(&mut tx, &conversation_id, principal, &member, now).await?;
                member
            }
        };
        let event =
            announce(&mut tx, &self.heads, &channel, &ConversationEvent::MemberJoined { member }).await?;
        tx.commit().await?;
        Ok(Ok(Joined::New { conversation_id, event }))
    }

    /// Leaves a conversation; `None` when the principal was not a member.
    pub async fn leave_conversation(
        &self,
        conversation: &str,
        principal: &str,
    ) -> Result<Option<EventEnvelope>, StoreError> {
        let channel = conversation_channel(conversation)?;
        let mut tx = self.pool().begin().await?;
        let left = sqlx::query(
            "UPDATE conversation_members SET left_at = $1 \
             WHERE conversation_id = $2 AND principal = $3 AND left_at IS NULL \
             RETURNING member_id, display_name, last_read_seq",
        )
        .bind(now_ms())
        .bind(conversation)
        .bind(principal)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = left else {
            tx.rollback().await?;
            return Ok(None);
        };
        let member = membership_from_row(&row)?.member;
        let event =
            announce(&mut tx, &self.heads, &channel, &ConversationEvent::MemberLeft { member }).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    /// A page of history, oldest first, before `before` (exclusive; `None`: the newest).
    pub async fn history(
        &self,
        conversation: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT $3"
        ))
        .bind(conversation)
        .bind(before)
        .bind((limit + 1) as i64)
        .fetch_all(self.pool())
        .await?;
        let has_more = rows.len() > limit;
        let mut messages = rows.iter().take(limit).map(message_from_row).collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok((messages, has_more))
    }
}

async fn insert_member(
    tx: &mut Tx,
    conversation: &str,
    principal: &str,
    member: &Member,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversation_members (conversation_id, principal, member_id, display_name, joined_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(conversation)
    .bind(principal)
    .bind(&member.member_id)
    .bind(&member.name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
