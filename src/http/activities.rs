//! Activities (`domain::activity`): `PUT /api/v1/rooms/{room}/breakout/activity` gives breakout
//! rooms a task and documents (owners and moderators); `POST …/breakout/result` hands in the
//! result of the breakout room the caller is in (an item of the room, or a text stored as a
//! file). Each room's task and result are in `GET …/breakout` (its `rooms[].activity`), for those
//! who may see them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, PathIds};
use super::main_room::{Done, main_room};
use crate::App;
use crate::domain::activity::{self, ActivityCommand, HandedIn, Submission};
use crate::domain::content::{ContentKind, FileInfo, NewContent};
use crate::domain::room::{Command, Event, RoomState};
use crate::domain::validate;
use crate::ids::{ContentId, PersonId, RoomId};

pub(super) fn router() -> Router<App> {
    Router::new()
        .route("/rooms/{room}/breakout/activity", put(set))
        .route("/rooms/{room}/breakout/result", post(hand_in))
}

/// Body of `PUT …/breakout/activity`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    /// The breakout rooms; left out or empty: every breakout room.
    #[serde(default)]
    pub rooms: Vec<RoomId>,
    /// The task (at most 4,000 characters); empty with no documents clears it.
    pub task: String,
    /// Main-room items for it, shared with the rooms (at most 20).
    #[serde(default)]
    pub documents: Vec<ContentId>,
}

/// Give breakout rooms a task and documents (or clear it).
#[utoipa::path(put, path = "/api/v1/rooms/{room}/breakout/activity", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = ActivityBody,
    responses((status = 200, body = Done), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn set(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<ActivityBody>,
) -> Result<Json<Done>, ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    let command = ActivityCommand::Set {
        rooms: body.rooms,
        task: body.task,
        documents: body.documents,
    };
    let committed = app
        .rooms
        .command(main, auth.caller(), Command::Activity(command))
        .await?;
    Ok(Json(Done { seq: committed.seq }))
}

/// Body of `POST …/breakout/result`: one of `content_id` and `text`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    /// An item of the room (a file uploaded there first).
    pub content_id: Option<ContentId>,
    /// A text, stored as a file of the room.
    pub text: Option<String>,
    /// The text's title (default `Result`).
    pub title: Option<String>,
}

/// Longest text handed in, in characters.
const MAX_RESULT_CHARS: usize = 20_000;

/// Hand in the result of the breakout room you are in (a later one replaces it); at the end of
/// the round it is copied into the main room, named by the room.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/breakout/result", tag = "breakout", params(("room" = RoomId, Path)),
    request_body = ResultBody,
    responses((status = 201, body = HandedIn), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn hand_in(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(body): ApiJson<ResultBody>,
) -> Result<(StatusCode, Json<HandedIn>), ApiError> {
    let main = main_room(&app, &ids, auth.person.id).await?;
    let result = match (body.content_id, body.text) {
        (Some(id), None) => {
            if body.title.is_some() {
                return Err(ApiError::invalid("title", "a title goes with a text"));
            }
            Submission::Item(id)
        }
        (None, Some(text)) => Submission::New(stored_text(&app, &text, body.title).await?),
        _ => {
            return Err(ApiError::invalid(
                "text",
                "hand in either a `content_id` or a `text`",
            ));
        }
    };
    let stored = matches!(result, Submission::New(_));
    let command = ActivityCommand::HandIn { result };
    let committed = app
        .rooms
        .command(main, auth.caller(), Command::Activity(command))
        .await;
    if committed.is_err() && stored {
        app.sweep_blobs();
    }
    let handed = committed?
        .events
        .into_iter()
        .find_map(|(_, e)| match e {
            Event::ActivitySet {
                activity: Some(a), ..
            } => a.result,
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("handing in produced no result"))?;
    Ok((StatusCode::CREATED, Json(handed)))
}

/// A text handed in, stored as a plain-text file.
async fn stored_text(app: &App, text: &str, title: Option<String>) -> Result<NewContent, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("text", "must not be empty"));
    }
    if text.chars().count() > MAX_RESULT_CHARS {
        return Err(ApiError::invalid(
            "text",
            format!("at most {MAX_RESULT_CHARS} characters"),
        ));
    }
    let title = match title {
        Some(t) => validate::title("title", &t)?,
        None => "Result".to_owned(),
    };
    let bytes = axum::body::Bytes::from(text.to_owned());
    let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
    let blob = app
        .blobs
        .write(body, app.config.limits.max_upload_bytes)
        .await
        .map_err(ApiError::internal)?;
    Ok(NewContent {
        kind: ContentKind::File,
        title,
        file: Some(FileInfo {
            name: "result.txt".to_owned(),
            content_type: "text/plain; charset=utf-8".to_owned(),
            size: blob.size,
            sha256: blob.sha256,
            duration_ms: None,
        }),
        url: None,
    })
}

/// A document of a task, as the dashboard shows it.
#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    /// The main-room item.
    pub id: ContentId,
    /// Its title.
    pub title: String,
    /// What it is.
    pub kind: ContentKind,
}

/// A result handed in, as the dashboard shows it.
#[derive(Serialize, ToSchema)]
pub struct ResultView {
    /// The room's item.
    pub item: ContentId,
    /// Its title.
    pub title: String,
    /// Who handed it in.
    pub by_name: String,
    /// When.
    pub at: i64,
}

/// A breakout room's task and result, as the dashboard shows it.
#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    /// The task.
    pub task: String,
    /// Its documents (main-room items, shared with the room).
    pub documents: Vec<DocumentView>,
    /// The result handed in this round.
    pub result: Option<ResultView>,
}

/// The task of breakout room `room` as `me` may see it: owners and moderators always, the room's
/// people while a round runs.
pub(super) fn activity_view(state: &RoomState, room: RoomId, me: PersonId) -> Option<ActivityView> {
    let a: &activity::Activity = state.activities.get(&room)?;
    let sees = state.manages(me) || (state.breakout.is_live() && state.can_see(room, me));
    if !sees {
        return None;
    }
    let title = |id: &ContentId| state.content.get(id).map(|i| (i.title.clone(), i.kind));
    Some(ActivityView {
        task: a.task.clone(),
        documents: a
            .documents
            .iter()
            .filter_map(|id| {
                let (title, kind) = title(id)?;
                Some(DocumentView {
                    id: *id,
                    title,
                    kind,
                })
            })
            .collect(),
        result: a.result.as_ref().map(|r| ResultView {
            item: r.item,
            title: title(&r.item).map(|(t, _)| t).unwrap_or_default(),
            by_name: r.by_name.clone(),
            at: r.at,
        }),
    })
}
