//! Streams: the rooms of a main room, their events, the commit of a command's events with its
//! effects, loading a stream back, and its chat pages.

use std::collections::HashMap;

use sqlx::Row;

use super::pool::SqlStore;
use super::rows::{decode_rows, message_from, parse, role, room_from};
use super::{Fence, LoadedStream, Order, PageRequest, RoomListing, StoreError};
use crate::domain::breakout::{HelpRequest, Session, Status};
use crate::domain::room::{Event, Member, Message, RoomState};
use crate::ids::{PersonId, RoomId};

/// How often (in sequence numbers) old event rows of a stream are pruned.
const PRUNE_EVERY: u64 = 64;

/// A main room's breakout session: settings, round, timer, assignments, closed rooms, open help.
async fn load_session(conn: &mut sqlx::AnyConnection, main: RoomId) -> Result<Session, StoreError> {
    let id = main.to_string();
    let row = sqlx::query(
        "SELECT config, status, round, started_at, ends_at, closes_at, assignments, schedule \
         FROM breakout_sessions WHERE room_id = $1",
    )
    .bind(id.clone())
    .fetch_optional(&mut *conn)
    .await?;
    let mut session = Session::default();
    if let Some(row) = row {
        let config: String = row.try_get("config")?;
        session.config = serde_json::from_str(&config)
            .map_err(|e| StoreError::Corrupt(format!("breakout config: {e}")))?;
        session.status = match row.try_get::<String, _>("status")?.as_str() {
            "idle" => Status::Idle,
            "running" => Status::Running,
            "closing" => Status::Closing,
            other => return Err(StoreError::Corrupt(format!("breakout status: {other:?}"))),
        };
        session.round = row.try_get::<i64, _>("round")? as u32;
        session.started_at = row.try_get("started_at")?;
        session.ends_at = row.try_get("ends_at")?;
        session.closes_at = row.try_get("closes_at")?;
        let schedule: Option<String> = row.try_get("schedule")?;
        session.schedule = schedule
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("breakout schedule: {e}")))?;
        let snapshot: String = row.try_get("assignments")?;
        let by_room: HashMap<String, Vec<String>> = serde_json::from_str(&snapshot)
            .map_err(|e| StoreError::Corrupt(format!("assignment snapshot: {e}")))?;
        for (room, people) in by_room {
            let room: RoomId = parse("room id", &room)?;
            for person in people {
                session
                    .assignments
                    .insert(parse("person id", &person)?, room);
            }
        }
    }
    let rows =
        sqlx::query("SELECT person_id, breakout_id FROM breakout_assignments WHERE main_id = $1")
            .bind(id.clone())
            .fetch_all(&mut *conn)
            .await?;
    // Changes since the snapshot override it; NULL means unassigned.
    for row in &rows {
        let person: PersonId = parse("person id", &row.try_get::<String, _>("person_id")?)?;
        match row.try_get::<Option<String>, _>("breakout_id")? {
            Some(room) => session.assignments.insert(person, parse("room id", &room)?),
            None => session.assignments.remove(&person),
        };
    }
    let rows = sqlx::query("SELECT breakout_id FROM breakout_closed WHERE main_id = $1")
        .bind(id.clone())
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        session
            .closed
            .insert(parse("room id", &row.try_get::<String, _>("breakout_id")?)?);
    }
    let rows = sqlx::query(
        "SELECT id, breakout_id, person_id, display_name, created_at FROM help_requests WHERE main_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let request = HelpRequest {
            id: parse("help id", &row.try_get::<String, _>("id")?)?,
            breakout: parse("room id", &row.try_get::<String, _>("breakout_id")?)?,
            person_id: parse("person id", &row.try_get::<String, _>("person_id")?)?,
            display_name: row.try_get("display_name")?,
            created_at: row.try_get("created_at")?,
        };
        session.help.insert(request.id, request);
    }
    Ok(session)
}

pub(super) async fn stream_of(
    store: &SqlStore,
    room: RoomId,
) -> Result<Option<RoomId>, StoreError> {
    let row = sqlx::query("SELECT COALESCE(parent_id, id) AS stream FROM rooms WHERE id = $1")
        .bind(room.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.map(|r| parse("room id", &r.try_get::<String, _>("stream")?))
        .transpose()
}

pub(super) async fn streams_of(
    store: &SqlStore,
    person: PersonId,
) -> Result<Vec<RoomId>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT COALESCE(r.parent_id, r.id) AS stream \
         FROM members m JOIN rooms r ON r.id = m.room_id WHERE m.person_id = $1",
    )
    .bind(person.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|r| parse("room id", &r.try_get::<String, _>("stream")?))
        .collect()
}

pub(super) async fn rooms_of(
    store: &SqlStore,
    person: PersonId,
) -> Result<Vec<RoomListing>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.id, r.parent_id, r.name, r.created_at, m.role, p.name AS parent_name \
         FROM members m JOIN rooms r ON r.id = m.room_id LEFT JOIN rooms p ON p.id = r.parent_id \
         WHERE m.person_id = $1 ORDER BY r.created_at, r.id",
    )
    .bind(person.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let info = room_from(row)?;
            Ok(RoomListing {
                id: info.id,
                parent_id: info.parent_id,
                name: info.name,
                parent_name: row.try_get("parent_name")?,
                role: role(&row.try_get::<String, _>("role")?)?,
                created_at: info.created_at,
            })
        })
        .collect()
}

pub(super) async fn load_stream(
    store: &SqlStore,
    main: RoomId,
    recent: usize,
) -> Result<Option<LoadedStream>, StoreError> {
    let id = main.to_string();
    let mut conn = store.pool.acquire().await?;
    let rooms = sqlx::query(
        "SELECT id, parent_id, name, created_at, activity FROM rooms \
         WHERE id = $1 OR parent_id = $1",
    )
    .bind(id.clone())
    .fetch_all(&mut *conn)
    .await?;
    let mut main_info = None;
    let mut breakouts = std::collections::BTreeMap::new();
    let mut activities = std::collections::BTreeMap::new();
    for row in &rooms {
        let info = room_from(row)?;
        if info.id == main && info.parent_id.is_none() {
            main_info = Some(info);
        } else if info.parent_id == Some(main) {
            if let Some(activity) = row.try_get::<Option<String>, _>("activity")? {
                let activity = serde_json::from_str(&activity).map_err(|e| {
                    StoreError::Corrupt(format!("activity of room {}: {e}", info.id))
                })?;
                activities.insert(info.id, activity);
            }
            breakouts.insert(info.id, info);
        }
    }
    let Some(main_info) = main_info else {
        return Ok(None);
    };

    let rows = sqlx::query(
        "SELECT m.room_id, m.person_id, m.role, p.display_name \
         FROM members m JOIN rooms r ON r.id = m.room_id JOIN people p ON p.id = m.person_id \
         WHERE r.id = $1 OR r.parent_id = $1",
    )
    .bind(id.clone())
    .fetch_all(&mut *conn)
    .await?;
    let mut members: std::collections::HashMap<RoomId, std::collections::HashMap<_, _>> =
        Default::default();
    for row in &rows {
        let room: RoomId = parse("room id", &row.try_get::<String, _>("room_id")?)?;
        let member = Member {
            person_id: parse("person id", &row.try_get::<String, _>("person_id")?)?,
            display_name: row.try_get("display_name")?,
            role: role(&row.try_get::<String, _>("role")?)?,
        };
        members
            .entry(room)
            .or_default()
            .insert(member.person_id, member);
    }

    let last: i64 =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE stream_id = $1")
            .bind(id.clone())
            .fetch_one(&mut *conn)
            .await?
            .try_get("last")?;
    let rows = sqlx::query(
        "SELECT seq, payload FROM events WHERE stream_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(id)
    .bind(recent as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows.iter().rev() {
        let seq: i64 = row.try_get("seq")?;
        let payload: String = row.try_get("payload")?;
        let event: Event = super::codec::decode(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
        events.push((seq as u64, event));
    }
    let mut breakout = load_session(&mut conn, main).await?;
    let held = super::collab::load(&mut conn, main).await?;
    let recordings = super::recordings::load(&mut conn, main).await?;
    // The snapshot may name rooms deleted or people gone since; keep what still exists.
    breakout.assignments.retain(|person, room| {
        breakouts.contains_key(room) && members.values().any(|m| m.contains_key(person))
    });
    Ok(Some(LoadedStream {
        state: RoomState {
            main: main_info,
            breakouts,
            members,
            breakout,
            locations: Default::default(),
            content: held.content,
            invitations: held.invitations,
            meetings: held.meetings,
            recordings,
            activities,
            stays: Default::default(),
        },
        last_seq: last as u64,
        recent: events,
    }))
}

pub(super) async fn commit(
    store: &SqlStore,
    stream: RoomId,
    events: &[(u64, Event)],
    at: i64,
    keep: u64,
    fence: Option<&Fence>,
    command: Option<&str>,
) -> Result<(), StoreError> {
    let Some(&(last_seq, _)) = events.last() else {
        return Ok(());
    };
    let stream_id = stream.to_string();
    let t0 = std::time::Instant::now();
    let mut tx = store.begin_write().await?;
    if let Some(fence) = fence {
        let from = events[0].0.saturating_sub(1);
        super::cluster::advance(&mut tx, stream, fence, from, last_seq).await?;
    }
    let t1 = t0.elapsed();
    for (seq, event) in events {
        let encoded = super::codec::encode(event)?;
        super::effects::write_effect(
            &mut tx,
            stream,
            *seq,
            event,
            at,
            encoded.snapshot.as_deref(),
        )
        .await?;
        if matches!(event, Event::RoomDeleted { .. }) {
            continue; // the stream and its rows are gone with the room
        }
        let payload = encoded.payload;
        sqlx::query(
            "INSERT INTO events (stream_id, seq, payload, created_at, command_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(stream_id.clone())
        .bind(*seq as i64)
        .bind(payload)
        .bind(at)
        .bind(command.map(str::to_owned))
        .execute(&mut *tx)
        .await?;
    }
    let first_seq = events[0].0;
    let crosses_prune_mark = (first_seq..=last_seq).any(|s| s % PRUNE_EVERY == 0);
    if crosses_prune_mark && last_seq > keep {
        sqlx::query("DELETE FROM events WHERE stream_id = $1 AND seq <= $2")
            .bind(stream_id)
            .bind((last_seq - keep) as i64)
            .execute(&mut *tx)
            .await?;
    }
    let t2 = t0.elapsed();
    tx.commit().await?;
    tracing::debug!(target: "huddle::timing", begin_us = t1.as_micros() as u64, writes_us = (t2 - t1).as_micros() as u64, commit_us = (t0.elapsed() - t2).as_micros() as u64, "store commit");
    Ok(())
}

pub(super) async fn events_after(
    store: &SqlStore,
    stream: RoomId,
    seq: u64,
) -> Result<Vec<(u64, Event)>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, payload FROM events WHERE stream_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(stream.to_string())
    .bind(seq as i64)
    .fetch_all(&store.pool)
    .await?;
    decode_rows(&rows)
}

pub(super) async fn command_events(
    store: &SqlStore,
    stream: RoomId,
    command: &str,
) -> Result<Option<Vec<(u64, Event)>>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, payload FROM events WHERE stream_id = $1 AND command_id = $2 ORDER BY seq",
    )
    .bind(stream.to_string())
    .bind(command.to_owned())
    .fetch_all(&store.pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    decode_rows(&rows).map(Some)
}

pub(super) async fn live_streams(store: &SqlStore) -> Result<Vec<RoomId>, StoreError> {
    let rows = sqlx::query("SELECT room_id FROM breakout_sessions WHERE status <> 'idle'")
        .fetch_all(&store.pool)
        .await?;
    rows.iter()
        .map(|r| parse("room id", &r.try_get::<String, _>("room_id")?))
        .collect()
}

pub(super) async fn messages(
    store: &SqlStore,
    room: RoomId,
    page: PageRequest,
) -> Result<Vec<(u64, Message)>, StoreError> {
    // The room's own rows, and the broadcasts of its main room that reached it (stored once
    // for all their rooms; `targets` names each room's message id).
    let sql = match page.order {
        Order::NewestFirst => {
            "SELECT id, seq, author_id, author_name, kind, body, created_at, NULL AS targets \
             FROM messages WHERE room_id = $1 AND seq < $2 \
             UNION ALL \
             SELECT NULL, seq, author_id, author_name, 'broadcast', body, created_at, targets \
             FROM broadcast_messages \
             WHERE main_id = (SELECT parent_id FROM rooms WHERE id = $1) \
             AND seq < $2 AND targets LIKE $4 \
             ORDER BY seq DESC LIMIT $3"
        }
        Order::OldestFirst => {
            "SELECT id, seq, author_id, author_name, kind, body, created_at, NULL AS targets \
             FROM messages WHERE room_id = $1 AND seq > $2 \
             UNION ALL \
             SELECT NULL, seq, author_id, author_name, 'broadcast', body, created_at, targets \
             FROM broadcast_messages \
             WHERE main_id = (SELECT parent_id FROM rooms WHERE id = $1) \
             AND seq > $2 AND targets LIKE $4 \
             ORDER BY seq ASC LIMIT $3"
        }
    };
    let cursor = match (page.order, page.cursor) {
        (_, Some(c)) => c as i64,
        (Order::NewestFirst, None) => i64::MAX,
        (Order::OldestFirst, None) => 0,
    };
    let rows = sqlx::query(sql)
        .bind(room.to_string())
        .bind(cursor)
        .bind(i64::from(page.limit))
        .bind(format!("%\"{room}\"%"))
        .fetch_all(&store.pool)
        .await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(message) = message_from(room, row)? {
            messages.push(message);
        }
    }
    Ok(messages)
}
