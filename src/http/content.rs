//! Content items: `/api/v1/rooms/{room}/content…`. Files arrive as `multipart/form-data` and are
//! streamed to the file store before the item is committed; links and application content arrive
//! as JSON. Downloads are streamed from disk with a safe file name, `nosniff` and a sandboxing CSP,
//! so an uploaded page can never run as Huddle.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, PathIds};
use crate::App;
use crate::contract::{Committed, RoomError};
use crate::domain::content::{ContentCommand, ContentItem, ContentKind, FileInfo, NewContent};
use crate::domain::room::{Command, Event};
use crate::domain::validate;
use crate::ids::{ContentId, RoomId};
use crate::store::blobs::BlobError;

impl crate::store::blobs::BodyError for axum::extract::multipart::MultipartError {
    fn too_large(&self) -> bool {
        self.status() == StatusCode::PAYLOAD_TOO_LARGE
    }
}

/// Room for the multipart framing and the small fields around an upload.
const MULTIPART_SLACK: usize = 64 * 1024;

pub(super) fn router(max_upload: u64) -> Router<App> {
    let upload_limit = usize::try_from(max_upload)
        .unwrap_or(usize::MAX)
        .saturating_add(MULTIPART_SLACK);
    Router::new()
        .route(
            "/rooms/{room}/content",
            get(list)
                .post(add)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/rooms/{room}/content/{item}", get(download).delete(delete))
        .route("/rooms/{room}/content/{item}/promote", post(promote))
        .route("/rooms/{room}/content/{item}/share", post(share))
}

/// `GET /rooms/{room}/content`.
#[derive(Serialize, ToSchema)]
pub struct ContentList {
    /// The items in this room (its own and, in a breakout room, those shared with it), oldest first.
    pub items: Vec<ListedItem>,
}

/// An item in a room's list.
#[derive(Serialize, ToSchema)]
pub struct ListedItem {
    /// The item.
    #[serde(flatten)]
    pub item: ContentItem,
    /// For an item of a breakout room: it has been promoted to the main room already.
    pub promoted: bool,
}

/// Body of `POST /rooms/{room}/content` as JSON: a link or application content. (Files are sent
/// as `multipart/form-data` with a `file` part and optional `title` and `kind` = `recording`.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLinkRequest {
    /// `link` or `app`.
    pub kind: ContentKind,
    /// 1–200 characters.
    pub title: String,
    /// An `http(s)` URL.
    pub url: String,
}

/// Body of `POST …/content/{item}/share`: the breakout rooms (replacing the list), or all.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// These breakout rooms (an empty list unshares).
    pub rooms: Option<Vec<RoomId>>,
    /// Every breakout room of the main room.
    #[serde(default)]
    pub all: bool,
}

/// Checks that `person` may see `room` before anything is read from the body.
async fn visible(app: &App, room: RoomId, auth: &Auth) -> Result<(), ApiError> {
    let me = auth.person.id;
    app.rooms
        .inspect(room, move |state, _| state.can_see(room, me))
        .await?
        .then_some(())
        .ok_or(ApiError::not_found("room"))
}

/// Runs a content command on the main room that `room` belongs to.
async fn run(
    app: &App,
    auth: &Auth,
    room: RoomId,
    command: ContentCommand,
) -> Result<Committed, RoomError> {
    app.rooms
        .command(room, auth.caller(), Command::Content(command))
        .await
}

/// The item a content command added.
fn added(events: &[(u64, Event)]) -> Result<ContentItem, ApiError> {
    events
        .iter()
        .find_map(|(_, e)| match e {
            Event::ContentAdded { item, .. } => Some((**item).clone()),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("adding content produced no item"))
}

/// A room's content items.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/content", tag = "content", params(("room" = RoomId, Path)),
    responses((status = 200, body = ContentList), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
async fn list(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<Json<ContentList>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let me = auth.person.id;
    let items =
        app.rooms
            .inspect(room, move |state, _| {
                state.can_see(room, me).then(|| {
                    state
                        .items_in(room, me)
                        .into_iter()
                        .map(|item| ListedItem {
                            promoted: state.content.values().any(|c| {
                                c.promoted_from.as_ref().is_some_and(|p| p.item == item.id)
                            }),
                            item: item.clone(),
                        })
                        .collect()
                })
            })
            .await?
            .ok_or(ApiError::not_found("room"))?;
    Ok(Json(ContentList { items }))
}

/// Add an item: a file or recording (`multipart/form-data`, streamed to disk) or a link or
/// application content (JSON).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/content", tag = "content", params(("room" = RoomId, Path)),
    request_body(content = NewLinkRequest, description = "JSON for links and application content; multipart/form-data with `file` (and optional `title`, `kind`=`recording`) for files"),
    responses((status = 201, body = ContentItem), (status = 404, body = super::error::ErrorBody),
              (status = 413, description = "file over the limit", body = super::error::ErrorBody),
              (status = 507, description = "the room's or the person's upload quota is used up", body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn add(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    request: Request,
) -> Result<(StatusCode, Json<ContentItem>), ApiError> {
    let room: RoomId = ids.get("room")?;
    visible(&app, room, &auth).await?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let item = if content_type.starts_with("multipart/form-data") {
        let room_left = room_quota_left(&app, room, auth.person.id).await?;
        let multipart = Multipart::from_request(request, &app)
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_multipart", e.body_text()))?;
        upload(&app, multipart, room_left).await?
    } else if content_type.starts_with("application/json") {
        let bytes = axum::body::to_bytes(request.into_body(), app.config.limits.max_body_bytes)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than the configured limit",
                )
            })?;
        let req: NewLinkRequest = super::error::json_from(&bytes)?;
        if req.kind.has_file() {
            return Err(ApiError::invalid(
                "kind",
                "files and recordings are uploaded as multipart/form-data",
            ));
        }
        NewContent {
            kind: req.kind,
            title: validate::title("title", &req.title)?,
            file: None,
            url: Some(validate::http_url("url", &req.url)?),
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a file as multipart/form-data, or a link as application/json",
        ));
    };
    let committed = run(&app, &auth, room, ContentCommand::Add { room, item }).await;
    if committed.is_err() {
        app.sweep_blobs();
    }
    Ok((StatusCode::CREATED, Json(added(&committed?.events)?)))
}

/// Streams the `file` part to the file store; reads `title` and `kind` from their parts.
/// What the room's and the person's upload quotas leave, in bytes, and which is the smaller;
/// `507 upload_quota` when either is used up.
async fn room_quota_left(
    app: &App,
    room: RoomId,
    person: crate::ids::PersonId,
) -> Result<Left, ApiError> {
    let main = app.rooms.inspect(room, |state, _| state.id()).await?;
    let (room_bytes, person_bytes) = app.store.upload_bytes(main, person).await?;
    let limits = &app.config.limits;
    let room_left = limits.upload_quota_per_room.saturating_sub(room_bytes);
    let person_left = limits.upload_quota_per_person.saturating_sub(person_bytes);
    let left = if room_left <= person_left {
        Left {
            bytes: room_left,
            whose: "this room's files",
            quota: limits.upload_quota_per_room,
        }
    } else {
        Left {
            bytes: person_left,
            whose: "your files",
            quota: limits.upload_quota_per_person,
        }
    };
    if left.bytes == 0 {
        return Err(left.exceeded());
    }
    Ok(left)
}

/// The room left by the upload quotas: the smaller of the room's and the person's.
struct Left {
    bytes: u64,
    whose: &'static str,
    quota: u64,
}

impl Left {
    fn exceeded(&self) -> ApiError {
        ApiError {
            field: Some("file".into()),
            ..ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "upload_quota",
                format!(
                    "{} would take more than the upload quota of {} MiB; delete files first",
                    self.whose,
                    self.quota >> 20
                ),
            )
        }
    }
}

async fn upload(app: &App, mut multipart: Multipart, left: Left) -> Result<NewContent, ApiError> {
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), "invalid_multipart", e.body_text())
    };
    let mut title = None;
    let mut kind = ContentKind::File;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "title" => {
                let text = field.text().await.map_err(multipart_error)?;
                title = Some(validate::title("title", &text)?);
            }
            "kind" => {
                kind = match field.text().await.map_err(multipart_error)?.trim() {
                    "file" => ContentKind::File,
                    "recording" => ContentKind::Recording,
                    other => {
                        return Err(ApiError::invalid(
                            "kind",
                            format!("{other:?}: an upload is a file or a recording"),
                        ));
                    }
                }
            }
            "file" if file.is_none() => {
                let name = validate::file_name(field.file_name().unwrap_or_default())?;
                let declared = field.content_type().map(str::to_owned);
                let largest = app.config.limits.max_upload_bytes;
                let limit = largest.min(left.bytes);
                let blob = app.blobs.write(field, limit).await.map_err(|e| match e {
                    // Over what a quota leaves, and within the largest file: the quota's refusal.
                    BlobError::TooLarge { limit } if limit < largest => left.exceeded(),
                    BlobError::TooLarge { limit } => ApiError {
                        field: Some("file".into()),
                        ..ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "file_too_large",
                            format!("file: larger than the limit of {limit} bytes"),
                        )
                    },
                    BlobError::Body(message) => {
                        ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", message)
                    }
                    BlobError::Io(e) => ApiError::internal(e),
                })?;
                let content_type = media_type(declared.as_deref(), &name);
                file = Some(FileInfo {
                    name,
                    content_type,
                    size: blob.size,
                    sha256: blob.sha256,
                    duration_ms: None,
                });
            }
            other => {
                return Err(ApiError::invalid(
                    "file",
                    format!(
                        "unexpected part {other:?}: send one `file`, and optionally `title` and `kind`"
                    ),
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid("file", "the form has no file part"))?;
    Ok(NewContent {
        kind,
        title: title.unwrap_or_else(|| file.name.clone()),
        file: Some(file),
        url: None,
    })
}

/// The media type a file is served with: what the client declared when it is a plain
/// `type/subtype`, else a guess from the name, else `application/octet-stream`.
fn media_type(declared: Option<&str>, name: &str) -> String {
    let plain = |t: &str| {
        let t = t
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let ok = t.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/+-.".contains(c))
        });
        (ok && t != "application/octet-stream").then_some(t)
    };
    declared
        .and_then(plain)
        .or_else(|| {
            mime_guess::from_path(name)
                .first()
                .map(|m| m.essence_str().to_owned())
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// Types a browser may show inline; everything else is offered as a download.
fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "application/pdf" | "text/plain"
    ) || content_type.starts_with("audio/")
        || content_type.starts_with("video/")
}

/// `Content-Disposition` with an ASCII fallback name and the exact name in RFC 5987 form.
pub(crate) fn disposition(name: &str, inline: bool) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

/// Download a file or recording (streamed); for a link or application content, the item as JSON.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/content/{item}", tag = "content",
    params(("room" = RoomId, Path), ("item" = ContentId, Path)),
    responses((status = 200, description = "the file's bytes, or the item as JSON for links"),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn download(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<Response, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: ContentId = ids.get("item")?;
    let me = auth.person.id;
    let item = app
        .rooms
        .inspect(room, move |state, _| state.item_in(room, id, me).cloned())
        .await?
        .ok_or(ApiError::not_found("content item"))?;
    let Some(file) = &item.file else {
        return Ok(Json(item).into_response());
    };
    let path = app
        .blobs
        .path(&file.sha256)
        .ok_or_else(|| ApiError::internal("stored hash is not hex"))?;
    let handle = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("content file {}: {e}", path.display())))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(handle));
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, HeaderValue::from(file.size)),
            (
                header::CONTENT_DISPOSITION,
                disposition(&file.name, shown_inline(&file.content_type)),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        body,
    )
        .into_response())
}

/// Delete an item (its author, or the room's owners and moderators).
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/content/{item}", tag = "content",
    params(("room" = RoomId, Path), ("item" = ContentId, Path)),
    responses((status = 204), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn delete(State(app): State<App>, auth: Auth, ids: PathIds) -> Result<StatusCode, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: ContentId = ids.get("item")?;
    run(&app, &auth, room, ContentCommand::Delete { room, id }).await?;
    app.sweep_blobs();
    Ok(StatusCode::NO_CONTENT)
}

/// Copy a breakout room's item into its main room, marked as promoted from that room.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/content/{item}/promote", tag = "content",
    params(("room" = RoomId, Path, description = "the breakout room"), ("item" = ContentId, Path)),
    responses((status = 201, description = "the main-room copy", body = ContentItem), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn promote(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
) -> Result<(StatusCode, Json<ContentItem>), ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: ContentId = ids.get("item")?;
    let committed = run(&app, &auth, room, ContentCommand::Promote { room, id }).await?;
    Ok((StatusCode::CREATED, Json(added(&committed.events)?)))
}

/// Share a main-room item with chosen breakout rooms or all of them (owners and moderators).
#[utoipa::path(post, path = "/api/v1/rooms/{room}/content/{item}/share", tag = "content",
    params(("room" = RoomId, Path, description = "the main room"), ("item" = ContentId, Path)), request_body = ShareRequest,
    responses((status = 200, body = ContentItem), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn share(
    State(app): State<App>,
    auth: Auth,
    ids: PathIds,
    ApiJson(req): ApiJson<ShareRequest>,
) -> Result<Json<ContentItem>, ApiError> {
    let room: RoomId = ids.get("room")?;
    let id: ContentId = ids.get("item")?;
    let rooms = match (req.all, req.rooms) {
        (true, None) => None,
        (false, Some(rooms)) => Some(rooms),
        _ => {
            return Err(ApiError::invalid(
                "rooms",
                "give either rooms (a list of breakout rooms) or all: true",
            ));
        }
    };
    let main = app.rooms.inspect(room, |state, _| state.id()).await?;
    if main != room {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_in_main_room",
            "only items in the main room can be shared with breakout rooms",
        ));
    }
    let committed = run(&app, &auth, room, ContentCommand::Share { id, rooms }).await?;
    let me = auth.person.id;
    let item = app
        .rooms
        .inspect_after(room, committed.seq, move |state, _| {
            state.item_in(room, id, me).cloned()
        })
        .await?
        .ok_or(ApiError::not_found("content item"))?;
    Ok(Json(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_types_come_from_a_plain_declaration_or_the_name() {
        assert_eq!(
            media_type(Some("application/pdf"), "x.bin"),
            "application/pdf"
        );
        assert_eq!(
            media_type(Some("text/html; charset=utf-8"), "x"),
            "text/html"
        );
        assert_eq!(media_type(Some("nonsense"), "photo.PNG"), "image/png");
        assert_eq!(media_type(None, "notes"), "application/octet-stream");
        assert!(!shown_inline("text/html"));
    }

    #[test]
    fn download_names_are_quoted_safely() {
        let v = disposition("Réport \"final\".pdf", false);
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"R_port _final_.pdf\"; filename*=UTF-8''R%C3%A9port%20%22final%22.pdf"
        );
    }
}
