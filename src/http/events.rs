//! `GET /api/v1/events`: upgrade to the event WebSocket (see `http::socket` for the protocol).

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::auth::{Auth, Via};
use super::error::{ApiError, ApiQuery};
use super::socket::{WsContext, serve_socket};
use super::views::EventsQuery;
use crate::App;
use crate::ids::RoomId;

/// Read buffer per connection. Clients send almost nothing, and tungstenite fills the buffer up to
/// this size, so the 128 KiB default would dominate the memory of an idle connection.
const READ_BUFFER: usize = 4 * 1024;
/// Largest message a client may send: a call offer of a browser with the largest slot pool
/// (`media::offer::MAX_OFFER_BYTES`), escaped in JSON. Everything else clients send is tiny.
const MAX_CLIENT_MESSAGE: usize = 320 * 1024;

pub(super) fn router() -> Router<App> {
    Router::new().route("/events", get(events))
}

fn parse_resume(raw: &str) -> Result<HashMap<RoomId, u64>, ApiError> {
    raw.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let parsed = part
                .split_once(':')
                .and_then(|(room, seq)| Some((room.parse().ok()?, seq.parse().ok()?)));
            parsed.ok_or_else(|| ApiError {
                field: Some("resume".into()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("resume: {part:?} is not STREAM:SEQ"),
                )
            })
        })
        .collect()
}

/// Open the event stream (WebSocket).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 101, description = "switching to the WebSocket"), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn events(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "websocket_required", e.body_text()))?;
    // A page on another site can open a WebSocket with our cookie; refuse foreign origins.
    if auth.via == Via::Cookie && super::cross_origin(&headers, &app.public_url) {
        return Err(ApiError::forbidden("cross-origin WebSocket refused"));
    }
    let resume = parse_resume(query.resume.as_deref().unwrap_or_default())?;
    let ctx = WsContext {
        rooms: app.rooms.clone(),
        connections: app.connections.clone(),
        metrics: app.metrics.clone(),
        queue: app.config.limits.ws_queue_frames,
        ping: app.config.limits.ws_ping,
        call_config: app.media.client_config.clone(),
    };
    let who = (auth.person.id, auth.token_hash);
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve_socket(socket, who, resume, ctx)))
}
