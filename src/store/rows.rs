//! Row helpers below every table's module: decoding columns into domain values (with
//! [`StoreError::Corrupt`] naming what did not parse), a unique violation as a conflict, and
//! multi-row inserts in statements each backend accepts.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Person, StoreError};
use crate::domain::Role;
use crate::domain::room::{Event, Message, MessageKind, RoomInfo};
use crate::ids::{MessageId, RoomId};

/// Rows of `seq` and `payload`, as numbered events.
pub(super) fn decode_rows(rows: &[AnyRow]) -> Result<Vec<(u64, Event)>, StoreError> {
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let payload: String = row.try_get("payload")?;
        let event = super::codec::decode(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
        events.push((seq as u64, event));
    }
    Ok(events)
}

pub(super) fn parse<T: FromStr>(what: &str, raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {raw:?}")))
}

pub(super) fn role(raw: &str) -> Result<Role, StoreError> {
    Role::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("role: {raw:?}")))
}

pub(super) fn person_from(row: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: parse("person id", &row.try_get::<String, _>("id")?)?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        is_guest: row.try_get::<i64, _>("is_guest")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn room_from(row: &AnyRow) -> Result<RoomInfo, StoreError> {
    let parent: Option<String> = row.try_get("parent_id")?;
    Ok(RoomInfo {
        id: parse("room id", &row.try_get::<String, _>("id")?)?,
        parent_id: parent.map(|p| parse("room id", &p)).transpose()?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A chat message of `room` read from `messages`, or from `broadcast_messages` (a row that has
/// `targets`; `None` when they do not name the room after all).
pub(super) fn message_from(
    room: RoomId,
    row: &AnyRow,
) -> Result<Option<(u64, Message)>, StoreError> {
    let id = match row.try_get::<Option<String>, _>("targets")? {
        Some(targets) => {
            let targets: HashMap<RoomId, MessageId> = serde_json::from_str(&targets)
                .map_err(|e| StoreError::Corrupt(format!("broadcast targets: {e}")))?;
            match targets.get(&room) {
                Some(id) => *id,
                None => return Ok(None),
            }
        }
        None => parse::<MessageId>("message id", &row.try_get::<String, _>("id")?)?,
    };
    let author: Option<String> = row.try_get("author_id")?;
    let kind = match row.try_get::<String, _>("kind")?.as_str() {
        "user" => MessageKind::User,
        "system" => MessageKind::System,
        "broadcast" => MessageKind::Broadcast,
        other => return Err(StoreError::Corrupt(format!("message kind: {other:?}"))),
    };
    let seq: i64 = row.try_get("seq")?;
    Ok(Some((
        seq as u64,
        Message {
            id,
            room_id: room,
            author_id: author.map(|a| parse("person id", &a)).transpose()?,
            author_name: row.try_get("author_name")?,
            kind,
            text: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
        },
    )))
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(super) fn unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// Rows per multi-row `INSERT` (3 parameters each keeps well under every backend's limit).
pub(super) const CHUNK: usize = 400;

/// One multi-row `INSERT … VALUES (…), (…)` of string values; the columns whose index is in
/// `integers` are cast to integers by the database.
pub(super) async fn insert_rows<const N: usize>(
    conn: &mut AnyConnection,
    head: &'static str,
    rows: &[[String; N]],
    integers: &[usize],
) -> Result<(), StoreError> {
    let sqlite = conn.backend_name() == "SQLite";
    let most = if sqlite {
        (SQLITE_PARAMETERS / N).max(1)
    } else {
        (POSTGRES_PARAMETERS / N).max(1)
    };
    for part in rows.chunks(most) {
        insert_statement(&mut *conn, head, part, integers, sqlite).await?;
    }
    Ok(())
}

/// Parameters per multi-row statement on SQLite (its limit is 32,766).
const SQLITE_PARAMETERS: usize = 256;

/// Most parameters of one PostgreSQL statement (its protocol counts them in 16 bits): 10,000
/// stays of 9 columns are two statements.
const POSTGRES_PARAMETERS: usize = 65_535;

/// One statement of [`insert_rows`]. On SQLite the placeholders are anonymous (`?`): SQLite
/// finds the number of a named one (`$7`) by a scan over all the statement's names, which
/// sqlx does for every parameter it binds, so binding `$n` grows with the square of the
/// parameters (300 chat messages in statements of 256: 2 ms of the worker's CPU in that scan).
async fn insert_statement<const N: usize>(
    conn: &mut AnyConnection,
    head: &'static str,
    rows: &[[String; N]],
    integers: &[usize],
    sqlite: bool,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for (r, _) in rows.iter().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..N {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            let placeholder = if sqlite {
                "?".to_owned()
            } else {
                format!("${n}")
            };
            if integers.contains(&c) {
                sql.push_str(&format!("CAST({placeholder} AS BIGINT)"));
            } else {
                sql.push_str(&placeholder);
            }
        }
        sql.push(')');
    }
    // Only placeholders are generated here; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for value in row {
            query = query.bind(value.clone());
        }
    }
    query.execute(conn).await?;
    Ok(())
}
