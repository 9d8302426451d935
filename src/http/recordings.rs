//! Recording a room's call: start (`POST /rooms/{room}/recording`), stop (`DELETE` the same),
//! and the list of recordings with the progress of those being composed
//! (`GET /rooms/{room}/recordings`). Owners and moderators only; everyone in the room learns that
//! it is recorded from the `recording_started` event, and people in its call from their
//! `call_state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, PathIds};
use crate::App;
use crate::domain::recording::{Recording, RecordingCommand};
use crate::domain::room::{Command, Event};
use crate::ids::RoomId;
use crate::recording::RecordingView;

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms/{room}/recording", post(start).delete(stop))
        .route("/rooms/{room}/recordings", get(list))
}

/// Most recordings listed.
const LIST_LIMIT: usize = 100;

/// Body of `GET /rooms/{room}/recordings`.
#[derive(Serialize, ToSchema)]
pub struct RecordingList {
    /// Newest first: those of this room (for a main room, also of its breakout rooms).
    pub recordings: Vec<RecordingView>,
}

/// Starts recording the room's call (a main room and each breakout room separately). Refused
/// when recordings already take the disk quota (`507 recording_quota`), when nobody is in the
/// room (`409 room_empty`), and when the main room with its breakout rooms, or the caller in all
/// rooms, has as many recordings under way as allowed (`409 recording_limit`).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/recording", tag = "calls",
    params(("room" = RoomId, Path)),
    responses((status = 201, body = Recording), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
        (status = 507, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn start(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<(StatusCode, Json<Recording>), ApiError> {
    let room: RoomId = ids.get("room")?;
    let me = auth.person.id;
    // Who may not record learns nothing about the disk.
    let role = app
        .rooms
        .inspect(room, move |state, _| {
            state.room(room).and(state.effective_role(room, me))
        })
        .await?
        .ok_or(ApiError::not_found("room"))?;
    if role.manages() {
        app.recordings.check_quota(&app.store).await.map_err(|e| {
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "recording_quota",
                e.to_string(),
            )
        })?;
        let mine = app.store.recordings_under_way_by(me).await?;
        let most = app.config.recording.per_person;
        if mine >= most {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "recording_limit",
                format!(
                    "you have {mine} recordings under way, the most one person may \
                     (max_recordings_per_person); stop one first"
                ),
            ));
        }
    }
    let command = Command::Recording(RecordingCommand::Start { room });
    let committed = app.rooms.command(room, auth.caller(), command).await?;
    let recording = committed
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::RecordingStarted { recording, .. } => Some(recording),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("starting produced no recording"))?;
    Ok((StatusCode::CREATED, Json(recording)))
}

/// Stops recording the room's call; composing the file starts at once, and the recording
/// becomes a content item of the room when it is done.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/recording", tag = "calls",
    params(("room" = RoomId, Path)),
    responses((status = 200, body = RecordingView), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn stop(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<RecordingView>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let command = Command::Recording(RecordingCommand::Stop { room });
    let committed = app.rooms.command(room, auth.caller(), command).await?;
    let view = committed
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::RecordingStopped {
                recording,
                reason,
                stopped_at,
                ..
            } => Some(RecordingView {
                progress: app.recordings.progress(recording.id),
                recording,
                state: "composing",
                stopped_at: Some(stopped_at),
                stop_reason: Some(reason),
            }),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("stopping produced no event"))?;
    Ok(Json(view))
}

/// The recordings of a room (for a main room, also of its breakout rooms), newest first, with
/// where each stands: `recording`, `composing` (with its progress), `composed` (it is a content
/// item with the same id) or `failed`. Owners and moderators only.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/recordings", tag = "calls",
    params(("room" = RoomId, Path)),
    responses((status = 200, body = RecordingList), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<RecordingList>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let main = super::calls::managed(
        &app,
        &auth,
        room,
        "only owners and moderators see a room's recordings",
    )
    .await?;
    let rows = app.store.recordings_of(main, LIST_LIMIT).await?;
    let recordings = rows
        .into_iter()
        .filter(|r| room == main || r.recording.room_id == room)
        .map(|r| app.recordings.describe(r))
        .collect();
    Ok(Json(RecordingList { recordings }))
}
