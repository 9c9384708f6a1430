//! Dashboards, their members and share links, and the snapshot a page loads.
//! Ops (the widget changes) are in [`super::dashboard_ops`].

use protocol::dashboard::{
    DashboardEvent, DashboardInvitePreview, DashboardSummary, DashboardView, Role, Widget,
};
use protocol::{ChannelKind, ChannelName, EventEnvelope};
use sha2::Digest;
use sqlx::Row;

use super::events::{insert_event, next_seq};
use super::heads::LogHeads;
use super::{Backend, Store, StoreError, now_ms};

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The channel of dashboard `id`.
pub fn dashboard_channel(id: &str) -> Result<ChannelName, StoreError> {
    ChannelName::new(ChannelKind::Dashboard, id)
        .map_err(|e| StoreError::Corrupt(format!("dashboard id: {e}")))
}

fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Invite tokens are stored hashed: the table alone does not let anyone join.
fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn parse_role(value: &str) -> Result<Role, StoreError> {
    Role::parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown role `{value}`")))
}

/// Appends a dashboard event inside `tx`, taking the channel's next seq.
pub(super) async fn announce(
    tx: &mut Tx,
    heads: &LogHeads,
    channel: &ChannelName,
    event: &DashboardEvent,
) -> Result<EventEnvelope, StoreError> {
    let seq = next_seq(tx, heads, channel).await?;
    let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    insert_event(tx, channel.clone(), seq, payload).await
}

pub(super) async fn role_in(
    tx: &mut Tx,
    dashboard: &str,
    principal: &str,
) -> Result<Option<Role>, StoreError> {
    let row = sqlx::query("SELECT role FROM dashboard_members WHERE dashboard_id = $1 AND principal = $2")
        .bind(dashboard)
        .bind(principal)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|row| parse_role(&row.try_get::<String, _>("role")?)).transpose()
}

pub(super) const WIDGET_COLUMNS: &str = "id, kind, title, title_version, body, body_version, source, \
     source_version, x, y, pos_version, w, h, size_version";

pub(super) fn widget_from_row(row: &sqlx::any::AnyRow) -> Result<Widget, StoreError> {
    use protocol::dashboard::{MetricSource, Pos, Size, Versioned, WidgetKind};
    let int = |name: &str| -> Result<u64, StoreError> { Ok(row.try_get::<i64, _>(name)? as u64) };
    let small = |name: &str| -> Result<u32, StoreError> { Ok(row.try_get::<i64, _>(name)? as u32) };
    let kind: String = row.try_get("kind")?;
    let source: String = row.try_get("source")?;
    Ok(Widget {
        id: row.try_get("id")?,
        kind: WidgetKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("widget kind `{kind}`")))?,
        title: Versioned { value: row.try_get("title")?, version: int("title_version")? },
        body: Versioned { value: row.try_get("body")?, version: int("body_version")? },
        source: Versioned {
            value: MetricSource::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("source `{source}`")))?,
            version: int("source_version")?,
        },
        pos: Versioned { value: Pos { x: small("x")?, y: small("y")? }, version: int("pos_version")? },
        size: Versioned { value: Size { w: small("w")?, h: small("h")? }, version: int("size_version")? },
    })
}

/// The live widgets of a dashboard, inside `tx`.
pub(super) async fn live_widgets(tx: &mut Tx, dashboard: &str) -> Result<Vec<Widget>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {WIDGET_COLUMNS} FROM widgets WHERE dashboard_id = $1 AND deleted_version IS NULL"
    ))
    .bind(dashboard)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(widget_from_row).collect()
}

/// A share link that cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum DashboardInviteProblem {
    Unknown,
    Expired,
}

impl Store {
    /// Creates a dashboard owned by `principal`; the channel's log starts
    /// with the owner joining.
    pub async fn create_dashboard(
        &self,
        principal: &str,
        title: &str,
    ) -> Result<(String, EventEnvelope), StoreError> {
        let id = random_id();
        let channel = dashboard_channel(&id)?;
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO dashboards (id, title, version, created_by, created_at) VALUES ($1, $2, 0, $3, $4)",
        )
        .bind(&id)
        .bind(title)
        .bind(principal)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_member(&mut tx, &id, principal, Role::Owner, now).await?;
        let event =
            announce(&mut tx, &self.heads, &channel, &DashboardEvent::MemberJoined { role: Role::Owner })
                .await?;
        tx.commit().await?;
        Ok((id, event))
    }

    /// The principal's role on a dashboard, if a member.
    pub async fn dashboard_role(&self, dashboard: &str, principal: &str) -> Result<Option<Role>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let role = role_in(&mut tx, dashboard, principal).await?;
        tx.rollback().await?;
        Ok(role)
    }

    /// The principal's dashboards, newest first.
    pub async fn dashboards_of(&self, principal: &str) -> Result<Vec<DashboardSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.title, m.role, \
               (SELECT COUNT(*) FROM widgets w WHERE w.dashboard_id = d.id AND w.deleted_version IS NULL) AS widgets, \
               (SELECT COUNT(*) FROM dashboard_members o WHERE o.dashboard_id = d.id) AS members \
             FROM dashboard_members m JOIN dashboards d ON d.id = m.dashboard_id \
             WHERE m.principal = $1 ORDER BY d.created_at DESC, d.id",
        )
        .bind(principal)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DashboardSummary {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    role: parse_role(&row.try_get::<String, _>("role")?)?,
                    widgets: row.try_get::<i64, _>("widgets")? as u64,
                    members: row.try_get::<i64, _>("members")? as u64,
                })
            })
            .collect()
    }

    /// The dashboard as one consistent snapshot: its widgets exactly as of
    /// `head_seq` (one repeatable-read transaction), so a client that
    /// subscribes from there neither misses nor repeats a change. `None`
    /// when the principal is not a member.
    pub async fn dashboard_view(
        &self,
        dashboard: &str,
        principal: &str,
    ) -> Result<Option<DashboardView>, StoreError> {
        let channel = dashboard_channel(dashboard)?;
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
        }
        let Some(role) = role_in(&mut tx, dashboard, principal).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT d.title, d.version, h.last_seq, h.epoch FROM dashboards d \
             JOIN channel_heads h ON h.channel = $2 WHERE d.id = $1",
        )
        .bind(dashboard)
        .bind(channel.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let widgets = live_widgets(&mut tx, dashboard).await?;
        tx.rollback().await?;
        let mut view = DashboardView {
            id: dashboard.to_owned(),
            title: row.try_get("title")?,
            role,
            version: row.try_get::<i64, _>("version")? as u64,
            widgets,
            head_seq: row.try_get::<i64, _>("last_seq")? as u64,
            epoch: row.try_get("epoch")?,
        };
        view.widgets.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(view))
    }

    /// A share link for `role`, valid for `ttl_ms`.
    pub async fn create_dashboard_invite(
        &self,
        dashboard: &str,
        created_by: &str,
        role: Role,
        ttl_ms: i64,
    ) -> Result<(String, i64), StoreError> {
        let token = format!("{}{}", random_id(), random_id());
        let now = now_ms();
        let expires_at = now + ttl_ms;
        sqlx::query(
            "INSERT INTO dashboard_invites (token_hash, dashboard_id, role, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash(&token))
        .bind(dashboard)
        .bind(role.as_str())
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok((token, expires_at))
    }

    /// What a share link offers, and the visitor's current role there.
    pub async fn dashboard_invite(
        &self,
        token: &str,
        principal: &str,
    ) -> Result<Result<DashboardInvitePreview, DashboardInviteProblem>, StoreError> {
        let row = sqlx::query(
            "SELECT i.dashboard_id, i.role, i.expires_at, d.title, \
               (SELECT m.role FROM dashboard_members m WHERE m.dashboard_id = i.dashboard_id AND m.principal = $2) \
               AS member_as \
             FROM dashboard_invites i JOIN dashboards d ON d.id = i.dashboard_id WHERE i.token_hash = $1",
        )
        .bind(token_hash(token))
        .bind(principal)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(Err(DashboardInviteProblem::Unknown)) };
        if row.try_get::<i64, _>("expires_at")? <= now_ms() {
            return Ok(Err(DashboardInviteProblem::Expired));
        }
        Ok(Ok(DashboardInvitePreview {
            dashboard_id: row.try_get("dashboard_id")?,
            title: row.try_get("title")?,
            role: parse_role(&row.try_get::<String, _>("role")?)?,
            member_as: row.try_get::<Option<String>, _>("member_as")?.map(|r| parse_role(&r)).transpose()?,
        }))
    }

    /// Joins through a share link. A member keeps their role (a link never
    /// demotes, and an owner stays owner); the join is announced on the channel.
    pub async fn accept_dashboard_invite(
        &self,
        token: &str,
        principal: &str,
    ) -> Result<Result<(DashboardInvitePreview, Option<EventEnvelope>), DashboardInviteProblem>, StoreError>
    {
        let preview = match self.dashboard_invite(token, principal).await? {
            Ok(preview) => preview,
            Err(problem) => return Ok(Err(problem)),
        };
        if preview.member_as.is_some() {
            return Ok(Ok((preview, None)));
        }
        let channel = dashboard_channel(&preview.dashboard_id)?;
        let mut tx = self.pool().begin().await?;
        // Seq first: it serializes joins on this dashboard, so two accepts of
        // one person cannot both insert.
        let seq = next_seq(&mut tx, &self.heads, &channel).await?;
        if let Some(role) = role_in(&mut tx, &preview.dashboard_id, principal).await? {
            tx.rollback().await?;
            return Ok(Ok((DashboardInvitePreview { member_as: Some(role), ..preview }, None)));
        }
        insert_member(&mut tx, &preview.dashboard_id, principal, preview.role, now_ms()).await?;
        let payload = serde_json::to_value(DashboardEvent::MemberJoined { role: preview.role })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = insert_event(&mut tx, channel, seq, payload).await?;
        tx.commit().await?;
        let role = preview.role;
        Ok(Ok((DashboardInvitePreview { member_as: Some(role), ..preview }, Some(event))))
    }
}

async fn insert_member(
    tx: &mut Tx,
    dashboard: &str,
    principal: &str,
    role: Role,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO dashboard_members (dashboard_id, principal, role, joined_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(dashboard)
    .bind(principal)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
