//! How each event changes the tables. Called inside the commit transaction, in event order, so a
//! command's effects are stored all together or not at all.

use sqlx::AnyConnection;

use super::StoreError;
use super::rows::{CHUNK, insert_rows};
use crate::domain::room::{Event, Message};
use crate::ids::RoomId;

/// Applies one event (number `seq` of stream `stream`, committed at `at`) to the tables.
pub(super) async fn write_effect(
    conn: &mut AnyConnection,
    stream: RoomId,
    seq: u64,
    event: &Event,
    at: i64,
    snapshot: Option<&str>,
) -> Result<(), StoreError> {
    if super::recordings::write_effect(conn, stream, event).await?
        || super::collab::write_effect(conn, stream, event, at).await?
    {
        return Ok(());
    }
    let main = stream.to_string();
    match event {
        Event::RoomCreated { room, info } => {
            sqlx::query(
                "INSERT INTO rooms (id, parent_id, name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(room.to_string())
            .bind(info.parent_id.map(|p| p.to_string()))
            .bind(info.name.clone())
            .bind(info.created_at)
            .execute(&mut *conn)
            .await?;
            if info.parent_id.is_none() {
                sqlx::query("INSERT INTO breakout_sessions (room_id, config) VALUES ($1, '{}')")
                    .bind(room.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::RoomRenamed { room, name } => {
            sqlx::query("UPDATE rooms SET name = $1 WHERE id = $2")
                .bind(name.clone())
                .bind(room.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Event::RoomDeleted { room } => {
            for sql in [
                "DELETE FROM rooms WHERE id = $1",
                "DELETE FROM stream_owners WHERE stream_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(room.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::MemberAdded { room, member } => {
            sqlx::query(
                "INSERT INTO members (room_id, person_id, role, joined_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(room.to_string())
            .bind(member.person_id.to_string())
            .bind(member.role.as_str())
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        Event::MembersAdded { room, members } => {
            for chunk in members.chunks(CHUNK) {
                let rows: Vec<[String; 4]> = chunk
                    .iter()
                    .map(|m| {
                        [
                            room.to_string(),
                            m.person_id.to_string(),
                            m.role.as_str().to_owned(),
                            at.to_string(),
                        ]
                    })
                    .collect();
                insert_rows(
                    conn,
                    "INSERT INTO members (room_id, person_id, role, joined_at)",
                    &rows,
                    &[3],
                )
                .await?;
            }
        }
        Event::RoleChanged {
            room,
            person_id,
            role,
        } => {
            sqlx::query("UPDATE members SET role = $1 WHERE room_id = $2 AND person_id = $3")
                .bind(role.as_str())
                .bind(room.to_string())
                .bind(person_id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Event::MemberRemoved { room, person_id } => {
            sqlx::query("DELETE FROM members WHERE room_id = $1 AND person_id = $2")
                .bind(room.to_string())
                .bind(person_id.to_string())
                .execute(&mut *conn)
                .await?;
            if *room == stream {
                // Leaving the main room ends the assignment, also one in the snapshot.
                override_assignment(conn, &main, *person_id, None).await?;
            }
        }
        Event::MessagePosted { message, .. } => insert_message(conn, seq, message).await?,
        Event::Broadcast {
            from,
            from_name,
            text,
            messages,
            ..
        } => {
            // Stored once for all its rooms (see migration 0008), not as a row per room.
            let Some(first) = messages.first() else {
                return Ok(());
            };
            let targets: std::collections::BTreeMap<String, String> = messages
                .iter()
                .map(|m| (m.room_id.to_string(), m.id.to_string()))
                .collect();
            let targets =
                serde_json::to_string(&targets).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO broadcast_messages \
                 (main_id, seq, author_id, author_name, body, created_at, targets) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(main.clone())
            .bind(seq as i64)
            .bind(from.to_string())
            .bind(from_name.clone())
            .bind(text.clone())
            .bind(first.created_at)
            .bind(targets)
            .execute(&mut *conn)
            .await?;
        }
        Event::BreakoutConfigured {
            config, ends_at, ..
        } => {
            let config =
                serde_json::to_string(config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "UPDATE breakout_sessions SET config = $1, \
                 ends_at = CASE WHEN status = 'running' THEN $2 ELSE ends_at END WHERE room_id = $3",
            )
            .bind(config)
            .bind(*ends_at)
            .bind(main)
            .execute(&mut *conn)
            .await?;
        }
        Event::BreakoutRoomsCreated { rooms, .. } => {
            for chunk in rooms.chunks(CHUNK) {
                let rows: Vec<[String; 4]> = chunk
                    .iter()
                    .map(|r| {
                        [
                            r.id.to_string(),
                            main.clone(),
                            r.name.clone(),
                            r.created_at.to_string(),
                        ]
                    })
                    .collect();
                // created_at goes in as text and is cast back, so every column binds as a string.
                insert_rows(
                    conn,
                    "INSERT INTO rooms (id, parent_id, name, created_at)",
                    &rows,
                    &[3],
                )
                .await?;
            }
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            for room in rooms {
                sqlx::query("DELETE FROM rooms WHERE id = $1 AND parent_id = $2")
                    .bind(room.to_string())
                    .bind(main.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::Assigned {
            person_id,
            breakout,
            ..
        } => override_assignment(conn, &main, *person_id, *breakout).await?,
        Event::AssignmentsReset { .. } => replace_assignments(conn, &main, &[]).await?,
        Event::BreakoutStarted {
            round,
            assignments,
            ends_at,
            started_at,
            ..
        } => {
            // One snapshot instead of a row per person: a start with 10,000 people stays one write.
            let snapshot = match snapshot {
                Some(made) => made.to_owned(),
                None => self::snapshot(assignments)?,
            };
            sqlx::query(
                "UPDATE breakout_sessions SET status = 'running', round = $1, started_at = $2, ends_at = $3, \
                 closes_at = NULL, assignments = $4 WHERE room_id = $5",
            )
            .bind(i64::from(*round))
            .bind(*started_at)
            .bind(*ends_at)
            .bind(snapshot)
            .bind(main.clone())
            .execute(&mut *conn)
            .await?;
            for sql in [
                "DELETE FROM breakout_assignments WHERE main_id = $1",
                "DELETE FROM breakout_closed WHERE main_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(main.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::BreakoutClosing { closes_at, .. } => {
            sqlx::query("UPDATE breakout_sessions SET status = 'closing', closes_at = $1 WHERE room_id = $2")
                .bind(*closes_at)
                .bind(main)
                .execute(&mut *conn)
                .await?;
        }
        Event::BreakoutStopped { .. } => {
            // The round joins the history as it started, copied inside the database: no
            // encoding, and nothing on the start's path.
            sqlx::query(
                "INSERT INTO breakout_rounds (main_id, round, started_at, ended_at, assignments) \
                 SELECT room_id, round, started_at, $1, assignments FROM breakout_sessions \
                 WHERE room_id = $2 AND started_at IS NOT NULL \
                 ON CONFLICT (main_id, round) DO NOTHING",
            )
            .bind(at)
            .bind(main.clone())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE breakout_sessions SET status = 'idle', started_at = NULL, ends_at = NULL, closes_at = NULL \
                 WHERE room_id = $1",
            )
            .bind(main.clone())
            .execute(&mut *conn)
            .await?;
            for sql in [
                "DELETE FROM breakout_closed WHERE main_id = $1",
                "DELETE FROM help_requests WHERE main_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(main.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::RoomsBroughtBack { rooms, .. } => {
            for room in rooms {
                sqlx::query("INSERT INTO breakout_closed (main_id, breakout_id) VALUES ($1, $2)")
                    .bind(main.clone())
                    .bind(room.to_string())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM help_requests WHERE breakout_id = $1")
                    .bind(room.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Event::HelpRequested { request, .. } => {
            sqlx::query(
                "INSERT INTO help_requests (id, main_id, breakout_id, person_id, display_name, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(request.id.to_string())
            .bind(main)
            .bind(request.breakout.to_string())
            .bind(request.person_id.to_string())
            .bind(request.display_name.clone())
            .bind(request.created_at)
            .execute(&mut *conn)
            .await?;
        }
        Event::HelpAnswered { id, .. } => {
            sqlx::query("DELETE FROM help_requests WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        Event::AssignmentsImported { assignments, .. } => {
            replace_assignments(conn, &main, assignments).await?
        }
        Event::ActivitySet {
            breakout, activity, ..
        } => {
            let activity = activity
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE rooms SET activity = $1 WHERE id = $2 AND parent_id = $3")
                .bind(activity)
                .bind(breakout.to_string())
                .bind(main.clone())
                .execute(&mut *conn)
                .await?;
        }
        Event::ScheduleChanged { schedule, .. } => {
            let schedule = schedule
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE breakout_sessions SET schedule = $1 WHERE room_id = $2")
                .bind(schedule)
                .bind(main)
                .execute(&mut *conn)
                .await?;
        }
        // Handled by `collab::write_effect` above.
        Event::ContentAdded { .. }
        | Event::ContentDeleted { .. }
        | Event::ContentShared { .. }
        | Event::InvitationsCreated { .. }
        | Event::InvitationClosed { .. }
        | Event::MeetingScheduled { .. }
        | Event::MeetingCancelled { .. }
        | Event::RecordingStarted { .. }
        | Event::RecordingStopped { .. } => {}
        // Where connected people are lives in memory only.
        Event::Located { .. } | Event::Connected { .. } | Event::Disconnected { .. } => {}
    }
    Ok(())
}

/// The assignments as one JSON snapshot: `{"BREAKOUT_ID": ["PERSON_ID", …]}`.
fn snapshot(assignments: &[crate::domain::breakout::Assignment]) -> Result<String, StoreError> {
    Ok(super::codec::group(assignments)?.get().to_owned())
}

/// Makes `assignments` the whole assignment of stream `main`: one snapshot, no overrides.
async fn replace_assignments(
    conn: &mut AnyConnection,
    main: &str,
    assignments: &[crate::domain::breakout::Assignment],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE breakout_sessions SET assignments = $1 WHERE room_id = $2")
        .bind(snapshot(assignments)?)
        .bind(main.to_owned())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM breakout_assignments WHERE main_id = $1")
        .bind(main.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a person's assignment (or, with `None`, that they have none) over the snapshot.
async fn override_assignment(
    conn: &mut AnyConnection,
    main: &str,
    person: crate::ids::PersonId,
    breakout: Option<RoomId>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO breakout_assignments (main_id, person_id, breakout_id) VALUES ($1, $2, $3) \
         ON CONFLICT (main_id, person_id) DO UPDATE SET breakout_id = excluded.breakout_id",
    )
    .bind(main.to_owned())
    .bind(person.to_string())
    .bind(breakout.map(|b| b.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_message(
    conn: &mut AnyConnection,
    seq: u64,
    message: &Message,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO messages (id, room_id, seq, author_id, author_name, kind, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(message.id.to_string())
    .bind(message.room_id.to_string())
    .bind(seq as i64)
    .bind(message.author_id.map(|a| a.to_string()))
    .bind(message.author_name.clone())
    .bind(message.kind.as_str())
    .bind(message.text.clone())
    .bind(message.created_at)
    .execute(conn)
    .await?;
    Ok(())
}
