//! The `stays` table: the session report's rows, a person's stay in a room of a main room (or in
//! its call, waiting for help, …: `domain::report::Kind`), written when it ends, in batches by the
//! room's actor, off the path of its commands; read back by time window. Checkpoints of the stays
//! under way (`under_way = 1`) are written too, so that a crash loses at most the time since the
//! last one.

use sqlx::{AnyPool, Row};

use super::StoreError;
use super::rows::insert_rows;
use super::rows::parse;
use crate::domain::report::{Kind, Stay};
use crate::ids::RoomId;

pub use crate::domain::report::StayRow;

/// Rows of `stays` as `insert_rows` takes them.
fn values(main: RoomId, rows: &[StayRow], open: bool) -> Vec<[String; 9]> {
    rows.iter()
        .map(|r| {
            [
                main.to_string(),
                r.stay.person_id.to_string(),
                r.stay.room_id.to_string(),
                r.room_name.clone(),
                r.stay.from.to_string(),
                r.stay.to.to_string(),
                r.stay.kind.as_str().to_owned(),
                r.detail.clone(),
                i32::from(open).to_string(),
            ]
        })
        .collect()
}

const INSERT: &str = "INSERT INTO stays \
    (main_id, person_id, room_id, room_name, started_at, ended_at, kind, detail, under_way)";

/// Writes the ended stays `rows` of main room `main`; with `open`, replaces the checkpoint of the
/// stays under way by it; and deletes the rows that ended before `forget_before`.
pub(super) async fn record(
    pool: &AnyPool,
    main: RoomId,
    rows: &[StayRow],
    open: Option<&[StayRow]>,
    forget_before: i64,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    insert_rows(&mut tx, INSERT, &values(main, rows, false), &[4, 5, 8]).await?;
    if let Some(open) = open {
        sqlx::query("DELETE FROM stays WHERE main_id = $1 AND under_way = 1")
            .bind(main.to_string())
            .execute(&mut *tx)
            .await?;
        insert_rows(&mut tx, INSERT, &values(main, open, true), &[4, 5, 8]).await?;
    }
    sqlx::query("DELETE FROM stays WHERE main_id = $1 AND ended_at < $2")
        .bind(main.to_string())
        .bind(forget_before)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the checkpoint of a room's stays final: they were under way when the room's last actor
/// stopped without closing them (a crash, a node lost). A checkpointed stay that was closed and
/// written since is dropped: the closed row has it whole.
pub(super) async fn settle(pool: &AnyPool, main: RoomId) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // A set lookup (both backends build it once), not a correlated subquery: that scanned the
    // room's rows for each checkpointed stay (55 s for 10,000 people on SQLite).
    sqlx::query(
        "DELETE FROM stays WHERE main_id = $1 AND under_way = 1 \
         AND (person_id, kind, started_at) IN (\
           SELECT person_id, kind, started_at FROM stays WHERE main_id = $1 AND under_way = 0)",
    )
    .bind(main.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE stays SET under_way = 0 WHERE main_id = $1 AND under_way = 1")
        .bind(main.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The stays of `main` that overlap `[from, to)`, by start (not the checkpoint of those under
/// way: the room's actor has them).
pub(super) async fn between(
    pool: &AnyPool,
    main: RoomId,
    from: i64,
    to: i64,
) -> Result<Vec<StayRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT person_id, room_id, room_name, started_at, ended_at, kind, detail FROM stays \
         WHERE main_id = $1 AND under_way = 0 AND ended_at >= $2 AND started_at < $3 \
         ORDER BY started_at, person_id",
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
            let kind: String = row.try_get("kind")?;
            // A kind this version does not know is an error, never room time.
            let kind = Kind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("kind of stay {kind:?}")))?;
            Ok(StayRow {
                stay: Stay {
                    kind,
                    person_id: parse("person id", &person)?,
                    room_id: parse("room id", &room)?,
                    from: row.try_get("started_at")?,
                    to: row.try_get("ended_at")?,
                },
                room_name: row.try_get("room_name")?,
                detail: row.try_get("detail")?,
            })
        })
        .collect()
}
