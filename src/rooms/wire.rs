//! What clients receive for an event: usually one frame shared by every recipient; for the mass
//! events of a breakout round, a frame per breakout room, so that each participant's frame says
//! only where *they* go (O(1) in size), while owners and moderators get the whole roster. (Clients
//! with the dashboard open reload it from `GET …/breakout` when such an event arrives.) An event
//! about where one person goes names the place only to those who may see it: a breakout-only
//! member hears that someone left their room, not where to. An event that lists breakout rooms
//! (new, deleted or closed rooms, an imported assignment, a document's sharing) lists, to anyone
//! who is not a main-room member, only the rooms they may see.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::domain::breakout::CallToAction;
use crate::domain::room::{Event, Message, Recipient, RoomState};
use crate::ids::{PersonId, RoomId};

/// The frames of one event.
#[derive(Debug)]
pub enum Frames {
    /// The same frame for everyone.
    All(Utf8Bytes),
    /// `full` for owners and moderators; for everyone else the frame of their room
    /// (`None`: not in / not assigned to any breakout room).
    PerRoom {
        /// The whole event, serialised on first use: with 10,000 people a start's full roster is
        /// large, and often nobody watching needs it.
        full: OnceLock<Utf8Bytes>,
        /// Keyed by what decides: the assignment (start) or the location (broadcast).
        by_room: HashMap<Option<RoomId>, Utf8Bytes>,
        /// Which of the two keys this event uses.
        key: Key,
    },
    /// Where `person` is assigned or is now: `full` for them, for anyone in the main room and for
    /// anyone who may see `place`; for the others the same frame with the place left out (`null`).
    Place {
        /// The whole event.
        full: Utf8Bytes,
        /// The event without its place, made on first use (most events have no such recipient).
        hidden: OnceLock<Utf8Bytes>,
        /// The event's place (`None`: no breakout room, which everyone may know).
        place: Option<RoomId>,
        /// Whom the event is about.
        person: PersonId,
    },
    /// An event that lists breakout rooms: `full` for main-room members; for anyone else the
    /// same event listing only the rooms they may see, made on first use for each such set.
    Listing {
        /// The whole event.
        full: Utf8Bytes,
        /// By the rooms kept (sorted).
        cut: Mutex<HashMap<Vec<RoomId>, Utf8Bytes>>,
    },
}

/// What picks a participant's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Their assignment.
    Assignment,
    /// Where they are now.
    Location,
}

/// An event as sent on the wire: the event's own fields plus its place in the stream.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    stream: RoomId,
    #[serde(flatten)]
    event: &'a Event,
}

/// A `breakout_started` frame, for the people of one breakout room (`your_room`) or of none.
/// The frames built once per room per event are typed structs: a `json!` value costs several
/// times as much to build, which a start or broadcast to 300 rooms felt.
#[derive(Serialize)]
struct Started<'a> {
    r#type: &'static str,
    room: RoomId,
    stream: RoomId,
    seq: u64,
    round: u32,
    ends_at: Option<i64>,
    started_at: i64,
    your_room: Option<YourRoom<'a>>,
}

#[derive(Serialize)]
struct YourRoom<'a> {
    id: RoomId,
    name: &'a str,
    title: Option<String>,
}

/// A `broadcast` frame, with the chat message of one breakout room or without one.
#[derive(Serialize)]
struct Broadcast<'a> {
    r#type: &'static str,
    room: RoomId,
    stream: RoomId,
    seq: u64,
    from: PersonId,
    from_name: &'a str,
    text: &'a str,
    cta: Option<&'a CallToAction>,
    rooms: usize,
    message: Option<&'a Message>,
}

fn frame(value: impl Serialize) -> Utf8Bytes {
    // Serialising plain data (no maps with non-string keys) cannot fail.
    serde_json::to_string(&value).unwrap_or_default().into()
}

/// The frames of `event` number `seq` of `stream`, given the state after it was folded.
pub fn frames(stream: RoomId, seq: u64, event: &Event, state: &RoomState) -> Frames {
    match event {
        Event::BreakoutStarted {
            room,
            round,
            ends_at,
            started_at,
            ..
        } => {
            let mut by_room: HashMap<Option<RoomId>, Utf8Bytes> = HashMap::new();
            let mut keys: Vec<Option<RoomId>> = state.breakouts.keys().copied().map(Some).collect();
            keys.push(None);
            for key in keys {
                let your_room = key.map(|id| YourRoom {
                    id,
                    name: &state.breakouts[&id].name,
                    title: state.title(id),
                });
                let started = Started {
                    r#type: "breakout_started",
                    room: *room,
                    stream,
                    seq,
                    round: *round,
                    ends_at: *ends_at,
                    started_at: *started_at,
                    your_room,
                };
                by_room.insert(key, frame(started));
            }
            Frames::PerRoom {
                full: OnceLock::new(),
                by_room,
                key: Key::Assignment,
            }
        }
        Event::Broadcast {
            room,
            from,
            from_name,
            text,
            cta,
            messages,
        } => {
            let base = |message: Option<&Message>| {
                frame(Broadcast {
                    r#type: "broadcast",
                    room: *room,
                    stream,
                    seq,
                    from: *from,
                    from_name,
                    text,
                    cta: cta.as_ref(),
                    rooms: messages.len(),
                    message,
                })
            };
            let mut by_room: HashMap<Option<RoomId>, Utf8Bytes> = messages
                .iter()
                .map(|m| (Some(m.room_id), base(Some(m))))
                .collect();
            let plain = base(None);
            by_room.insert(None, plain.clone());
            by_room.insert(Some(state.id()), plain.clone());
            Frames::PerRoom {
                full: OnceLock::from(plain),
                by_room,
                key: Key::Location,
            }
        }
        Event::Assigned {
            person_id,
            breakout,
            ..
        } => place_frames(stream, seq, event, *breakout, *person_id),
        Event::Located {
            person_id,
            location,
            ..
        }
        | Event::Connected {
            person_id,
            location,
            ..
        } => place_frames(stream, seq, event, Some(*location), *person_id),
        Event::BreakoutRoomsCreated { .. }
        | Event::BreakoutRoomsDeleted { .. }
        | Event::RoomsBroughtBack { .. }
        | Event::AssignmentsImported { .. }
        | Event::ContentShared { .. }
        | Event::ContentDeleted { .. } => Frames::Listing {
            full: frame(Wire { seq, stream, event }),
            cut: Mutex::default(),
        },
        _ => Frames::All(frame(Wire { seq, stream, event })),
    }
}

/// `event` listing only the breakout rooms in `keep` (and assignments to them).
fn only(event: &Event, keep: &[RoomId]) -> Event {
    let kept = |rooms: &[RoomId]| -> Vec<RoomId> {
        rooms.iter().copied().filter(|r| keep.contains(r)).collect()
    };
    match event {
        Event::BreakoutRoomsCreated { room, rooms } => Event::BreakoutRoomsCreated {
            room: *room,
            rooms: rooms
                .iter()
                .filter(|r| keep.contains(&r.id))
                .cloned()
                .collect(),
        },
        Event::BreakoutRoomsDeleted { room, rooms } => Event::BreakoutRoomsDeleted {
            room: *room,
            rooms: kept(rooms),
        },
        Event::RoomsBroughtBack { room, rooms } => Event::RoomsBroughtBack {
            room: *room,
            rooms: kept(rooms),
        },
        Event::AssignmentsImported { room, assignments } => Event::AssignmentsImported {
            room: *room,
            assignments: assignments
                .iter()
                .filter(|a| keep.contains(&a.breakout))
                .cloned()
                .collect(),
        },
        Event::ContentShared {
            room,
            id,
            rooms,
            previous,
        } => Event::ContentShared {
            room: *room,
            id: *id,
            rooms: kept(rooms),
            previous: kept(previous),
        },
        Event::ContentDeleted {
            room,
            id,
            shared_with,
        } => Event::ContentDeleted {
            room: *room,
            id: *id,
            shared_with: kept(shared_with),
        },
        other => other.clone(),
    }
}

/// The frames of an event that says where `person` is assigned or is (`place`).
fn place_frames(
    stream: RoomId,
    seq: u64,
    event: &Event,
    place: Option<RoomId>,
    person: PersonId,
) -> Frames {
    Frames::Place {
        full: frame(Wire { seq, stream, event }),
        hidden: OnceLock::new(),
        place,
        person,
    }
}

/// `event` as sent on the wire, without the place it names (`breakout` or `location`).
fn without_place(stream: RoomId, seq: u64, event: &Event) -> Utf8Bytes {
    let mut value = serde_json::to_value(Wire { seq, stream, event }).unwrap_or_default();
    for field in ["breakout", "location"] {
        if let Some(place) = value.get_mut(field) {
            *place = serde_json::Value::Null;
        }
    }
    frame(value)
}

impl Frames {
    /// The frame for one recipient of event `seq` of `stream`.
    pub fn for_person<'a>(
        &'a self,
        (stream, seq, event): (RoomId, u64, &Event),
        state: &RoomState,
        to: Recipient,
    ) -> Cow<'a, Utf8Bytes> {
        let person = to.person;
        match self {
            Frames::All(frame) => Cow::Borrowed(frame),
            Frames::Listing { full, cut } => {
                if to.main_role.is_some() {
                    return Cow::Borrowed(full);
                }
                let mut keep: Vec<RoomId> = state
                    .breakouts
                    .keys()
                    .copied()
                    .filter(|r| state.can_see(*r, person))
                    .collect();
                keep.sort();
                // A poisoned lock only means a panic mid-insert; the cache is still valid.
                let mut cut = cut.lock().unwrap_or_else(|p| p.into_inner());
                let frame = cut.entry(keep).or_insert_with_key(|keep| {
                    frame(Wire {
                        seq,
                        stream,
                        event: &only(event, keep),
                    })
                });
                Cow::Owned(frame.clone())
            }
            Frames::Place {
                full,
                hidden,
                place,
                person: about,
            } => match place {
                Some(room)
                    if person != *about
                        && to.main_role.is_none()
                        && !state.can_see(*room, person) =>
                {
                    Cow::Borrowed(hidden.get_or_init(|| without_place(stream, seq, event)))
                }
                _ => Cow::Borrowed(full),
            },
            Frames::PerRoom { full, by_room, key } => {
                let whole = || full.get_or_init(|| frame(Wire { seq, stream, event }));
                if to.manages() {
                    return Cow::Borrowed(whole());
                }
                let room = match key {
                    Key::Assignment => state.breakout.assignments.get(&person).copied(),
                    // Where they are; for someone not connected yet (a replay on reconnect),
                    // where they belong: their assigned room, or a breakout-only member's own.
                    Key::Location => state
                        .locations
                        .get(&person)
                        .or_else(|| state.breakout.assignments.get(&person))
                        .copied()
                        .or_else(|| {
                            state
                                .breakouts
                                .keys()
                                .copied()
                                .find(|b| state.role(*b, person).is_some())
                        }),
                };
                Cow::Borrowed(match by_room.get(&room).or_else(|| by_room.get(&None)) {
                    Some(frame) => frame,
                    None => whole(),
                })
            }
        }
    }
}
