//! The `recordings` table: the effects of recording events inside the commit transaction, the
//! recordings in progress of a room (for its state), and the queries of the composing jobs.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::domain::content::ContentKind;
use crate::domain::event::Event;
use crate::domain::recording::{Recording, RecordingEnd};
use crate::ids::{PersonId, RecordingId, RoomId};

/// A recording as stored, with where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    /// The recording.
    pub recording: Recording,
    /// Its main room.
    pub main_id: RoomId,
    /// When it stopped (`None`: still recording, or Huddle stopped while it was).
    pub stopped_at: Option<i64>,
    /// Why it stopped.
    pub stop_reason: Option<RecordingEnd>,
    /// Its composed file is a content item.
    pub composed: bool,
    /// Why composing failed, if it did.
    pub error: Option<String>,
    /// The node that claimed the job of composing it (in a cluster).
    pub composer: Option<String>,
}

fn parse<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {raw:?}")))
}

fn reason_name(reason: RecordingEnd) -> Result<String, StoreError> {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(StoreError::Corrupt("recording stop reason".into())),
    }
}

fn row_from(row: &AnyRow) -> Result<RecordingRow, StoreError> {
    let reason: Option<String> = row.try_get("stop_reason")?;
    Ok(RecordingRow {
        recording: Recording {
            id: parse("recording id", &row.try_get::<String, _>("id")?)?,
            room_id: parse("room id", &row.try_get::<String, _>("room_id")?)?,
            started_by: parse("person id", &row.try_get::<String, _>("started_by")?)?,
            started_by_name: row.try_get("started_by_name")?,
            started_at: row.try_get("started_at")?,
        },
        main_id: parse("room id", &row.try_get::<String, _>("main_id")?)?,
        stopped_at: row.try_get("stopped_at")?,
        stop_reason: reason
            .map(|r| {
                serde_json::from_value(serde_json::Value::String(r.clone()))
                    .map_err(|_| StoreError::Corrupt(format!("stop reason {r:?}")))
            })
            .transpose()?,
        composed: row.try_get::<i64, _>("composed")? != 0,
        error: row.try_get("error")?,
        composer: row.try_get("composer")?,
    })
}

/// Applies the table changes of a recording event (and marks a recording composed when its item
/// is added); `false` if `event` is none of those.
pub(super) async fn write_effect(
    conn: &mut AnyConnection,
    stream: RoomId,
    event: &Event,
) -> Result<bool, StoreError> {
    match event {
        Event::RecordingStarted { recording: r, .. } => {
            sqlx::query(
                "INSERT INTO recordings (id, main_id, room_id, started_by, started_by_name, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.id.to_string())
            .bind(stream.to_string())
            .bind(r.room_id.to_string())
            .bind(r.started_by.to_string())
            .bind(r.started_by_name.clone())
            .bind(r.started_at)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        Event::RecordingStopped {
            recording,
            reason,
            stopped_at,
            ..
        } => {
            sqlx::query("UPDATE recordings SET stopped_at = $1, stop_reason = $2 WHERE id = $3")
                .bind(*stopped_at)
                .bind(reason_name(*reason)?)
                .bind(recording.id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        Event::ContentAdded { item, .. } if item.kind == ContentKind::Recording => {
            // A composed recording's item has the recording's id; an uploaded one matches none.
            sqlx::query("UPDATE recordings SET composed = 1 WHERE id = $1")
                .bind(item.id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// The recordings in progress in the rooms of stream `main`, by room.
pub(super) async fn load(
    conn: &mut AnyConnection,
    main: RoomId,
) -> Result<BTreeMap<RoomId, Recording>, StoreError> {
    let rows = sqlx::query("SELECT * FROM recordings WHERE main_id = $1 AND stopped_at IS NULL")
        .bind(main.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| row_from(row).map(|r| (r.recording.room_id, r.recording)))
        .collect()
}

/// Main rooms with a recording that never stopped (Huddle stopped while it ran).
pub(super) async fn open_streams(conn: &mut AnyConnection) -> Result<Vec<RoomId>, StoreError> {
    let rows = sqlx::query("SELECT DISTINCT main_id FROM recordings WHERE stopped_at IS NULL")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| parse("room id", &r.try_get::<String, _>("main_id")?))
        .collect()
}

/// Recordings stopped but not yet composed (nor failed), oldest first.
pub(super) async fn jobs(conn: &mut AnyConnection) -> Result<Vec<RecordingRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM recordings WHERE stopped_at IS NOT NULL AND composed = 0 AND error IS NULL \
         ORDER BY stopped_at",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(row_from).collect()
}

/// Claims the job of composing recording `id` for `node`: it is still to do, and nobody else
/// alive (a heartbeat at or after `alive_since`) claimed it. Whether `node` has it now.
pub(super) async fn claim(
    conn: &mut AnyConnection,
    id: RecordingId,
    node: &str,
    alive_since: i64,
) -> Result<bool, StoreError> {
    let claimed = sqlx::query(
        "UPDATE recordings SET composer = $1 \
         WHERE id = $2 AND composed = 0 AND error IS NULL \
           AND (composer IS NULL OR composer = $1 \
                OR composer NOT IN (SELECT node_id FROM nodes WHERE seen_at >= $3))",
    )
    .bind(node.to_owned())
    .bind(id.to_string())
    .bind(alive_since)
    .execute(&mut *conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// The latest recordings of stream `main` (at most `limit`), newest first.
pub(super) async fn of_stream(
    conn: &mut AnyConnection,
    main: RoomId,
    limit: usize,
) -> Result<Vec<RecordingRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM recordings WHERE main_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(main.to_string())
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(row_from).collect()
}

/// Notes why a recording could not be composed (it is not tried again).
pub(super) async fn failed(
    conn: &mut AnyConnection,
    id: RecordingId,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE recordings SET error = $1 WHERE id = $2")
        .bind(error.to_owned())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Bytes the composed recordings take in the file store (each stored file once).
pub(super) async fn stored_bytes(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM \
         (SELECT DISTINCT sha256, size FROM content WHERE kind = 'recording') AS files",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>("total")?.max(0) as u64)
}

/// Recordings under way that `person` started, in every room.
pub(super) async fn under_way_by(
    conn: &mut AnyConnection,
    person: PersonId,
) -> Result<usize, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM recordings WHERE started_by = $1 AND stopped_at IS NULL",
    )
    .bind(person.to_string())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")?.max(0) as usize)
}
