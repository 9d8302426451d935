//! The call of a main room, for its moderators: how it is for each person
//! (`GET /api/v1/rooms/{room}/call/stats`). Joining, leaving and everything else about calls goes
//! over the event WebSocket (`realtime::call`).

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, PathIds};
use crate::App;
use crate::ids::RoomId;
use crate::media::Command;
use crate::media::stats::PersonStats;

pub(super) fn router() -> Router<App> {
    Router::new().route("/rooms/{room}/call/stats", get(stats))
}

/// The main room of `room`, if the caller manages `room`: `404` for someone who may not see it,
/// `403` with `refusal` for someone who may but does not manage it.
pub(super) async fn managed(
    app: &App,
    auth: &Auth,
    room: RoomId,
    refusal: &'static str,
) -> Result<RoomId, ApiError> {
    let me = auth.person.id;
    let (main, role) = app
        .rooms
        .inspect(room, move |state, _| {
            (
                state.id(),
                state.room(room).and(state.effective_role(room, me)),
            )
        })
        .await?;
    let role = role.ok_or(ApiError::not_found("room"))?;
    if !role.manages() {
        return Err(ApiError::forbidden(refusal));
    }
    Ok(main)
}

/// How long the media server may take to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Body of `GET /rooms/{room}/call/stats`.
#[derive(Serialize, ToSchema)]
pub struct CallStats {
    /// The main room.
    pub room: RoomId,
    /// Everyone in its call (asked for a breakout room: everyone in that room), in joining order
    /// (empty when nobody is).
    pub people: Vec<PersonStats>,
}

/// How the call of a main room (and of its breakout rooms) is for each person in it: loss,
/// jitter, round-trip time, bitrates and video layers, updated every second. Owners and
/// moderators only; a breakout room's id gives only the people in that breakout room (so that a
/// breakout room's moderator sees no more than their room).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/call/stats", tag = "calls",
    params(("room" = RoomId, Path)),
    responses((status = 200, body = CallStats), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn stats(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<CallStats>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let main = managed(
        &app,
        &auth,
        room,
        "only owners and moderators see how the call is for others",
    )
    .await?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    app.media.send(Command::Stats {
        stream: main,
        reply,
    });
    let people = tokio::time::timeout(ANSWER_WITHIN, answer)
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "media_unavailable",
                "the media server did not answer in time; try again",
            )
        })?;
    let people = people
        .into_iter()
        .filter(|p| room == main || p.room == Some(room))
        .collect();
    Ok(Json(CallStats { room: main, people }))
}
