//! Call messages a client sends on the event WebSocket, parsed into [`CallRequest`]s.
//!
//! A message whose `type` starts with `call_` is a call message: it parses, or the client gets a
//! `call_error` naming what is wrong (and nothing else happens). Anything else is not ours. The
//! main room is named by `stream`; `room`, its name in the last release, is still read.

use axum::extract::ws::Utf8Bytes;
use serde::Deserialize;

use super::frames::call_error;
use crate::contract::CallRequest;
use crate::ids::{PersonId, RoomId};

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum Message {
    #[serde(rename = "call_join")]
    Join {
        #[serde(alias = "stream")]
        room: RoomId,
        sdp: String,
        #[serde(default)]
        mic: bool,
        #[serde(default)]
        camera: bool,
    },
    #[serde(rename = "call_restart")]
    Restart {
        #[serde(alias = "stream")]
        room: RoomId,
        sdp: String,
    },
    #[serde(rename = "call_leave")]
    Leave {
        #[serde(alias = "stream")]
        room: RoomId,
    },
    #[serde(rename = "call_media")]
    Media {
        #[serde(alias = "stream")]
        room: RoomId,
        mic: bool,
        camera: bool,
        screen: bool,
    },
    #[serde(rename = "call_mute")]
    Mute {
        #[serde(alias = "stream")]
        room: RoomId,
        person_id: PersonId,
    },
    #[serde(rename = "call_view")]
    View {
        #[serde(alias = "stream")]
        room: RoomId,
        slots: std::collections::BTreeMap<String, u32>,
    },
    #[serde(rename = "call_pin")]
    Pin {
        #[serde(alias = "stream")]
        room: RoomId,
        person_id: Option<PersonId>,
    },
}

/// `None` if `text` is not a call message; otherwise the main room and the request, or the
/// `call_error` frame to send back. `admit` is asked first, with the main room the message names
/// (nil when it names none): a message it refuses (over the sender's budget) is not read further,
/// so that a flood of large offers costs one scan each.
pub fn parse(
    text: &str,
    admit: impl FnOnce(RoomId) -> Result<(), Utf8Bytes>,
) -> Option<Result<(RoomId, CallRequest), Utf8Bytes>> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        r#type: std::borrow::Cow<'a, str>,
        #[serde(borrow, alias = "stream")]
        room: Option<&'a serde_json::value::RawValue>,
    }
    let head: Head<'_> = serde_json::from_str(text).ok()?;
    if !head.r#type.starts_with("call_") {
        return None;
    }
    // A room that is not an id is named as the problem (the answer then carries no room).
    let room = match head
        .room
        .map(|raw| serde_json::from_str::<RoomId>(raw.get()))
    {
        None => RoomId::default(),
        Some(Ok(room)) => room,
        Some(Err(_)) => {
            let what = format!("{}: room: not a room id", head.r#type);
            return Some(Err(call_error(RoomId::default(), "bad_request", &what)));
        }
    };
    if let Err(refused) = admit(room) {
        return Some(Err(refused));
    }
    let message = match serde_json::from_str::<Message>(text) {
        Ok(m) => m,
        Err(e) => {
            let what = format!("{}: {e}", head.r#type);
            return Some(Err(call_error(room, "bad_request", &what)));
        }
    };
    Some(Ok(match message {
        Message::Join {
            room,
            sdp,
            mic,
            camera,
        } => (room, CallRequest::Join { sdp, mic, camera }),
        Message::Restart { room, sdp } => (room, CallRequest::Restart { sdp }),
        Message::Leave { room } => (room, CallRequest::Leave),
        Message::Media {
            room,
            mic,
            camera,
            screen,
        } => (
            room,
            CallRequest::Media {
                mic,
                camera,
                screen,
            },
        ),
        Message::Mute { room, person_id } => (room, CallRequest::Mute { person_id }),
        Message::Pin { room, person_id } => (room, CallRequest::Pin { person_id }),
        Message::View { room, slots } => {
            if slots.len() > MAX_VIEW_SLOTS {
                let what = format!("call_view: at most {MAX_VIEW_SLOTS} slots");
                return Some(Err(call_error(room, "bad_request", &what)));
            }
            if let Some((mid, height)) = slots.iter().find(|(_, h)| **h > MAX_VIEW_HEIGHT) {
                let what = format!(
                    "call_view: slot {mid:?} is {height} pixels high; at most {MAX_VIEW_HEIGHT}"
                );
                return Some(Err(call_error(room, "bad_request", &what)));
            }
            let heights = slots.into_iter().collect();
            (room, CallRequest::View { heights })
        }
    }))
}

/// Most slots one `call_view` names (the largest video pool is 25).
const MAX_VIEW_SLOTS: usize = 32;
/// The tallest tile a client may report, in device pixels (8K is 4,320).
const MAX_VIEW_HEIGHT: u32 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with every message admitted.
    fn parse(text: &str) -> Option<Result<(RoomId, CallRequest), Utf8Bytes>> {
        super::parse(text, |_| Ok(()))
    }

    #[test]
    fn a_message_refused_by_admit_is_answered_with_its_refusal_and_named_room() {
        let room = RoomId::new();
        let text = format!(r#"{{"type":"call_leave","room":"{room}"}}"#);
        let mut asked = None;
        let refused = super::parse(&text, |r| {
            asked = Some(r);
            Err(call_error(r, "rate_limited", "slow down"))
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(asked, Some(room));
        assert!(refused.as_str().contains("rate_limited"));
        // Not a call message: never asked.
        assert!(super::parse(r#"{"type":"dashboard"}"#, |_| panic!("asked")).is_none());
    }

    #[test]
    fn the_main_room_is_named_stream_and_room_is_still_read() {
        let room = RoomId::new();
        for key in ["stream", "room"] {
            let leave = parse(&format!(r#"{{"type":"call_leave","{key}":"{room}"}}"#)).unwrap();
            assert!(
                matches!(leave, Ok((r, CallRequest::Leave)) if r == room),
                "{key}"
            );
            let text = format!(
                r#"{{"type":"call_media","{key}":"{room}","mic":true,"camera":false,"screen":false}}"#
            );
            assert!(
                matches!(parse(&text).unwrap(), Ok((r, CallRequest::Media { mic: true, .. })) if r == room)
            );
            let open = format!(r#"{{"type":"dashboard","{key}":"{room}","open":true}}"#);
            assert_eq!(
                super::super::frames::dashboard_request(&open),
                Some((room, true))
            );
        }
    }

    #[test]
    fn call_messages_parse_or_name_the_problem() {
        assert!(parse(r#"{"type":"dashboard","room":null}"#).is_none());
        assert!(parse("not json").is_none());
        let room = RoomId::new();
        let ok = parse(&format!(r#"{{"type":"call_leave","room":"{room}"}}"#)).unwrap();
        assert!(matches!(ok, Ok((r, CallRequest::Leave)) if r == room));
        let bad = parse(&format!(r#"{{"type":"call_join","room":"{room}"}}"#))
            .unwrap()
            .unwrap_err();
        assert!(
            bad.as_str().contains("missing field `sdp`"),
            "{}",
            bad.as_str()
        );
        for room in [r#""lobby""#, "42", "[]", r#"{"id":1}"#] {
            let bad = parse(&format!(
                r#"{{"type":"call_join","room":{room},"sdp":"v=0"}}"#
            ))
            .unwrap()
            .unwrap_err();
            assert!(
                bad.as_str().contains("room: not a room id")
                    && bad.as_str().contains("bad_request"),
                "{}",
                bad.as_str()
            );
        }
        let tall = parse(&format!(
            r#"{{"type":"call_view","room":"{room}","slots":{{"4":20000}}}}"#
        ))
        .unwrap()
        .unwrap_err();
        assert!(tall.as_str().contains("at most 10000"), "{}", tall.as_str());
        let view = parse(&format!(
            r#"{{"type":"call_view","room":"{room}","slots":{{"4":240,"5":0}}}}"#
        ))
        .unwrap();
        assert!(
            matches!(view, Ok((_, CallRequest::View { ref heights })) if heights == &[("4".to_owned(), 240), ("5".to_owned(), 0)])
        );
        let unknown = parse(&format!(r#"{{"type":"call_dance","room":"{room}"}}"#))
            .unwrap()
            .unwrap_err();
        assert!(
            unknown.as_str().contains("call_dance"),
            "{}",
            unknown.as_str()
        );
    }
}
