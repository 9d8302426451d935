//! The `stays` table: the session report's rows, a person's stay in a room of a main room, written
//! when it ends (see `domain::report`). Written in batches by the room's actor, off the path of
//! its commands; read back by time window.

use sqlx::{AnyPool, Row};

use super::StoreError;
use super::effects::insert_rows;
use super::sql::parse;
use crate::domain::report::Stay;
use crate::ids::RoomId;

/// A stay as stored, with the room's name when it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayRow {
    /// The stay.
    pub stay: Stay,
    /// The room's name.
    pub room_name: String,
}

/// Writes `rows` of main room `main`, and deletes its rows that ended before `forget_before`.
pub(super) async fn record(
    pool: &AnyPool,
    main: RoomId,
    rows: &[StayRow],
    forget_before: i64,
) -> Result<(), StoreError> {
    let values: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                main.to_string(),
                r.stay.person_id.to_string(),
                r.stay.room_id.to_string(),
                r.room_name.clone(),
                r.stay.from.to_string(),
                r.stay.to.to_string(),
            ]
        })
        .collect();
    let mut tx = pool.begin().await?;
    insert_rows(
        &mut tx,
        "INSERT INTO stays (main_id, person_id, room_id, room_name, started_at, ended_at)",
        &values,
        &[4, 5],
    )
    .await?;
    sqlx::query("DELETE FROM stays WHERE main_id = $1 AND ended_at < $2")
        .bind(main.to_string())
        .bind(forget_before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The stays of `main` that overlap `[from, to)`, by start.
pub(super) async fn between(
    pool: &AnyPool,
    main: RoomId,
    from: i64,
    to: i64,
) -> Result<Vec<StayRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT person_id, room_id, room_name, started_at, ended_at FROM stays \
         WHERE main_id = $1 AND ended_at > $2 AND started_at < $3 ORDER BY started_at, person_id",
    )
    .bind(main.to_string())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let person: String = row.try_get("person_id")?;
            let room: String = row.try_get("room_id")?;
            Ok(StayRow {
                stay: Stay {
                    person_id: parse("person id", &person)?,
                    room_id: parse("room id", &room)?,
                    from: row.try_get("started_at")?,
                    to: row.try_get("ended_at")?,
                },
                room_name: row.try_get("room_name")?,
            })
        })
        .collect()
}
