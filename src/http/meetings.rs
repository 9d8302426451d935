//! Scheduled meetings: `/api/v1/rooms/{room}/meetings…`, and each meeting as an `.ics` file
//! (`…/meetings/{meeting}/calendar.ics`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, PathIds};
use crate::App;
use crate::domain::meeting::{
    self, MAX_DESCRIPTION_CHARS, MAX_DURATION_MINS, Meeting, MeetingCommand, NewMeeting,
};
use crate::domain::room::{Command, Event};
use crate::domain::validate;
use crate::ids::{MeetingId, RoomId};

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms/{room}/meetings", get(list).post(schedule))
        .route("/rooms/{room}/meetings/{meeting}", delete(cancel))
        .route("/rooms/{room}/meetings/{meeting}/calendar.ics", get(ics))
}

/// How far ahead a meeting may be scheduled: ten years.
const MAX_AHEAD_MS: i64 = 10 * 366 * 86_400_000;

/// A moment: RFC 3339 text (`2026-12-01T09:00:00Z`, any offset) or milliseconds since the epoch.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Moment {
    /// Milliseconds since the Unix epoch.
    Millis(i64),
    /// RFC 3339.
    Text(String),
}

/// Body of `POST /rooms/{room}/meetings`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingRequest {
    /// 1–200 characters.
    pub title: String,
    /// When it starts; not in the past.
    pub starts_at: Moment,
    /// 1–1440 minutes.
    pub duration_mins: u32,
    /// Optional plain text, up to 4,000 characters.
    #[serde(default)]
    pub description: String,
    /// In a main room, owners and moderators may also turn its breakout rooms on or off.
    pub breakout_rooms: Option<bool>,
}

/// `GET /rooms/{room}/meetings`.
#[derive(Serialize, ToSchema)]
pub struct MeetingList {
    /// Meetings that have not ended, soonest first.
    pub meetings: Vec<Meeting>,
}

fn starts_at(moment: &Moment) -> Result<i64, ApiError> {
    match moment {
        Moment::Millis(ms) => Ok(*ms),
        Moment::Text(text) => {
            time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| {
                    ApiError::invalid(
                        "starts_at",
                        format!("{text:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z"),
                    )
                })
        }
    }
}

/// The meetings of a room that have not ended.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/meetings", tag = "meetings", params(("room" = RoomId, Path)),
    responses((status = 200, body = MeetingList), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<MeetingList>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let me = auth.person.id;
    let now = app.clock.now_ms();
    let meetings = app
        .rooms
        .inspect(room, move |state, _| {
            state
                .can_see(room, me)
                .then(|| state.upcoming(room, me, now).into_iter().cloned().collect())
        })
        .await?
        .ok_or(ApiError::not_found("room"))?;
    Ok(Json(MeetingList { meetings }))
}

/// Schedule a meeting in this room (any member; from a breakout room, it is that room's).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/meetings", tag = "meetings", params(("room" = RoomId, Path)),
    request_body = MeetingRequest,
    responses((status = 201, body = Meeting), (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn schedule(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<MeetingRequest>,
) -> Result<(StatusCode, Json<Meeting>), ApiError> {
    let room: RoomId = ids.get("room")?;
    let title = validate::title("title", &req.title)?;
    let starts_at = starts_at(&req.starts_at)?;
    // A minute of grace for a form submitted "now".
    let now = app.clock.now_ms();
    if starts_at < now - 60_000 {
        return Err(ApiError::invalid("starts_at", "must not be in the past"));
    }
    if starts_at > now + MAX_AHEAD_MS {
        return Err(ApiError::invalid(
            "starts_at",
            "must be within ten years from now",
        ));
    }
    if !(1..=MAX_DURATION_MINS).contains(&req.duration_mins) {
        return Err(ApiError::invalid(
            "duration_mins",
            format!("must be between 1 and {MAX_DURATION_MINS} minutes"),
        ));
    }
    let description = req.description.trim().to_owned();
    if !description.is_empty() {
        validate::message_text(&description, MAX_DESCRIPTION_CHARS).map_err(|e| {
            ApiError::invalid("description", e.to_string().trim_start_matches("text: "))
        })?;
    }
    let command = Command::Meeting(MeetingCommand::Schedule {
        room,
        meeting: NewMeeting {
            title,
            description,
            starts_at,
            duration_mins: req.duration_mins,
            breakout_rooms: req.breakout_rooms,
        },
    });
    let committed = app.rooms.command(room, auth.caller(), command).await?;
    let meeting = committed
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::MeetingScheduled { meeting, .. } => Some(meeting),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("scheduling produced no meeting"))?;
    Ok((StatusCode::CREATED, Json(meeting)))
}

/// A meeting as an iCalendar file (`GET …/meetings/{meeting}/calendar.ics`), named by its title.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/meetings/{meeting}/calendar.ics", tag = "meetings",
    params(("room" = RoomId, Path), ("meeting" = MeetingId, Path)),
    responses((status = 200, description = "text/calendar (RFC 5545)"), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn ics(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Response, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: MeetingId = ids.get("meeting")?;
    let me = auth.person.id;
    let now = app.clock.now_ms();
    let public_url = app.public_url.clone();
    let (title, text) = app
        .rooms
        .inspect(room, move |state, _| {
            let m = state
                .meetings
                .get(&id)
                .filter(|m| m.room_id == room && state.can_see(room, me))?;
            let text = meeting::ics(m, &state.title(room)?, &public_url, now);
            Some((m.title.clone(), text))
        })
        .await?
        .ok_or(ApiError::not_found("meeting"))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                // Saved under the meeting's title, as people look for it.
                header::CONTENT_DISPOSITION,
                super::content::disposition(&format!("{title}.ics"), false),
            ),
        ],
        text,
    )
        .into_response())
}

/// Cancel a meeting (who scheduled it, or the room's owners and moderators).
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/meetings/{meeting}", tag = "meetings",
    params(("room" = RoomId, Path), ("meeting" = MeetingId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn cancel(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<StatusCode, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: MeetingId = ids.get("meeting")?;
    app.rooms
        .command(
            room,
            auth.caller(),
            Command::Meeting(MeetingCommand::Cancel { room, id }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
