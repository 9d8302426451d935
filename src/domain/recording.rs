//! Recording a room's call: who may start and stop it, what stops it by itself, and the content
//! item it becomes.
//!
//! Rules:
//! - owners and moderators of a room (for a breakout room, also of its main room) start and stop
//!   its recording; each room, main or breakout, is recorded on its own, several at once (at
//!   most [`Ctx::max_recordings`] in a main room with its breakout rooms);
//! - a recording starts only while someone is in the room (a recording of nobody would be
//!   composed into black);
//! - a recording stops by itself when its breakout room closes (the round ends, the room is
//!   brought back or deleted), and when nobody has been in its room for [`EMPTY_GRACE_MS`]
//!   (the room actor keeps that time, see [`emptied`]);
//! - when composed, it becomes a `recording` item of its room, added on behalf of whoever started
//!   it, whose id is the recording's (so finishing twice adds it once).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::content::{ContentItem, ContentKind, FileInfo};
use super::event::Event;
use super::room::{Caller, Ctx, RoomState};
use crate::ids::{ContentId, PersonId, RecordingId, RoomId};

/// How long a recorded room may stay empty before its recording stops (a page reload or a move
/// through the room does not end it).
pub const EMPTY_GRACE_MS: i64 = 30_000;

/// A recording in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    /// Id (also the id of the content item it becomes).
    pub id: RecordingId,
    /// The recorded room.
    pub room_id: RoomId,
    /// Who started it.
    pub started_by: PersonId,
    /// Their display name.
    pub started_by_name: String,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
}

/// Why a recording stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingEnd {
    /// A moderator stopped it.
    Stopped,
    /// Nobody was in the room any more.
    Emptied,
    /// The breakout round ended, or the room was brought back.
    RoundEnded,
    /// The breakout room was deleted.
    RoomClosed,
    /// Huddle stopped while recording; what was written until then is kept.
    Interrupted,
}

/// A recording command.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum RecordingCommand {
    /// Start recording a room's call.
    Start {
        /// The room.
        room: RoomId,
    },
    /// Stop it.
    Stop {
        /// The room.
        room: RoomId,
    },
    /// The composed file: add it to the room (from the recordings service, on behalf of who
    /// started the recording).
    Finish {
        /// The recorded room.
        room: RoomId,
        /// The recording.
        id: RecordingId,
        /// When it started.
        started_at: i64,
        /// The stored file.
        file: FileInfo,
    },
}

/// Decides what a recording command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: RecordingCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let me = caller.person_id;
    match command {
        RecordingCommand::Start { room } => {
            manages(state, room, me)?;
            if state.recordings.contains_key(&room) {
                return Err(DomainError::conflict(
                    "already_recording",
                    "this room's call is already being recorded",
                ));
            }
            if !state.locations.values().any(|r| *r == room) {
                return Err(DomainError::conflict(
                    "room_empty",
                    "nobody is in this room: a recording starts once someone is there",
                ));
            }
            if state.recordings.len() >= ctx.max_recordings {
                return Err(DomainError::conflict(
                    "recording_limit",
                    format!(
                        "{} recordings are under way in this main room and its breakout rooms, \
                         the most allowed (max_recordings_per_room); stop one first",
                        state.recordings.len()
                    ),
                ));
            }
            Ok(vec![Event::RecordingStarted {
                room,
                recording: Recording {
                    id: RecordingId(ctx.uuid(0)),
                    room_id: room,
                    started_by: me,
                    started_by_name: caller.display_name.clone(),
                    started_at: ctx.now,
                },
            }])
        }
        RecordingCommand::Stop { room } => {
            manages(state, room, me)?;
            let recording = state.recordings.get(&room).ok_or_else(|| {
                DomainError::conflict("not_recording", "this room's call is not being recorded")
            })?;
            Ok(vec![stopped(
                recording,
                RecordingEnd::Stopped,
                Some(me),
                ctx.now,
            )])
        }
        RecordingCommand::Finish {
            room,
            id,
            started_at,
            file,
        } => {
            let info = state.room(room).ok_or(DomainError::NotFound("room"))?;
            if state.content.contains_key(&ContentId(id.0)) {
                return Ok(Vec::new());
            }
            let when = time::OffsetDateTime::from_unix_timestamp(started_at / 1000)
                .ok()
                .and_then(|t| {
                    t.format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute] UTC"
                    ))
                    .ok()
                })
                .unwrap_or_default();
            Ok(vec![Event::ContentAdded {
                room,
                item: Box::new(ContentItem {
                    id: ContentId(id.0),
                    room_id: room,
                    kind: ContentKind::Recording,
                    title: format!("Recording of {}, {when}", info.name),
                    file: Some(file),
                    url: None,
                    created_by: me,
                    created_by_name: caller.display_name.clone(),
                    created_at: ctx.now,
                    promoted_from: None,
                    shared_with: Vec::new(),
                }),
            }])
        }
    }
}

fn stopped(recording: &Recording, reason: RecordingEnd, by: Option<PersonId>, now: i64) -> Event {
    Event::RecordingStopped {
        room: recording.room_id,
        recording: recording.clone(),
        reason,
        by,
        stopped_at: now,
    }
}

/// The caller may record `room`: they manage it. Someone who cannot see it is told it does not
/// exist.
fn manages(state: &RoomState, room: RoomId, me: PersonId) -> Result<(), DomainError> {
    let role = state
        .room(room)
        .and(state.effective_role(room, me))
        .ok_or(DomainError::NotFound("room"))?;
    if !role.manages() {
        return Err(DomainError::Forbidden(
            "only owners and moderators may record a call",
        ));
    }
    Ok(())
}

/// The stops that follow from `events` about to be committed on `state`: a breakout room that
/// closes (the round ends, it is brought back or deleted) ends its recording.
pub fn follow(state: &RoomState, events: &[Event], now: i64) -> Vec<Event> {
    let already: Vec<RoomId> = events
        .iter()
        .filter_map(|e| match e {
            Event::RecordingStopped { room, .. } => Some(*room),
            _ => None,
        })
        .collect();
    let mut stops = Vec::new();
    for event in events {
        let (rooms, reason): (Vec<RoomId>, _) = match event {
            Event::BreakoutStopped { .. } => (
                state
                    .recordings
                    .keys()
                    .filter(|r| **r != state.id())
                    .copied()
                    .collect(),
                RecordingEnd::RoundEnded,
            ),
            Event::RoomsBroughtBack { rooms, .. } => (rooms.clone(), RecordingEnd::RoundEnded),
            Event::BreakoutRoomsDeleted { rooms, .. } => (rooms.clone(), RecordingEnd::RoomClosed),
            _ => continue,
        };
        for room in rooms {
            if already.contains(&room) || stops.iter().any(|e: &Event| e.room() == room) {
                continue;
            }
            if let Some(recording) = state.recordings.get(&room) {
                stops.push(stopped(recording, reason, None, now));
            }
        }
    }
    stops
}

/// A stop nobody asked for (the room emptied, Huddle stopped while recording): from the room
/// actor. `None` if `room` is not being recorded.
pub fn stop(state: &RoomState, room: RoomId, reason: RecordingEnd, now: i64) -> Option<Event> {
    state
        .recordings
        .get(&room)
        .map(|r| stopped(r, reason, None, now))
}

/// Recorded rooms nobody is in now.
pub fn emptied(state: &RoomState) -> Vec<RoomId> {
    state
        .recordings
        .keys()
        .filter(|room| !state.locations.values().any(|r| r == *room))
        .copied()
        .collect()
}

/// Applies a recording event. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    match event {
        Event::RecordingStarted { room, recording } => {
            state.recordings.insert(*room, recording.clone());
        }
        Event::RecordingStopped { room, .. } => {
            state.recordings.remove(room);
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            state.recordings.retain(|r, _| !rooms.contains(r));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
