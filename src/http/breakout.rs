//! Breakout rooms: `/api/v1/rooms/{room}/breakout/…`. Every route is one breakout command on the
//! main room's actor (or a read of its state); the rules live in `domain::breakout`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, PathIds};
use super::views::RoomNameRequest;
use crate::App;
use crate::domain::Role;
use crate::domain::breakout::{
    BreakoutCommand, BreakoutConfig, CallToAction, ConfigChanges, HelpRequest, Status,
};
use crate::domain::room::{Command, Event, RoomInfo, RoomState};
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

/// A breakout room on the dashboard.
#[derive(Serialize, ToSchema)]
pub struct DashboardRoom {
    /// Id.
    pub id: RoomId,
    /// Own name.
    pub name: String,
    /// `Main : Breakout`.
    pub title: String,
    /// Brought back (closed) during this round.
    pub closed: bool,
    /// Who is assigned here.
    pub assigned: Vec<PersonId>,
    /// Who is in the room right now.
    pub present: Vec<PersonId>,
    /// Its task and the result handed in: for owners and moderators, and for the room's people
    /// while a round runs.
    pub activity: Option<super::activities::ActivityView>,
}

/// A person on the dashboard.
#[derive(Serialize, ToSchema)]
pub struct DashboardPerson {
    /// Id.
    pub person_id: PersonId,
    /// Display name.
    pub display_name: String,
    /// Role in the main room (absent for breakout-only members).
    pub role: Option<Role>,
    /// Their breakout room, if assigned.
    pub assignment: Option<RoomId>,
    /// Where they are now, if connected.
    pub location: Option<RoomId>,
}

/// The whole breakout session of a main room, as the caller may see it.
#[derive(Serialize, ToSchema)]
#[schema(as = BreakoutSession)]
pub struct SessionView {
    /// The main room.
    pub room: RoomId,
    /// The stream position this view reflects.
    pub seq: u64,
    /// Whether the caller owns or moderates the main room (and so sees the controls).
    pub can_manage: bool,
    /// Settings.
    pub settings: BreakoutConfig,
    /// `idle`, `running` or `closing`.
    pub status: Status,
    /// Rounds started so far.
    pub round: u32,
    /// When the current round started.
    pub started_at: Option<i64>,
    /// When the countdown starts.
    pub ends_at: Option<i64>,
    /// When the rooms close.
    pub closes_at: Option<i64>,
    /// Breakout rooms the caller may see, by name.
    pub rooms: Vec<DashboardRoom>,
    /// Everyone, for a main-room member; for a breakout-only member or guest, the people of their
    /// own room only (its members and whoever is assigned to it or in it), without roles.
    pub people: Vec<DashboardPerson>,
    /// Open help requests (all for moderators; the caller's own for others).
    pub help: Vec<HelpRequest>,
    /// A schedule of rotation rounds under way: rounds, done, the break's end. Its rotation
    /// (constraints, attributes) only for owners and moderators.
    pub schedule: Option<ScheduleView>,
}

/// A schedule of rotation rounds, as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    /// Rounds in all.
    pub rounds: u32,
    /// Rounds finished.
    pub done: u32,
    /// Each round's length in seconds.
    pub duration_secs: u32,
    /// Seconds between rounds.
    pub break_secs: u32,
    /// During a break: when the next round starts.
    pub next_at: Option<i64>,
    /// How each round is planned (owners and moderators only).
    pub rotation: Option<crate::domain::breakout::rotate::Rotation>,
}

fn session_view(state: &RoomState, seq: u64, me: PersonId) -> Option<SessionView> {
    if !state.has_access(me) {
        return None;
    }
    let main = state.id();
    let manages = state.manages(me);
    let main_member = state.role(main, me).is_some();
    let s = &state.breakout;
    let visible = |room: RoomId| main_member || state.can_see(room, me);
    let mut rooms: Vec<DashboardRoom> = state
        .breakouts
        .values()
        .filter(|r| visible(r.id))
        .map(|r| DashboardRoom {
            id: r.id,
            name: r.name.clone(),
            title: state.title(r.id).unwrap_or_default(),
            closed: s.closed.contains(&r.id),
            assigned: sorted(
                s.assignments
                    .iter()
                    .filter(|(_, b)| **b == r.id)
                    .map(|(p, _)| *p),
            ),
            present: sorted(
                state
                    .locations
                    .iter()
                    .filter(|(_, l)| **l == r.id)
                    .map(|(p, _)| *p),
            ),
            activity: super::activities::activity_view(state, r.id, me),
        })
        .collect();
    // Creation order, as the main room lists them: a rename never moves a card.
    rooms.sort_by_key(|r| {
        let created = state.room(r.id).map_or(0, |info| info.created_at);
        (created, r.id)
    });
    // A main-room member sees everyone. A breakout-only member or guest sees their own room and
    // who is in it (its members, and whoever is assigned to it or in it now), with no roles and
    // nothing of where anyone is outside it.
    let shown = |room: Option<RoomId>| room.filter(|r| main_member || visible(*r));
    let mut people: Vec<DashboardPerson> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (room, members) in &state.members {
        for m in members.values() {
            let (assignment, location) = (
                s.assignments.get(&m.person_id).copied(),
                state.locations.get(&m.person_id).copied(),
            );
            let belongs = if *room == main {
                main_member || shown(assignment).is_some() || shown(location).is_some()
            } else {
                visible(*room)
            };
            if belongs && seen.insert(m.person_id) {
                people.push(DashboardPerson {
                    person_id: m.person_id,
                    display_name: m.display_name.clone(),
                    role: state.role(main, m.person_id).filter(|_| main_member),
                    assignment: shown(assignment),
                    location: shown(location),
                });
            }
        }
    }
    people.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.person_id.cmp(&b.person_id))
    });
    let help = s
        .help
        .values()
        .filter(|h| manages || h.person_id == me)
        .cloned()
        .collect();
    Some(SessionView {
        room: main,
        seq,
        can_manage: manages,
        settings: s.config.clone(),
        status: s.status,
        round: s.round,
        started_at: s.started_at,
        ends_at: s.ends_at,
        closes_at: s.closes_at,
        rooms,
        people,
        help,
        schedule: s.schedule.as_ref().map(|x| ScheduleView {
            rounds: x.rounds,
            done: x.done,
            duration_secs: x.duration_secs,
            break_secs: x.break_secs,
            next_at: x.next_at,
            rotation: manages.then(|| x.rotation.clone()),
        }),
    })
}

fn sorted(ids: impl Iterator<Item = PersonId>) -> Vec<PersonId> {
    let mut v: Vec<PersonId> = ids.collect();
    v.sort();
    v
}

/// Sort key that puts "Room 2" before "Room 10".
pub(super) fn natural(name: &str) -> (String, u64) {
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let number = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (
        name.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_owned(),
        number,
    )
}

/// The main room named in the path, refusing a breakout room's id.
pub(super) async fn main_room(app: &App, ids: &PathIds, me: PersonId) -> Result<RoomId, ApiError> {
    let room: RoomId = ids.get("room")?;
    let is_main = app
        .rooms
        .inspect(room, move |state, _| {
            state.has_access(me).then(|| state.id() == room)
        })
        .await?;
    match is_main {
        Some(true) => Ok(room),
        Some(false) => Err(ApiError::not_found("room")),
        None => Err(ApiError::not_found("room")),
    }
}

/// Runs a breakout command on the main room named in the path.
async fn run(
    app: &App,
    auth: &Auth,
    ids: &PathIds,
    command: BreakoutCommand,
) -> Result<(RoomId, crate::contract::Committed), ApiError> {
    let room = main_room(app, ids, auth.person.id).await?;
    let committed = app
        .rooms
        .command(room, auth.caller(), Command::Breakout(command))
        .await?;
    Ok((room, committed))
}

/// Runs a command and answers where the stream is after it.
async fn done(
    app: &App,
    auth: &Auth,
    ids: &PathIds,
    command: BreakoutCommand,
) -> Result<Json<Done>, ApiError> {
    let (_, committed) = run(app, auth, ids, command).await?;
    Ok(Json(Done { seq: committed.seq }))
}

/// Where the stream is after a command.
#[derive(Serialize, ToSchema)]
pub struct Done {
    /// The main room's stream position after the command.
    pub seq: u64,
}

/// The breakout session: settings, rooms, who is assigned and who is where, the timer, help.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn session(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<SessionView>, ApiError> {
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
    responses((status = 200, body = SessionView), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn configure(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(changes): ApiJson<ConfigChanges>,
) -> Result<Json<SessionView>, ApiError> {
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
