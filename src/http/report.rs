//! The session report: `GET /api/v1/rooms/{room}/breakout/report` (JSON) and `…/report.csv`.
//! Who was in which room of a main room, when and for how long, who was in the call with camera
//! and microphone on, who waited how long for help, and the broadcasts, over a time window (by
//! default the last 24 hours; the UI asks for one day): the stays the store keeps
//! (`domain::report`) and, for whoever is still there, the stays under way up to now. Owners and
//! moderators see everyone; anyone else who may see the room sees their own row (and their own
//! broadcasts, if participants may send them); anyone else gets 404.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::breakout::main_room;
use super::error::{ApiError, ApiQuery, PathIds};
use crate::App;
use crate::auth::Auth;
use crate::domain::report::{Kind, Stay};
use crate::domain::room::RoomState;
use crate::domain::roster::spreadsheet_safe;
use crate::ids::{PersonId, RoomId};
use crate::store::StayRow;

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms/{room}/breakout/report", get(report))
        .route("/rooms/{room}/breakout/report.csv", get(report_csv))
}

/// The window of a report.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// From (milliseconds since the Unix epoch); default: 24 hours before `to`.
    #[param(minimum = 0, maximum = 4_102_444_800_000_i64)]
    pub from: Option<i64>,
    /// Until; default: now.
    #[param(minimum = 0, maximum = 4_102_444_800_000_i64)]
    pub to: Option<i64>,
}

/// The latest moment a window may name: the start of 2100.
const LATEST: i64 = 4_102_444_800_000;

/// A room in the report.
#[derive(Serialize, ToSchema)]
pub struct ReportRoom {
    /// Id.
    pub id: RoomId,
    /// Name (as it was, for a room deleted since).
    pub name: String,
}

/// Time in one room.
#[derive(Serialize, ToSchema)]
pub struct RoomTime {
    /// The room.
    pub room_id: RoomId,
    /// Milliseconds there within the window.
    pub ms: i64,
}

/// One person's row.
#[derive(Serialize, ToSchema)]
pub struct ReportPerson {
    /// Who.
    pub person_id: PersonId,
    /// Their display name.
    pub display_name: String,
    /// Milliseconds connected within the window (the sum of `by_room`).
    pub connected_ms: i64,
    /// Time per room, most first.
    pub by_room: Vec<RoomTime>,
    /// Each stay in a room, clipped to the window, in order.
    pub stays: Vec<Stay>,
    /// Milliseconds in the call within the window.
    pub call_ms: i64,
    /// Milliseconds with the camera on.
    pub camera_ms: i64,
    /// Milliseconds with the microphone on.
    pub mic_ms: i64,
    /// Each stay in the call, with camera on, with microphone on, clipped to the window, in order.
    pub call: Vec<Stay>,
    /// Each wait for help, in order.
    pub help: Vec<HelpWait>,
}

/// A help request and how long its room waited.
#[derive(Serialize, ToSchema)]
pub struct HelpWait {
    /// The breakout room that asked.
    pub room_id: RoomId,
    /// When it asked.
    pub from: i64,
    /// When the wait ended (now, if it still waits).
    pub to: i64,
    /// Milliseconds waited (within the window).
    pub waited_ms: i64,
    /// How it ended: `accepted by …`, `dismissed by …`, `unanswered`, or `waiting`.
    pub outcome: String,
}

/// A broadcast to every breakout room.
#[derive(Serialize, ToSchema)]
pub struct BroadcastRow {
    /// Who sent it.
    pub person_id: PersonId,
    /// Their display name.
    pub display_name: String,
    /// When.
    pub at: i64,
    /// The text.
    pub text: String,
}

/// The session report of a main room.
#[derive(Serialize, ToSchema)]
pub struct Report {
    /// The main room.
    pub room: RoomId,
    /// The window's start.
    pub from: i64,
    /// Its end.
    pub to: i64,
    /// The main room first, then every room someone stayed in.
    pub rooms: Vec<ReportRoom>,
    /// A row per person, by name (only the caller's own for participants).
    pub people: Vec<ReportPerson>,
    /// The broadcasts, in order.
    pub broadcasts: Vec<BroadcastRow>,
}

async fn build(app: &App, auth: &Auth, ids: &PathIds, window: Window) -> Result<Report, ApiError> {
    for (field, value) in [("from", window.from), ("to", window.to)] {
        if value.is_some_and(|v| !(0..=LATEST).contains(&v)) {
            return Err(ApiError::invalid(
                field,
                "must be milliseconds since 1970, before the year 2100",
            ));
        }
    }
    let main = main_room(app, ids, auth.person.id).await?;
    let now = app.clock.now_ms();
    let to = window.to.unwrap_or(now);
    let from = window.from.unwrap_or(to - 86_400_000);
    if from >= to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    let kept = app.config.policy.report_retention.as_millis() as i64;
    if to - from > kept {
        return Err(ApiError::invalid(
            "from",
            format!(
                "a report covers at most {} days (the time stays are kept)",
                kept / 86_400_000
            ),
        ));
    }
    let me = auth.person.id;
    let (manages, main_name) = app
        .rooms
        .inspect(main, move |state: &RoomState, _| {
            (state.manages(me), state.main.name.clone())
        })
        .await?;
    // Not in the store yet: the stays that ended since the last write, and those under way, as
    // if they ended now; the room's owner has them (in a cluster, perhaps another node).
    let open = app.rooms.under_way(main).await?;
    let mut rows = app.store.stays(main, from, to).await?;
    // A stay being written may be both in the store and among those not written yet: once.
    let stored: std::collections::HashSet<Stay> = rows.iter().map(|r| r.stay).collect();
    rows.extend(open.into_iter().filter(|r| !stored.contains(&r.stay)));
    if !manages {
        rows.retain(|r| r.stay.person_id == me);
    }
    // Clipped to the window, in time order; a broadcast has no length.
    let mut rows: Vec<StayRow> = rows
        .into_iter()
        .filter_map(|mut r| {
            if r.stay.kind == Kind::Broadcast {
                return (from..to).contains(&r.stay.from).then_some(r);
            }
            r.stay.from = r.stay.from.max(from);
            r.stay.to = r.stay.to.min(to);
            (r.stay.to > r.stay.from).then_some(r)
        })
        .collect();
    rows.sort_by_key(|r| (r.stay.from, r.stay.person_id));

    let mut names: BTreeMap<RoomId, String> = BTreeMap::new();
    for r in &rows {
        names
            .entry(r.stay.room_id)
            .or_insert_with(|| r.room_name.clone());
    }
    let mut rooms = vec![ReportRoom {
        id: main,
        name: main_name,
    }];
    rooms.extend(
        names
            .into_iter()
            .filter(|(id, _)| *id != main)
            .map(|(id, name)| ReportRoom { id, name }),
    );

    let ids: Vec<PersonId> = {
        let mut v: Vec<PersonId> = rows.iter().map(|r| r.stay.person_id).collect();
        v.sort();
        v.dedup();
        v
    };
    let open_help: std::collections::HashSet<Stay> = rows
        .iter()
        .filter(|r| r.stay.kind == Kind::Help && r.detail.is_empty())
        .map(|r| r.stay)
        .collect();
    let display: HashMap<PersonId, String> = app
        .store
        .people(&ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p.display_name))
        .collect();
    let mut people: Vec<ReportPerson> = ids
        .into_iter()
        .filter(|person| manages || *person == me)
        .map(|person| {
            let mine = || rows.iter().filter(move |r| r.stay.person_id == person);
            let of = |kind: Kind| mine().filter(move |r| r.stay.kind == kind).map(|r| r.stay);
            let stays: Vec<Stay> = of(Kind::Room).collect();
            let total = |kind: Kind| of(kind).map(|s| s.to - s.from).sum::<i64>();
            let call: Vec<Stay> = mine()
                .map(|r| r.stay)
                .filter(|s| matches!(s.kind, Kind::Call | Kind::Camera | Kind::Mic))
                .collect();
            let help: Vec<HelpWait> = mine()
                .filter(|r| r.stay.kind == Kind::Help)
                .map(|r| HelpWait {
                    room_id: r.stay.room_id,
                    from: r.stay.from,
                    to: r.stay.to,
                    waited_ms: r.stay.to - r.stay.from,
                    outcome: if open_help.contains(&r.stay) {
                        "waiting".to_owned()
                    } else {
                        r.detail.clone()
                    },
                })
                .collect();
            let mut by_room: HashMap<RoomId, i64> = HashMap::new();
            for s in &stays {
                *by_room.entry(s.room_id).or_default() += s.to - s.from;
            }
            let mut by_room: Vec<RoomTime> = by_room
                .into_iter()
                .map(|(room_id, ms)| RoomTime { room_id, ms })
                .collect();
            by_room.sort_by_key(|t| (std::cmp::Reverse(t.ms), t.room_id));
            ReportPerson {
                person_id: person,
                display_name: display.get(&person).cloned().unwrap_or_default(),
                connected_ms: by_room.iter().map(|t| t.ms).sum(),
                by_room,
                stays,
                call_ms: total(Kind::Call),
                camera_ms: total(Kind::Camera),
                mic_ms: total(Kind::Mic),
                call,
                help,
            }
        })
        .filter(|p| p.connected_ms > 0 || !p.call.is_empty() || !p.help.is_empty())
        .collect();
    let broadcasts = rows
        .iter()
        .filter(|r| r.stay.kind == Kind::Broadcast)
        .map(|r| BroadcastRow {
            person_id: r.stay.person_id,
            display_name: display.get(&r.stay.person_id).cloned().unwrap_or_default(),
            at: r.stay.from,
            text: r.detail.clone(),
        })
        .collect();
    people.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.person_id.cmp(&b.person_id))
    });
    Ok(Report {
        room: main,
        from,
        to,
        rooms,
        people,
        broadcasts,
    })
}

/// The session report: who was in which room, when, for how long.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/report", tag = "breakout", params(("room" = RoomId, Path), Window),
    responses((status = 200, body = Report), (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn report(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(build(&app, &auth, &ids, window).await?))
}

/// The session report as CSV: a row per stay (`person,what,room,from,to,minutes,detail`, times in
/// UTC; `what` is `room`, `call`, `camera`, `mic`, `help` or `broadcast`).
#[utoipa::path(get, path = "/api/v1/rooms/{room}/breakout/report.csv", tag = "breakout", params(("room" = RoomId, Path), Window),
    responses((status = 200, description = "text/csv: person,what,room,from,to,minutes,detail"), (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn report_csv(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Response, ApiError> {
    let report = build(&app, &auth, &ids, window).await?;
    let room_name: HashMap<RoomId, &str> = report
        .rooms
        .iter()
        .map(|r| (r.id, r.name.as_str()))
        .collect();
    let time = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(["person", "what", "room", "from", "to", "minutes", "detail"]);
    let mut write = |who: &str, kind: Kind, room: RoomId, (from, to): (i64, i64), detail: &str| {
        // Names and details are people's text: never a formula in a spreadsheet.
        let _ = writer.write_record([
            &*spreadsheet_safe(who),
            kind.as_str(),
            &*spreadsheet_safe(room_name.get(&room).copied().unwrap_or_default()),
            &time(from),
            &time(to),
            &format!("{:.1}", (to - from) as f64 / 60_000.0),
            &*spreadsheet_safe(detail),
        ]);
    };
    for person in &report.people {
        let who = person.display_name.as_str();
        for stay in person.stays.iter().chain(&person.call) {
            write(who, stay.kind, stay.room_id, (stay.from, stay.to), "");
        }
        for wait in &person.help {
            write(
                who,
                Kind::Help,
                wait.room_id,
                (wait.from, wait.to),
                &wait.outcome,
            );
        }
    }
    for b in &report.broadcasts {
        write(
            &b.display_name,
            Kind::Broadcast,
            report.room,
            (b.at, b.at),
            &b.text,
        );
    }
    let body = writer.into_inner().unwrap_or_default();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"session-report.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}
