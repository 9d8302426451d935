//! Breakout rooms: `/api/v1/rooms/{room}/breakout/…`. Every route is one breakout command on the
//! main room's actor (or a read of its state); the rules live in `domain::breakout`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::dashboard::{BreakoutSession, session_view};
use super::error::{ApiError, ApiJson, PathIds};
use super::main_room::{Done, done, main_room, run};
use super::views::RoomNameRequest;
use crate::App;
use crate::domain::breakout::{BreakoutCommand, CallToAction, ConfigChanges, HelpRequest};
use crate::domain::room::{Command, Event, RoomInfo};
use crate::domain::validate;
use crate::ids::{HelpId, PersonId, RoomId};

pub(super) fn router() -> Router<App> {
    let b = "/rooms/{room}/breakout";
    Router::new()
        .route(b, get(session).put(configure))
        .route(
            &format!("{b}/rooms"),
            post(create_rooms).delete(delete_all_rooms),
        )
        .route(
            &format!("{b}/rooms/{{breakout}}"),
            patch(rename_room).delete(delete_room),
        )
        .route(
            &format!("{b}/assignments/{{person}}"),
            put(assign).delete(unassign),
        )
        .route(&format!("{b}/reset"), post(reset))
        .route(&format!("{b}/start"), post(start))
        .route(&format!("{b}/stop"), post(stop))
        .route(&format!("{b}/move"), post(move_person))
        .route(&format!("{b}/broadcast"), post(broadcast))
        .route(&format!("{b}/join"), post(join))
        .route(&format!("{b}/leave"), post(leave))
        .route(&format!("{b}/help"), post(ask_help))
        .route(&format!("{b}/help/{{request}}"), patch(answer_help))
}

/// The breakout session: settings, rooms, who is assigned and who is where, the timer, help.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = BreakoutSession), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn session(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<BreakoutSession>, ApiError> {
    let room = main_room(&app, &ids, auth.person.id).await?;
    let me = auth.person.id;
    let view = app
        .rooms
        .inspect(room, move |state, seq| session_view(state, seq, me))
        .await?;
    view.map(Json).ok_or(ApiError::not_found("room"))
}

/// Change the breakout settings (owners and moderators), allowed while running: the settings sent
/// change, the ones left out keep their value.
#[utoipa::path(put, path = "/api/v1/rooms/{room}/breakout", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = ConfigChanges,
    responses((status = 200, body = BreakoutSession), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn configure(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(changes): ApiJson<ConfigChanges>,
) -> Result<Json<BreakoutSession>, ApiError> {
    let (room, committed) = run(&app, &auth, &ids, BreakoutCommand::Change { changes }).await?;
    let me = auth.person.id;
    let view = app
        .rooms
        .inspect_after(room, committed.seq, move |state, seq| {
            session_view(state, seq, me)
        })
        .await?;
    view.map(Json).ok_or(ApiError::not_found("room"))
}

/// Body of `POST …/breakout/rooms`: `count` rooms named `Room k`, or the given `names`, or one `name`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomsBody {
    /// How many rooms, with default names (at most the configured `max_breakout_rooms`, 300 by
    /// default, in all).
    #[schema(minimum = 1, maximum = 300)]
    pub count: Option<u32>,
    /// These names, one room each.
    pub names: Option<Vec<String>>,
    /// One room with this name.
    pub name: Option<String>,
}

/// The rooms created.
#[derive(Serialize, ToSchema)]
pub struct CreatedRooms {
    /// The new breakout rooms.
    pub rooms: Vec<RoomInfo>,
    /// The stream position after the command.
    pub seq: u64,
}

/// Create breakout rooms: N at once, named ones, or one.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/rooms", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = CreateRoomsBody,
    responses((status = 201, body = CreatedRooms), (status = 403, body = super::error::ErrorBody),
              (status = 422, description = "bad count or name, or over the room limit", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create_rooms(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<CreateRoomsBody>,
) -> Result<(StatusCode, Json<CreatedRooms>), ApiError> {
    let (count, names) = match (body.count, body.names, body.name) {
        (Some(n), None, None) => (Some(n), None),
        (None, Some(names), None) => (None, Some(names)),
        (None, None, Some(name)) => (None, Some(vec![name])),
        _ => {
            return Err(ApiError::invalid(
                "count",
                "give exactly one of count, names and name",
            ));
        }
    };
    let (_, committed) = run(
        &app,
        &auth,
        &ids,
        BreakoutCommand::CreateRooms { count, names },
    )
    .await?;
    let rooms = committed
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::BreakoutRoomsCreated { rooms, .. } => Some(rooms.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(CreatedRooms {
            rooms,
            seq: committed.seq,
        }),
    ))
}

/// Rename a breakout room.
#[utoipa::path(patch, path = "/api/v1/rooms/{room}/breakout/rooms/{breakout}", tag = "breakout",
    params(("room" = RoomId, Path), ("breakout" = RoomId, Path)), request_body = RoomNameRequest,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn rename_room(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<RoomNameRequest>,
) -> Result<Json<Done>, ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    let breakout: RoomId = ids.get("breakout")?;
    let name = validate::name("name", &body.name)?;
    let me = auth.person.id;
    let allowed = app
        .rooms
        .inspect(main, move |s, _| {
            (s.breakouts.contains_key(&breakout), s.manages(me))
        })
        .await?;
    match allowed {
        (false, _) => return Err(ApiError::not_found("breakout room")),
        (true, false) => {
            return Err(ApiError::forbidden(
                "only owners and moderators may rename breakout rooms",
            ));
        }
        (true, true) => {}
    }
    let committed = app
        .rooms
        .command(
            main,
            auth.caller(),
            Command::Rename {
                room: breakout,
                name,
            },
        )
        .await?;
    Ok(Json(Done { seq: committed.seq }))
}

/// Delete one breakout room with its chat and content; whoever is in it goes back to the main room.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/breakout/rooms/{breakout}", tag = "breakout",
    params(("room" = RoomId, Path), ("breakout" = RoomId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete_room(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<Done>, ApiError> {
    let breakout: RoomId = ids.get("breakout")?;
    let answer = done(
        &app,
        &auth,
        &ids,
        BreakoutCommand::DeleteRooms {
            rooms: Some(vec![breakout]),
        },
    )
    .await?;
    app.sweep_blobs(); // the room's files, if no other item uses them
    Ok(answer)
}

/// Delete every breakout room (the main room and its chat stay); a running round ends.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/breakout/rooms", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn delete_all_rooms(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<Done>, ApiError> {
    let answer = done(
        &app,
        &auth,
        &ids,
        BreakoutCommand::DeleteRooms { rooms: None },
    )
    .await?;
    app.sweep_blobs();
    Ok(answer)
}

/// Body of `PUT …/breakout/assignments/{person}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The breakout room.
    pub breakout: RoomId,
}

/// Assign a person to a breakout room (while running, this moves them there at once).
#[utoipa::path(put, path = "/api/v1/rooms/{room}/breakout/assignments/{person}", tag = "breakout",
    params(("room" = RoomId, Path), ("person" = PersonId, Path)), request_body = AssignBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn assign(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<Done>, ApiError> {
    let person_id: PersonId = ids.get("person")?;
    let command = BreakoutCommand::Assign {
        person_id,
        breakout: Some(body.breakout),
    };
    done(&app, &auth, &ids, command).await
}

/// Unassign a person (while running, they go back to the main room).
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/breakout/assignments/{person}", tag = "breakout",
    params(("room" = RoomId, Path), ("person" = PersonId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn unassign(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<Done>, ApiError> {
    let person_id: PersonId = ids.get("person")?;
    done(
        &app,
        &auth,
        &ids,
        BreakoutCommand::Assign {
            person_id,
            breakout: None,
        },
    )
    .await
}

/// Clear every assignment (not while running).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/reset", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn reset(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Json<Done>, ApiError> {
    done(&app, &auth, &ids, BreakoutCommand::Reset).await
}

/// Start a round: automatic mode fills in the unassigned, everyone connected moves at once.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/start", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody),
              (status = 409, description = "disabled, no rooms, or already running", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn start(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Json<Done>, ApiError> {
    done(&app, &auth, &ids, BreakoutCommand::Start).await
}

/// Body of `POST …/breakout/stop`: without `rooms`, everyone comes back; with, only those rooms.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// Bring back only these breakout rooms.
    pub rooms: Option<Vec<RoomId>>,
}

/// Stop the round (everyone back to the main room), or bring back chosen rooms only.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/stop", tag = "breakout", params(("room" = RoomId, Path)),
    request_body(content = Option<StopBody>, description = "optional"),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn stop(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    body: axum::body::Bytes,
) -> Result<Json<Done>, ApiError> {
    // The body is optional: empty means "everyone back".
    let body: StopBody = super::error::optional_json(&body)?;
    let command = match body.rooms {
        Some(rooms) => BreakoutCommand::BringBack { rooms },
        None => BreakoutCommand::Stop,
    };
    done(&app, &auth, &ids, command).await
}

/// Body of `POST …/breakout/move`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// Who.
    pub person_id: PersonId,
    /// To which breakout room; null for the main room.
    pub breakout: Option<RoomId>,
}

/// Move a person to another breakout room (or to the main room) now.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/move", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = MoveBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn move_person(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<MoveBody>,
) -> Result<Json<Done>, ApiError> {
    let command = BreakoutCommand::Assign {
        person_id: body.person_id,
        breakout: body.breakout,
    };
    done(&app, &auth, &ids, command).await
}

/// Body of `POST …/breakout/broadcast`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// The message.
    pub text: String,
    /// An optional button: label and `http(s)` link (moderators only).
    pub cta: Option<CallToAction>,
    /// Send to this breakout room only (moderators only).
    pub breakout: Option<RoomId>,
}

/// Broadcast to every breakout room (chat message in each, banner for everyone), or message one room.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/broadcast", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = BroadcastBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn broadcast(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<BroadcastBody>,
) -> Result<Json<Done>, ApiError> {
    let text = validate::message_text(&body.text, app.config.limits.max_message_chars)?;
    let cta = body.cta.map(CallToAction::validate).transpose()?;
    let command = match body.breakout {
        Some(breakout) if cta.is_none() => BreakoutCommand::MessageRoom { breakout, text },
        Some(_) => {
            return Err(ApiError::invalid(
                "cta",
                "a call to action goes with a broadcast to all rooms",
            ));
        }
        None => BreakoutCommand::Broadcast { text, cta },
    };
    done(&app, &auth, &ids, command).await
}

/// Body of `POST …/breakout/join`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// The breakout room to go to.
    pub breakout: RoomId,
}

/// Go to a breakout room (moderators: any, any time; participants: as the settings allow).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/join", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = JoinBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn join(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<JoinBody>,
) -> Result<Json<Done>, ApiError> {
    done(
        &app,
        &auth,
        &ids,
        BreakoutCommand::Join {
            breakout: body.breakout,
        },
    )
    .await
}

/// Go back to the main room (participants: when allowed).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/leave", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn leave(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Json<Done>, ApiError> {
    done(&app, &auth, &ids, BreakoutCommand::Leave).await
}

/// Ask the moderators for help in the breakout room you are in (one open request per room).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/help", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 201, body = HelpRequest), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn ask_help(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<(StatusCode, Json<HelpRequest>), ApiError> {
    let (_, committed) = run(&app, &auth, &ids, BreakoutCommand::AskHelp).await?;
    let request = committed
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::HelpRequested { request, .. } => Some(request),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("asking for help produced no request"))?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// Body of `PATCH …/breakout/help/{request}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// `accept` (you join that room) or `dismiss`.
    pub action: HelpAction,
}

/// What a moderator does with a help request.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum HelpAction {
    /// Join the room.
    Accept,
    /// Close the request.
    Dismiss,
}

/// Accept (and join the room) or dismiss a help request (owners and moderators).
#[utoipa::path(patch, path = "/api/v1/rooms/{room}/breakout/help/{request}", tag = "breakout",
    params(("room" = RoomId, Path), ("request" = HelpId, Path)), request_body = AnswerBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn answer_help(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<Json<Done>, ApiError> {
    let id: HelpId = ids.get("request")?;
    let accept = matches!(body.action, HelpAction::Accept);
    done(
        &app,
        &auth,
        &ids,
        BreakoutCommand::AnswerHelp { id, accept },
    )
    .await
}
