//! The tables of content items, invitations (with their email delivery) and meetings: the effects
//! of their events inside the commit transaction, loading them into a room's state, and the
//! queries the mailer and the invitation links need.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::domain::content::{ContentItem, ContentKind, FileInfo};
use crate::domain::event::Event;
use crate::domain::invitation::Invitation;
use crate::domain::meeting::Meeting;
use crate::domain::room::Role;
use crate::ids::{ContentId, InvitationId, MeetingId, RoomId};

fn parse<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {raw:?}")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Applies the table changes of a content, invitation or meeting event; `false` if `event` is
/// none of those.
pub(super) async fn write_effect(
    conn: &mut AnyConnection,
    stream: RoomId,
    event: &Event,
    at: i64,
) -> Result<bool, StoreError> {
    match event {
        Event::ContentAdded { item, .. } => {
            let file = item.file.as_ref();
            sqlx::query(
                "INSERT INTO content (id, room_id, kind, title, file_name, content_type, size, sha256, url, \
                 created_by, created_by_name, created_at, promoted_from, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(item.id.to_string())
            .bind(item.room_id.to_string())
            .bind(item.kind.as_str())
            .bind(item.title.clone())
            .bind(file.map(|f| f.name.clone()))
            .bind(file.map(|f| f.content_type.clone()))
            .bind(file.map(|f| f.size as i64))
            .bind(file.map(|f| f.sha256.clone()))
            .bind(item.url.clone())
            .bind(item.created_by.to_string())
            .bind(item.created_by_name.clone())
            .bind(item.created_at)
            .bind(item.promoted_from.as_ref().map(json).transpose()?)
            .bind(file.and_then(|f| f.duration_ms).map(|d| d as i64))
            .execute(&mut *conn)
            .await?;
        }
        Event::ContentDeleted { id, .. } => {
            sqlx::query("DELETE FROM content WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Event::ContentShared { id, rooms, .. } => {
            sqlx::query("DELETE FROM content_shares WHERE item_id = $1")
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
            for room in rooms {
                sqlx::query("INSERT INTO content_shares (item_id, room_id) VALUES ($1, $2)")
                    .bind(id.to_string())
                    .bind(room.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::InvitationsCreated { invitations, .. } => {
            // A CSV import may invite thousands at once: a few multi-row statements.
            for chunk in invitations.chunks(super::rows::CHUNK / 2) {
                let rows: Vec<[String; 11]> = chunk
                    .iter()
                    .map(|i| {
                        [
                            i.id.to_string(),
                            stream.to_string(),
                            i.room_id.to_string(),
                            i.email.clone(),
                            i.role.as_str().to_owned(),
                            i64::from(i.external).to_string(),
                            i.invited_by.to_string(),
                            i.invited_by_name.clone(),
                            i.created_at.to_string(),
                            i.expires_at.to_string(),
                            at.to_string(),
                        ]
                    })
                    .collect();
                super::rows::insert_rows(
                    conn,
                    "INSERT INTO invitations (id, main_id, room_id, email, role, external, invited_by, \
                     invited_by_name, created_at, expires_at, mail_next_at)",
                    &rows,
                    &[5, 8, 9, 10],
                )
                .await?;
            }
        }
        Event::InvitationClosed {
            id, accepted_by, ..
        } => {
            let status = if accepted_by.is_some() {
                "accepted"
            } else {
                "revoked"
            };
            // Only a pending invitation closes: a second acceptance racing the first fails here.
            let done = sqlx::query(
                "UPDATE invitations SET status = $1, accepted_by = $2, closed_at = $3 \
                 WHERE id = $4 AND status = 'pending'",
            )
            .bind(status)
            .bind(accepted_by.map(|p| p.to_string()))
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("invitation"));
            }
        }
        Event::MeetingScheduled { meeting: m, .. } => {
            sqlx::query(
                "INSERT INTO meetings (id, room_id, title, description, starts_at, duration_mins, \
                 created_by, created_by_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(m.id.to_string())
            .bind(m.room_id.to_string())
            .bind(m.title.clone())
            .bind(m.description.clone())
            .bind(m.starts_at)
            .bind(i64::from(m.duration_mins))
            .bind(m.created_by.to_string())
            .bind(m.created_by_name.clone())
            .bind(m.created_at)
            .execute(&mut *conn)
            .await?;
        }
        Event::MeetingCancelled { id, .. } => {
            sqlx::query("DELETE FROM meetings WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn item_from(row: &AnyRow) -> Result<ContentItem, StoreError> {
    let kind: String = row.try_get("kind")?;
    let kind = ContentKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("content kind: {kind:?}")))?;
    let file = match row.try_get::<Option<String>, _>("sha256")? {
        Some(sha256) => Some(FileInfo {
            name: row
                .try_get::<Option<String>, _>("file_name")?
                .unwrap_or_default(),
            content_type: row
                .try_get::<Option<String>, _>("content_type")?
                .unwrap_or_default(),
            size: row.try_get::<Option<i64>, _>("size")?.unwrap_or(0) as u64,
            sha256,
            duration_ms: row
                .try_get::<Option<i64>, _>("duration_ms")?
                .map(|d| d as u64),
        }),
        None => None,
    };
    let promoted: Option<String> = row.try_get("promoted_from")?;
    Ok(ContentItem {
        id: parse("content id", &row.try_get::<String, _>("id")?)?,
        room_id: parse("room id", &row.try_get::<String, _>("room_id")?)?,
        kind,
        title: row.try_get("title")?,
        file,
        url: row.try_get("url")?,
        created_by: parse("person id", &row.try_get::<String, _>("created_by")?)?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: row.try_get("created_at")?,
        promoted_from: promoted
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("promoted_from: {e}")))?,
        shared_with: Vec::new(),
    })
}

fn invitation_from(row: &AnyRow) -> Result<Invitation, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(Invitation {
        id: parse("invitation id", &row.try_get::<String, _>("id")?)?,
        room_id: parse("room id", &row.try_get::<String, _>("room_id")?)?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role: {role:?}")))?,
        external: row.try_get::<i64, _>("external")? != 0,
        invited_by: parse("person id", &row.try_get::<String, _>("invited_by")?)?,
        invited_by_name: row.try_get("invited_by_name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn meeting_from(row: &AnyRow) -> Result<Meeting, StoreError> {
    Ok(Meeting {
        id: parse("meeting id", &row.try_get::<String, _>("id")?)?,
        room_id: parse("room id", &row.try_get::<String, _>("room_id")?)?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        starts_at: row.try_get("starts_at")?,
        duration_mins: row.try_get::<i64, _>("duration_mins")? as u32,
        created_by: parse("person id", &row.try_get::<String, _>("created_by")?)?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// What a main room and its breakout rooms hold: content, pending invitations, meetings.
pub(super) struct Loaded {
    pub content: BTreeMap<ContentId, ContentItem>,
    pub invitations: BTreeMap<InvitationId, Invitation>,
    pub meetings: BTreeMap<MeetingId, Meeting>,
}

/// Loads what the rooms of stream `main` hold.
pub(super) async fn load(conn: &mut AnyConnection, main: RoomId) -> Result<Loaded, StoreError> {
    let id = main.to_string();
    let in_stream = "(SELECT id FROM rooms WHERE id = $1 OR parent_id = $1)";
    let mut content = BTreeMap::new();
    let sql = format!("SELECT * FROM content WHERE room_id IN {in_stream}");
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?
    {
        let item = item_from(&row)?;
        content.insert(item.id, item);
    }
    let sql = format!(
        "SELECT s.item_id, s.room_id FROM content_shares s JOIN content c ON c.id = s.item_id \
         WHERE c.room_id IN {in_stream}"
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?
    {
        let item: ContentId = parse("content id", &row.try_get::<String, _>("item_id")?)?;
        let room: RoomId = parse("room id", &row.try_get::<String, _>("room_id")?)?;
        if let Some(item) = content.get_mut(&item) {
            item.shared_with.push(room);
        }
    }
    for item in content.values_mut() {
        item.shared_with.sort();
    }
    let mut invitations = BTreeMap::new();
    for row in sqlx::query("SELECT * FROM invitations WHERE main_id = $1 AND status = 'pending'")
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?
    {
        let invitation = invitation_from(&row)?;
        invitations.insert(invitation.id, invitation);
    }
    let mut meetings = BTreeMap::new();
    let sql = format!("SELECT * FROM meetings WHERE room_id IN {in_stream}");
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
    {
        let meeting = meeting_from(&row)?;
        meetings.insert(meeting.id, meeting);
    }
    Ok(Loaded {
        content,
        invitations,
        meetings,
    })
}

/// An invitation with its state and the delivery of its email.
#[derive(Clone, Debug)]
pub struct InvitationRecord {
    /// The invitation.
    pub invitation: Invitation,
    /// Its main room.
    pub main_id: RoomId,
    /// `pending`, `accepted` or `revoked`.
    pub status: String,
    /// Who accepted it.
    pub accepted_by: Option<String>,
    /// `queued`, `sent`, `retrying` or `failed`.
    pub mail_status: String,
    /// Delivery attempts so far.
    pub mail_attempts: u32,
    /// The last delivery error.
    pub mail_error: Option<String>,
    /// When the next attempt is due.
    pub mail_next_at: Option<i64>,
    /// When the email went out.
    pub mail_sent_at: Option<i64>,
}

/// Reads an invitation row.
pub(super) fn record_from(row: &AnyRow) -> Result<InvitationRecord, StoreError> {
    Ok(InvitationRecord {
        invitation: invitation_from(row)?,
        main_id: parse("room id", &row.try_get::<String, _>("main_id")?)?,
        status: row.try_get("status")?,
        accepted_by: row.try_get("accepted_by")?,
        mail_status: row.try_get("mail_status")?,
        mail_attempts: row.try_get::<i64, _>("mail_attempts")? as u32,
        mail_error: row.try_get("mail_error")?,
        mail_next_at: row.try_get("mail_next_at")?,
        mail_sent_at: row.try_get("mail_sent_at")?,
    })
}
