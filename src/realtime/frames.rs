//! The small frames of the event WebSocket outside a room's events: the two the server sends of
//! its own accord (a refused call request, a request to reload a room; both name the main room
//! twice, as `room` and as `stream`) and the dashboard request a client sends.

use axum::extract::ws::Utf8Bytes;

use crate::ids::RoomId;

/// The `call_error` frame: a call request was refused.
pub fn call_error(stream: RoomId, code: &str, message: &str) -> Utf8Bytes {
    serde_json::json!({ "type": "call_error", "room": stream, "stream": stream, "code": code, "message": message })
        .to_string()
        .into()
}

/// The `resync` frame: reload the snapshot of `room`; events after `seq` follow.
pub fn resync_frame(stream: RoomId, seq: u64) -> Utf8Bytes {
    serde_json::json!({ "type": "resync", "room": stream, "stream": stream, "seq": seq })
        .to_string()
        .into()
}

/// `{"type":"dashboard","stream":MAIN,"open":true|false}` (`room` for `stream` is still read):
/// start or stop receiving the breakout
/// dashboard's rosters and locations for a main room. Anything else a client sends is ignored.
pub fn dashboard_request(text: &str) -> Option<(RoomId, bool)> {
    #[derive(serde::Deserialize)]
    struct Request {
        r#type: String,
        #[serde(alias = "stream")]
        room: RoomId,
        open: bool,
    }
    let request: Request = serde_json::from_str(text).ok()?;
    (request.r#type == "dashboard").then_some((request.room, request.open))
}
