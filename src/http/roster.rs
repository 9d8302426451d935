//! CSV pre-assignment: `GET …/breakout/template.csv`, `GET|POST …/breakout/assignments.csv`.
//!
//! An import is all or nothing: the file is parsed and every row checked (in `spawn_blocking`,
//! since 10,000 rows is real CPU work), addresses are matched to accounts and guests, and only a
//! file without a single problem becomes one breakout command. Otherwise the answer is a 422
//! whose `details` list every problem by row and column.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::dashboard::natural;
use super::error::{ApiError, PathIds};
use super::main_room::main_room;
use crate::App;
use crate::domain::breakout::BreakoutCommand;
use crate::domain::breakout::import::{ImportRow, Who};
use crate::domain::room::{Command, Event, RoomState};
use crate::domain::roster::{self, RowError};
use crate::ids::{PersonId, RoomId};
use crate::store::Person;

/// Largest CSV file: 10,000 rows of long names and addresses fit.
pub(super) const MAX_CSV_BYTES: usize = 8 << 20;

pub(super) fn router() -> Router<App> {
    let b = "/rooms/{room}/breakout";
    Router::new()
        .route(&format!("{b}/template.csv"), get(template))
        .route(
            &format!("{b}/assignments.csv"),
            get(export)
                .post(import)
                .layer(DefaultBodyLimit::max(MAX_CSV_BYTES)),
        )
}

/// What an import did.
#[derive(Serialize, ToSchema)]
pub struct ImportSummary {
    /// Rows read.
    pub rows: usize,
    /// Breakout rooms created.
    pub rooms_created: usize,
    /// Accounts added to the main room.
    pub members_added: usize,
    /// People assigned to a breakout room.
    pub assigned: usize,
    /// Addresses without an account, invited to their room.
    pub invited: usize,
    /// The stream position after the import.
    pub seq: u64,
}

/// One row of a roster: room name (or empty), display name, email.
pub(super) type Line = (String, String, String);

/// The rows of the current assignment: each assigned person, each breakout-only member in their
/// room, each pending invitation to a breakout room; with `everyone`, also the main room's
/// unassigned participants (room empty).
pub(super) async fn lines(
    app: &App,
    main: RoomId,
    me: PersonId,
    everyone: bool,
) -> Result<Vec<Line>, ApiError> {
    let (people, invited) = app
        .rooms
        .inspect(main, move |state: &RoomState, _| {
            if !state.manages(me) {
                return None;
            }
            let mut people: Vec<(PersonId, Option<RoomId>)> = state
                .breakout
                .assignments
                .iter()
                .map(|(p, r)| (*p, Some(*r)))
                .collect();
            // Breakout-only members (guests who followed an invitation) are in their room.
            for (room, members) in &state.members {
                if *room == main {
                    continue;
                }
                people.extend(
                    members
                        .keys()
                        .filter(|p| {
                            state.role(main, **p).is_none()
                                && !state.breakout.assignments.contains_key(*p)
                        })
                        .map(|p| (*p, Some(*room))),
                );
            }
            if everyone && let Some(members) = state.members.get(&main) {
                people.extend(
                    members
                        .values()
                        .filter(|m| {
                            m.role == crate::domain::Role::Participant
                                && !state.breakout.assignments.contains_key(&m.person_id)
                        })
                        .map(|m| (m.person_id, None)),
                );
            }
            let name = |room: Option<RoomId>| {
                room.and_then(|r| state.breakouts.get(&r))
                    .map(|r| r.name.clone())
                    .unwrap_or_default()
            };
            let people: Vec<(PersonId, String)> =
                people.into_iter().map(|(p, r)| (p, name(r))).collect();
            let invited: Vec<Line> = state
                .invitations
                .values()
                .filter(|i| state.breakouts.contains_key(&i.room_id))
                .map(|i| (name(Some(i.room_id)), String::new(), i.email.clone()))
                .collect();
            Some((people, invited))
        })
        .await?
        .ok_or_else(|| ApiError::forbidden("only owners and moderators export the assignment"))?;
    let ids: Vec<PersonId> = people.iter().map(|(p, _)| *p).collect();
    let known: HashMap<PersonId, Person> = app
        .store
        .people(&ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut lines: Vec<Line> = people
        .into_iter()
        .filter_map(|(id, room)| {
            let person = known.get(&id)?;
            Some((
                room,
                person.display_name.clone(),
                person.email.clone().unwrap_or_default(),
            ))
        })
        .chain(invited)
        .collect();
    lines.sort_by(|a, b| {
        let empty_last = |room: &str| (room.is_empty(), natural(room));
        empty_last(&a.0)
            .cmp(&empty_last(&b.0))
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    Ok(lines)
}

pub(super) fn csv_response(lines: Vec<Line>, file_name: &str) -> Response {
    let split: Vec<(String, (String, String), String)> = lines
        .into_iter()
        .map(|(room, name, email)| (room, roster::split_name(&name), email))
        .collect();
    let body = roster::write(split.iter().map(|(room, (first, last), email)| {
        [room.as_str(), first.as_str(), last.as_str(), email.as_str()]
    }));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The template to fill in: the header, and a row per main-room participant with their current
/// room (empty when unassigned). Owners and moderators.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/template.csv", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, description = "text/csv: room_name,first_name,last_name,email"), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn template(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Response, ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    Ok(csv_response(
        lines(&app, main, auth.person.id, true).await?,
        "breakout-template.csv",
    ))
}

/// The current assignment as CSV (the import format): assigned people and pending invitations.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/assignments.csv", tag = "breakout", params(("room" = RoomId, Path)),
    responses((status = 200, description = "text/csv: room_name,first_name,last_name,email"), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn export(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Response, ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    Ok(csv_response(
        lines(&app, main, auth.person.id, false).await?,
        "breakout-assignments.csv",
    ))
}

pub(super) fn rejected(errors: Vec<RowError>) -> ApiError {
    let message = match errors.as_slice() {
        [one] if one.row <= 1 => one.message.clone(),
        [one] => format!("row {}: {}; nothing was imported", one.row, one.message),
        _ => format!(
            "{} problems in the file; nothing was imported",
            errors.len()
        ),
    };
    ApiError {
        details: serde_json::to_value(&errors).ok(),
        field: Some("file".into()),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv", message)
    }
}

/// Replace the pre-assignment with a CSV file (`room_name,first_name,last_name,email`; header
/// required; UTF-8 with or without BOM; up to 10,000 rows). Rooms are created as needed, accounts
/// join the main room, unknown addresses are invited to their room (unless the administrator
/// turned that off), and people not in the file are unassigned. Any bad row rejects the whole
/// file: `details` lists every problem by row and column. Not while a round runs.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/assignments.csv", tag = "breakout", params(("room" = RoomId, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportSummary), (status = 403, body = super::error::ErrorBody),
              (status = 409, description = "a round is running", body = super::error::ErrorBody),
              (status = 422, description = "every problem, by row and column, in `details`", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn import(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    // Permission before anything is looked up: matching addresses against the accounts first
    // would tell any member which addresses have accounts here.
    let me = auth.person.id;
    if !app
        .rooms
        .inspect(main, move |state, _| state.manages(me))
        .await?
    {
        return Err(ApiError::forbidden(
            "only owners and moderators import the assignment",
        ));
    }
    let parsed = tokio::task::spawn_blocking(move || roster::read(&body))
        .await
        .map_err(ApiError::internal)?;
    // The format's problems and the matching's are reported together, every one at once.
    let (rows, errors) = parsed.map_err(|whole| rejected(vec![whole]))?;
    import_rows(&app, &auth, main, rows, errors).await.map(Json)
}

/// Matches rows to people and makes them the whole assignment (one breakout command), or answers
/// with every problem: `errors` already found in the file, and each address that cannot be
/// matched or invited. The caller has checked that `auth` manages `main`.
pub(super) async fn import_rows(
    app: &App,
    auth: &Auth,
    main: RoomId,
    rows: Vec<roster::Row>,
    mut errors: Vec<RowError>,
) -> Result<ImportSummary, ApiError> {
    let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    let mut known: HashMap<String, (PersonId, String, bool)> = HashMap::new();
    for guest in app.store.guests_of(main).await? {
        if let Some(email) = guest.email {
            known
                .entry(email)
                .or_insert((guest.id, guest.display_name, true));
        }
    }
    // An account wins over a guest invited at the same address.
    for account in app.store.accounts_by_email(&emails).await? {
        if let Some(email) = account.email {
            known.insert(email, (account.id, account.display_name, false));
        }
    }
    let invite_unknown = app.config.policy.csv_invite_unknown;
    let mut matched = Vec::with_capacity(rows.len());
    for row in &rows {
        let who = match known.get(&row.email) {
            Some((person_id, display_name, guest)) => Who::Person {
                person_id: *person_id,
                display_name: display_name.clone(),
                guest: *guest,
            },
            None if !invite_unknown => {
                errors.push(RowError::new(
                    row.line,
                    Some("email"),
                    format!(
                        "{} has no account, and inviting unknown addresses is turned off",
                        row.email
                    ),
                ));
                continue;
            }
            None if row.room.is_none() => {
                errors.push(RowError::new(
                    row.line,
                    Some("room_name"),
                    format!(
                        "{} has no account: name the breakout room to invite them to",
                        row.email
                    ),
                ));
                continue;
            }
            None => Who::Unknown {
                email: row.email.clone(),
            },
        };
        matched.push(ImportRow {
            room: row.room.clone(),
            who,
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(rejected(errors));
    }
    let unknown = matched
        .iter()
        .filter(|r| matches!(r.who, Who::Unknown { .. }))
        .count();
    super::invitations::spend_email_quota(app, auth, main, unknown).await?;
    let command = Command::Breakout(BreakoutCommand::Import { rows: matched });
    let committed = app.rooms.command(main, auth.caller(), command).await?;
    let mut summary = ImportSummary {
        rows: rows.len(),
        rooms_created: 0,
        members_added: 0,
        assigned: 0,
        invited: 0,
        seq: committed.seq,
    };
    for (_, event) in &committed.events {
        match event {
            Event::BreakoutRoomsCreated { rooms, .. } => summary.rooms_created = rooms.len(),
            Event::MembersAdded { members, .. } => summary.members_added = members.len(),
            Event::AssignmentsImported { assignments, .. } => summary.assigned = assignments.len(),
            Event::InvitationsCreated { invitations, .. } => summary.invited = invitations.len(),
            _ => {}
        }
    }
    if summary.invited > 0 {
        app.mailer.wake();
    }
    Ok(summary)
}
