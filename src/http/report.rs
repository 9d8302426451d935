//! The session report: `GET /api/v1/rooms/{room}/breakout/report` (JSON) and `…/report.csv`.
//! Who was in which room of a main room, when and for how long, who was in the call with camera
//! and microphone on, who waited how long for help, and the broadcasts, over a time window (by
//! default the last 24 hours; the UI asks for one day): the stays the store keeps
//! (`domain::report`) and, for whoever is still there, the stays under way up to now. Owners and
//! moderators see everyone; anyone else who may see the room sees their own row (and their own
//! broadcasts, if participants may send them); anyone else gets 404.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Auth;
use super::error::{ApiError, ApiQuery, PathIds};
use super::main_room::main_room;
use crate::App;
use crate::domain::report::{self, Kind, MainRoom, Report, Stay};
use crate::domain::room::RoomState;
use crate::domain::roster::spreadsheet_safe;
use crate::ids::{PersonId, RoomId};

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
    let (manages, name) = app
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
    let stored: HashSet<Stay> = rows.iter().map(|r| r.stay).collect();
    rows.extend(open.into_iter().filter(|r| !stored.contains(&r.stay)));
    // Who is not an owner or moderator sees their own row only.
    if !manages {
        rows.retain(|r| r.stay.person_id == me);
    }
    let names: HashMap<PersonId, String> = app
        .store
        .people(&report::people(&rows))
        .await?
        .into_iter()
        .map(|p| (p.id, p.display_name))
        .collect();
    let main = MainRoom { id: main, name };
    Ok(report::summarise(main, (from, to), rows, &names))
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
