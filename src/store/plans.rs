//! What a moderator plans rounds with: the `breakout_plans` table, a main room's group plans, each
//! a row whose `rooms` column holds the plan's rooms and people as JSON (see `domain::plan`; plans
//! are not events: editing one changes nothing anyone else sees, so it is a plain row, deleted
//! with its main room); and the `breakout_rounds` table, the rounds that ended, which the rotation
//! planner reads to know who already met.

use sqlx::{AnyPool, Row};

use super::StoreError;
use super::rows::parse;
use crate::domain::plan::{GroupPlan, MAX_PLANS, PlanRoom};
use crate::domain::rotation::PastRound;
use crate::ids::{PersonId, PlanId, RoomId};

/// A unique-name violation is `Conflict("plan name")`.
fn name_taken(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict("plan name"),
        _ => StoreError::Database(e),
    }
}

fn rooms_json(rooms: &[PlanRoom]) -> Result<String, StoreError> {
    serde_json::to_string(rooms).map_err(|e| StoreError::Corrupt(format!("plan rooms: {e}")))
}

pub(super) async fn list(pool: &AnyPool, main: RoomId) -> Result<Vec<GroupPlan>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, rooms, created_at, updated_at FROM breakout_plans \
         WHERE main_id = $1 ORDER BY name, id",
    )
    .bind(main.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let rooms: String = row.try_get("rooms")?;
            Ok(GroupPlan {
                id: parse("plan id", &id)?,
                name: row.try_get("name")?,
                rooms: serde_json::from_str(&rooms)
                    .map_err(|e| StoreError::Corrupt(format!("plan rooms: {e}")))?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Inserts a plan unless the main room already has [`MAX_PLANS`] (`Conflict("plans")`) or one of
/// that name (`Conflict("plan name")`). The count and the insert are one statement.
pub(super) async fn create(
    pool: &AnyPool,
    main: RoomId,
    plan: &GroupPlan,
    by: PersonId,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO breakout_plans (id, main_id, name, rooms, created_by, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7 \
         WHERE (SELECT COUNT(*) FROM breakout_plans WHERE main_id = $8) < $9",
    )
    .bind(plan.id.to_string())
    .bind(main.to_string())
    .bind(&plan.name)
    .bind(rooms_json(&plan.rooms)?)
    .bind(by.to_string())
    .bind(plan.created_at)
    .bind(plan.updated_at)
    .bind(main.to_string())
    .bind(MAX_PLANS as i64)
    .execute(pool)
    .await
    .map_err(name_taken)?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict("plans"));
    }
    Ok(())
}

/// Replaces a plan's name and rooms; false if the main room has no such plan.
pub(super) async fn update(
    pool: &AnyPool,
    main: RoomId,
    plan: &GroupPlan,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE breakout_plans SET name = $1, rooms = $2, updated_at = $3 \
         WHERE id = $4 AND main_id = $5",
    )
    .bind(&plan.name)
    .bind(rooms_json(&plan.rooms)?)
    .bind(plan.updated_at)
    .bind(plan.id.to_string())
    .bind(main.to_string())
    .execute(pool)
    .await
    .map_err(name_taken)?;
    Ok(updated.rows_affected() > 0)
}

/// Deletes a plan; false if the main room had no such plan.
pub(super) async fn delete(pool: &AnyPool, main: RoomId, id: PlanId) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM breakout_plans WHERE id = $1 AND main_id = $2")
        .bind(id.to_string())
        .bind(main.to_string())
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The rounds of `main` that ended at or after `since`, oldest first.
pub(super) async fn rounds(
    pool: &AnyPool,
    main: RoomId,
    since: i64,
) -> Result<Vec<PastRound>, StoreError> {
    let rows = sqlx::query(
        "SELECT round, started_at, ended_at, assignments FROM breakout_rounds \
         WHERE main_id = $1 AND ended_at >= $2 ORDER BY round",
    )
    .bind(main.to_string())
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let snapshot: String = row.try_get("assignments")?;
            let by_room: std::collections::BTreeMap<String, Vec<String>> =
                serde_json::from_str(&snapshot)
                    .map_err(|e| StoreError::Corrupt(format!("round snapshot: {e}")))?;
            let rooms = by_room
                .into_iter()
                .map(|(room, people)| {
                    let people = people
                        .iter()
                        .map(|p| parse::<PersonId>("person id", p))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((parse::<RoomId>("room id", &room)?, people))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(PastRound {
                round: row.try_get::<i64, _>("round")? as u32,
                started_at: row.try_get("started_at")?,
                ended_at: row.try_get("ended_at")?,
                rooms,
            })
        })
        .collect()
}
