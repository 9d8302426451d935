//! Planning rounds ahead, for owners and moderators of the main room only (anyone else who may
//! see the room gets 403, anyone else 404): group plans (`/api/v1/rooms/{room}/breakout/plans…`)
//! and rotation rounds (`…/breakout/rotate`, and a schedule of them that runs by itself:
//! `…/breakout/schedule`).
//!
//! A rotation plans the next round with `domain::rotation` from the rounds of this session that
//! the store keeps (those that ended in the last `rotation::SESSION_MS`), as one breakout command.
//!
//! A plan is a named, stored assignment (`domain::plan`): made from the current assignment, from
//! JSON or from a CSV file, edited without touching the live assignment, exported as CSV, and
//! loaded before a round — which is exactly the CSV import of its rows, so rooms are made by
//! name, addresses matched and unknown ones invited.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiQuery, PathIds};
use super::main_room::main_room;
use super::roster::{ImportSummary, MAX_CSV_BYTES, csv_response, import_rows, lines, rejected};
use crate::App;
use crate::domain::breakout::BreakoutCommand;
use crate::domain::plan::{self, GroupPlan, PlanPerson, PlanRoom};
use crate::domain::room::{Command, RoomState};
use crate::domain::roster;
use crate::ids::{PlanId, RoomId};
use crate::store::StoreError;

pub(super) fn router() -> Router<App> {
    let p = "/rooms/{room}/breakout/plans";
    Router::new()
        .route(p, get(list).post(create))
        .route(
            &format!("{p}/import"),
            post(import_csv).layer(DefaultBodyLimit::max(MAX_CSV_BYTES)),
        )
        .route(
            &format!("{p}/{{plan}}"),
            get(one).put(update).delete(remove),
        )
        .route(&format!("{p}/{{plan}}/csv"), get(export_csv))
        .route(&format!("{p}/{{plan}}/load"), post(load))
        .route("/rooms/{room}/breakout/rotate", post(rotate))
        .route(
            "/rooms/{room}/breakout/schedule",
            post(start_schedule).delete(stop_schedule),
        )
}

/// The main room named in the path, if the caller manages it.
async fn managed(app: &App, auth: &Auth, ids: &PathIds) -> Result<RoomId, ApiError> {
    let main = main_room(app, ids, auth.person.id).await?;
    let me = auth.person.id;
    if app.rooms.inspect(main, move |s, _| s.manages(me)).await? {
        Ok(main)
    } else {
        Err(ApiError::forbidden(
            "only owners and moderators prepare group plans",
        ))
    }
}

/// The plan named in the path, in the main room.
async fn find(app: &App, main: RoomId, ids: &PathIds) -> Result<GroupPlan, ApiError> {
    let id: PlanId = ids.get("plan")?;
    app.store
        .plans(main)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(ApiError::not_found("plan"))
}

fn stored(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict("plan name") => ApiError {
            field: Some("name".into()),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "plan_name_taken",
                "name: this main room already has a plan of that name",
            )
        },
        StoreError::Conflict("plans") => ApiError::new(
            StatusCode::CONFLICT,
            "too_many_plans",
            format!(
                "a main room keeps at most {} plans: delete one first",
                plan::MAX_PLANS
            ),
        ),
        other => other.into(),
    }
}

/// The group plans of a main room, by name.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/plans", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = Vec<GroupPlan>), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<Vec<GroupPlan>>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    Ok(Json(app.store.plans(main).await?))
}

/// Body of `POST …/plans`: a name, and either the rooms or `from_current: true` (the current
/// assignment: every breakout room, with whoever is assigned to it, is a member of it, or is
/// invited to it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// The plan's name, unique in the main room.
    pub name: String,
    /// Its rooms.
    pub rooms: Option<Vec<PlanRoom>>,
    /// Save the current assignment instead.
    #[serde(default)]
    pub from_current: bool,
}

/// Save a plan: the current assignment, or the rooms given.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/plans", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = NewPlan,
    responses((status = 201, body = GroupPlan), (status = 403, body = super::error::ErrorBody),
              (status = 409, description = "the name is taken, or the room keeps the most plans it may", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<NewPlan>,
) -> Result<(StatusCode, Json<GroupPlan>), ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let rooms = match (body.rooms, body.from_current) {
        (Some(rooms), false) => rooms,
        (None, true) => current(&app, &auth, main).await?,
        _ => {
            return Err(ApiError::invalid(
                "rooms",
                "give either rooms or from_current: true",
            ));
        }
    };
    save_new(&app, &auth, main, &body.name, rooms).await
}

async fn save_new(
    app: &App,
    auth: &Auth,
    main: RoomId,
    name: &str,
    rooms: Vec<PlanRoom>,
) -> Result<(StatusCode, Json<GroupPlan>), ApiError> {
    let (name, rooms) = plan::validate(name, rooms, app.config.limits.max_breakout_rooms)?;
    let now = app.clock.now_ms();
    let created = GroupPlan {
        id: PlanId::new(),
        name,
        rooms,
        created_at: now,
        updated_at: now,
    };
    app.store
        .create_plan(main, &created, auth.person.id)
        .await
        .map_err(stored)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The current assignment as a plan's rooms: every breakout room in creation order, with the
/// people the CSV export lists in it. People without an address cannot be named in a plan.
async fn current(app: &App, auth: &Auth, main: RoomId) -> Result<Vec<PlanRoom>, ApiError> {
    let names = app
        .rooms
        .inspect(main, |state: &RoomState, _| {
            let mut rooms: Vec<_> = state.breakouts.values().collect();
            rooms.sort_by_key(|r| (r.created_at, r.id));
            rooms.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
        })
        .await?;
    let mut rooms: Vec<PlanRoom> = names
        .into_iter()
        .map(|name| PlanRoom {
            name,
            people: Vec::new(),
        })
        .collect();
    for (room, display_name, email) in lines(app, main, auth.person.id, false).await? {
        if email.is_empty() {
            continue;
        }
        let (first_name, last_name) = roster::split_name(&display_name);
        if let Some(r) = rooms.iter_mut().find(|r| r.name == room) {
            r.people.push(PlanPerson {
                email,
                first_name,
                last_name,
            });
        }
    }
    Ok(rooms)
}

/// Query of `POST …/plans/import`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The new plan's name.
    pub name: String,
}

/// Save a CSV file (the pre-assignment format) as a new plan, without loading it. Any bad row
/// rejects the file: `details` lists every problem by row and column. Rows without a room are
/// left out of the plan (loading a plan leaves whoever it does not name unassigned).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/plans/import", tag = "breakout",
    params(("room" = RoomId, Path), ImportQuery), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = GroupPlan), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn import_csv(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiQuery(query): ApiQuery<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<GroupPlan>), ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let parsed = tokio::task::spawn_blocking(move || roster::read(&body))
        .await
        .map_err(ApiError::internal)?;
    let (rows, errors) = parsed.map_err(|whole| rejected(vec![whole]))?;
    if !errors.is_empty() {
        return Err(rejected(errors));
    }
    save_new(&app, &auth, main, &query.name, plan::rooms_from_rows(&rows)).await
}

/// One plan.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/plans/{plan}", tag = "breakout",
    params(("room" = RoomId, Path), ("plan" = PlanId, Path)),
    responses((status = 200, body = GroupPlan), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn one(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<GroupPlan>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    Ok(Json(find(&app, main, &ids).await?))
}

/// Body of `PUT …/plans/{plan}`: what changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChanges {
    /// A new name.
    pub name: Option<String>,
    /// New rooms (all of them).
    pub rooms: Option<Vec<PlanRoom>>,
}

/// Edit a plan (its name, its rooms or both). The live assignment does not change.
#[utoipa::path(put, path = "/api/v1/rooms/{room}/breakout/plans/{plan}", tag = "breakout",
    params(("room" = RoomId, Path), ("plan" = PlanId, Path)), request_body = PlanChanges,
    responses((status = 200, body = GroupPlan), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn update(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(changes): ApiJson<PlanChanges>,
) -> Result<Json<GroupPlan>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let old = find(&app, main, &ids).await?;
    let (name, rooms) = plan::validate(
        changes.name.as_deref().unwrap_or(&old.name),
        changes.rooms.unwrap_or(old.rooms),
        app.config.limits.max_breakout_rooms,
    )?;
    let changed = GroupPlan {
        name,
        rooms,
        updated_at: app.clock.now_ms(),
        ..old
    };
    if !app
        .store
        .update_plan(main, &changed)
        .await
        .map_err(stored)?
    {
        return Err(ApiError::not_found("plan"));
    }
    Ok(Json(changed))
}

/// Delete a plan.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/breakout/plans/{plan}", tag = "breakout",
    params(("room" = RoomId, Path), ("plan" = PlanId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn remove(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<StatusCode, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let id: PlanId = ids.get("plan")?;
    if app.store.delete_plan(main, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("plan"))
    }
}

/// A plan as a CSV file (the pre-assignment format), to edit elsewhere or import later.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/plans/{plan}/csv", tag = "breakout",
    params(("room" = RoomId, Path), ("plan" = PlanId, Path)),
    responses((status = 200, description = "text/csv: room_name,first_name,last_name,email"), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn export_csv(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Response, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let found = find(&app, main, &ids).await?;
    let lines = plan::rows(&found.rooms)
        .into_iter()
        .map(|row| {
            let name = format!("{} {}", row.first_name, row.last_name);
            (
                row.room.unwrap_or_default(),
                name.trim().to_owned(),
                row.email,
            )
        })
        .collect();
    Ok(csv_response(lines, "breakout-plan.csv"))
}

/// Load a plan: it becomes the whole assignment, exactly as importing its CSV file would (rooms
/// made by name, accounts and guests matched by address, unknown addresses invited, everyone
/// else unassigned); then any room of the plan without people that does not exist is made too.
/// Not while a round runs.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/plans/{plan}/load", tag = "breakout",
    params(("room" = RoomId, Path), ("plan" = PlanId, Path)),
    responses((status = 200, body = ImportSummary), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "a round is running", body = super::error::ErrorBody),
              (status = 422, description = "an address cannot be matched or invited", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn load(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<ImportSummary>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let found = find(&app, main, &ids).await?;
    let mut summary = import_rows(&app, &auth, main, plan::rows(&found.rooms), Vec::new()).await?;
    // The import made every room that has people; the plan's empty rooms are made after it. A
    // failure here leaves the assignment loaded and says so.
    let existing = app
        .rooms
        .inspect_after(main, summary.seq, |state: &RoomState, _| {
            state
                .breakouts
                .values()
                .map(|r| r.name.clone())
                .collect::<std::collections::HashSet<_>>()
        })
        .await?;
    let missing: Vec<String> = found
        .rooms
        .iter()
        .filter(|r| !existing.contains(&r.name))
        .map(|r| r.name.clone())
        .collect();
    if !missing.is_empty() {
        let command = Command::Breakout(BreakoutCommand::CreateRooms {
            count: None,
            names: Some(missing.clone()),
        });
        let committed = app.rooms.command(main, auth.caller(), command).await?;
        summary.rooms_created += missing.len();
        summary.seq = committed.seq;
    }
    Ok(Json(summary))
}

/// What a rotation did.
#[derive(serde::Serialize, ToSchema)]
pub struct Rotated {
    /// The stream position after it.
    pub seq: u64,
    /// People placed.
    pub placed: usize,
    /// Breakout rooms made for it.
    pub rooms_created: usize,
    /// Over the pairs who now share a room, the rounds of this session they already shared.
    pub repeats: u32,
    /// How far the balanced attribute is from even (0: as even as it can be).
    pub imbalance: u32,
    /// Earlier rounds of this session taken into account.
    pub rounds_considered: usize,
}

/// Plan the next round as a rotation: the main room's participants (or those connected) placed
/// in `rooms` rooms, or rooms of at most `size`, so that they meet as few of the same people
/// again as possible, keeping `together` and `apart` groups and spreading `attribute` evenly.
/// Rooms are made as needed. Not during a round.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/rotate", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = crate::domain::breakout::rotate::Rotation,
    responses((status = 200, body = Rotated), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "a round is running", body = super::error::ErrorBody),
              (status = 422, description = "bad rooms or size, or constraints that cannot be kept", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn rotate(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(mut rotation): ApiJson<crate::domain::breakout::rotate::Rotation>,
) -> Result<Json<Rotated>, ApiError> {
    use crate::domain::room::Event;
    use crate::domain::rotation::{self, Met};
    let main = managed(&app, &auth, &ids).await?;
    by_email(&app, main, &mut rotation).await?;
    let since = app.clock.now_ms() - rotation::SESSION_MS;
    let history = app.store.rounds(main, since).await?;
    let met = Met::of(&history);
    let rounds_considered = history.len();
    let present_only = rotation.present_only;
    let attribute = rotation.attribute.clone();
    let command = Command::Breakout(BreakoutCommand::Rotate { rotation, history });
    let committed = app.rooms.command(main, auth.caller(), command).await?;
    let placed: Vec<_> = app
        .rooms
        .inspect_after(main, committed.seq, move |state: &RoomState, _| {
            crate::domain::breakout::rotate::people(state, present_only)
        })
        .await?;
    let placed: std::collections::HashSet<_> = placed.into_iter().collect();
    let mut rooms_created = 0;
    let mut by_room: std::collections::BTreeMap<RoomId, Vec<crate::ids::PersonId>> =
        Default::default();
    for (_, event) in &committed.events {
        match event {
            Event::BreakoutRoomsCreated { rooms, .. } => rooms_created = rooms.len(),
            Event::AssignmentsImported { assignments, .. } => {
                for a in assignments.iter().filter(|a| placed.contains(&a.person_id)) {
                    by_room.entry(a.breakout).or_default().push(a.person_id);
                }
            }
            _ => {}
        }
    }
    let rooms: Vec<Vec<crate::ids::PersonId>> = by_room.into_values().collect();
    Ok(Json(Rotated {
        seq: committed.seq,
        placed: rooms.iter().map(Vec::len).sum(),
        rooms_created,
        repeats: met.repeats(&rooms),
        imbalance: rotation::imbalance(&rooms, &attribute),
        rounds_considered,
    }))
}

/// A schedule started or stopped.
#[derive(serde::Serialize, ToSchema)]
pub struct ScheduleDone {
    /// The stream position after it.
    pub seq: u64,
}

/// Start a schedule of rotation rounds that runs by itself: `rounds` rounds of `duration_secs`
/// (then the countdown setting), `break_secs` in the main room between them, each planned as a
/// rotation (`rotation`, as for `…/rotate`). The first round starts now. Not during a round.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/schedule", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = crate::domain::breakout::schedule::ScheduleRequest,
    responses((status = 200, body = ScheduleDone), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "a round or a schedule is running, or breakout rooms are off", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn start_schedule(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(mut request): ApiJson<crate::domain::breakout::schedule::ScheduleRequest>,
) -> Result<Json<ScheduleDone>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    by_email(&app, main, &mut request.rotation).await?;
    let since = app.clock.now_ms() - crate::domain::rotation::SESSION_MS;
    let history = app.store.rounds(main, since).await?;
    let command = Command::Breakout(BreakoutCommand::Schedule { request, history });
    let committed = app.rooms.command(main, auth.caller(), command).await?;
    Ok(Json(ScheduleDone { seq: committed.seq }))
}

/// Turns a rotation's `attribute_by_email` into `attribute`: each address is that of someone in
/// this main room, a member of it or of one of its breakout rooms, or a guest (any other is
/// refused, naming it, whether or not it has an account elsewhere); empty values are left out.
async fn by_email(
    app: &App,
    main: RoomId,
    rotation: &mut crate::domain::breakout::rotate::Rotation,
) -> Result<(), ApiError> {
    let given = std::mem::take(&mut rotation.attribute_by_email);
    if given.is_empty() {
        return Ok(());
    }
    if given.len() > crate::domain::breakout::rotate::MAX_SIZE as usize {
        return Err(ApiError::invalid(
            "attribute_by_email",
            "at most 10000 addresses",
        ));
    }
    let wanted: Vec<(String, String)> = given
        .into_iter()
        .map(|(email, value)| (email.trim().to_lowercase(), value.trim().to_owned()))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let emails: Vec<String> = wanted.iter().map(|(e, _)| e.clone()).collect();
    let here: std::collections::HashSet<crate::ids::PersonId> = app
        .rooms
        .inspect(main, |state, _| {
            state
                .members
                .values()
                .flat_map(|m| m.keys().copied())
                .collect()
        })
        .await?;
    let known: std::collections::HashMap<String, crate::ids::PersonId> = app
        .store
        .accounts_by_email(&emails)
        .await?
        .into_iter()
        .chain(app.store.guests_of(main).await?)
        .filter(|p| here.contains(&p.id))
        .filter_map(|p| Some((p.email?, p.id)))
        .collect();
    let unknown: Vec<&str> = wanted
        .iter()
        .filter(|(e, _)| !known.contains_key(e))
        .map(|(e, _)| e.as_str())
        .collect();
    if !unknown.is_empty() {
        let shown = unknown
            .iter()
            .take(5)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = unknown.len().saturating_sub(5);
        return Err(ApiError::invalid(
            "attribute_by_email",
            format!(
                "nobody in this room has {shown}{}",
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    for (email, value) in wanted {
        if let Some(person) = known.get(&email) {
            rotation.attribute.insert(*person, value);
        }
    }
    Ok(())
}

/// Stop the schedule: no more rounds start, and the round under way ends now.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/breakout/schedule", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, body = ScheduleDone), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn stop_schedule(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<ScheduleDone>, ApiError> {
    let main = managed(&app, &auth, &ids).await?;
    let command = Command::Breakout(BreakoutCommand::StopSchedule);
    let committed = app.rooms.command(main, auth.caller(), command).await?;
    Ok(Json(ScheduleDone { seq: committed.seq }))
}
