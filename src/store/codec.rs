//! How events are written in the `events` table: as the domain serialises them, except the two
//! mass events of a round, whose repeated parts are written once.
//!
//! - A start names every person's room. Stored as the domain has it, 10,000 people are about
//!   1 MB of `{"person_id":…,"breakout":…}`; grouped by room (`{"ROOM":["PERSON",…]}`, the same
//!   text as the session's assignment snapshot, serialised once for both) it is a third of that.
//! - A broadcast carries one chat message per breakout room that differ only in their id and
//!   room; stored as `[[ID, ROOM], …]` with the shared fields once.
//!
//! Both compact forms have their own `type`, so a stored event is read back whatever form it was
//! written in, and events written before this module existed read as before.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::StoreError;
use crate::domain::breakout::{Assignment, CallToAction};
use crate::domain::room::{Event, Message, MessageKind};
use crate::ids::{MessageId, PersonId, RoomId};

/// An event as stored, and for a start the assignment snapshot that goes with it.
pub(super) struct Encoded {
    /// The `payload` column.
    pub payload: String,
    /// For a start, the session's assignment snapshot (`{"ROOM":["PERSON",…]}`).
    pub snapshot: Option<String>,
}

const START: &str = "breakout_started_by_room";
const BROADCAST: &str = "broadcast_once";

#[derive(Serialize)]
struct StartOut<'a> {
    r#type: &'static str,
    room: RoomId,
    round: u32,
    ends_at: Option<i64>,
    started_at: i64,
    by_room: &'a RawValue,
}

#[derive(Deserialize)]
struct StartIn {
    room: RoomId,
    round: u32,
    ends_at: Option<i64>,
    started_at: i64,
    by_room: BTreeMap<RoomId, Vec<PersonId>>,
}

#[derive(Serialize, Deserialize)]
struct BroadcastStored<T> {
    r#type: String,
    room: RoomId,
    from: PersonId,
    from_name: String,
    text: String,
    cta: Option<CallToAction>,
    created_at: i64,
    messages: T,
}

/// The assignments grouped by room, as JSON: `{"ROOM":["PERSON",…]}`.
pub(super) fn group(assignments: &[Assignment]) -> Result<Box<RawValue>, StoreError> {
    let mut by_room: BTreeMap<RoomId, Vec<PersonId>> = BTreeMap::new();
    for a in assignments {
        by_room.entry(a.breakout).or_default().push(a.person_id);
    }
    serde_json::value::to_raw_value(&by_room).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("event encoding: {e}"))
}

/// The stored form of an event.
pub(super) fn encode(event: &Event) -> Result<Encoded, StoreError> {
    match event {
        Event::BreakoutStarted {
            room,
            round,
            assignments,
            ends_at,
            started_at,
        } => {
            let by_room = group(assignments)?;
            let payload = serde_json::to_string(&StartOut {
                r#type: START,
                room: *room,
                round: *round,
                ends_at: *ends_at,
                started_at: *started_at,
                by_room: &by_room,
            })
            .map_err(corrupt)?;
            Ok(Encoded {
                payload,
                snapshot: Some(by_room.get().to_owned()),
            })
        }
        Event::Broadcast {
            room,
            from,
            from_name,
            text,
            cta,
            messages,
        } if messages.first().is_some_and(|first| {
            messages.iter().all(|m| {
                m.author_id == Some(*from)
                    && m.author_name.as_deref() == Some(from_name.as_str())
                    && m.kind == MessageKind::Broadcast
                    && m.text == *text
                    && m.created_at == first.created_at
            })
        }) =>
        {
            let pairs: Vec<(MessageId, RoomId)> =
                messages.iter().map(|m| (m.id, m.room_id)).collect();
            let payload = serde_json::to_string(&BroadcastStored {
                r#type: BROADCAST.to_owned(),
                room: *room,
                from: *from,
                from_name: from_name.clone(),
                text: text.clone(),
                cta: cta.clone(),
                created_at: messages[0].created_at,
                messages: pairs,
            })
            .map_err(corrupt)?;
            Ok(Encoded {
                payload,
                snapshot: None,
            })
        }
        _ => Ok(Encoded {
            payload: serde_json::to_string(event).map_err(corrupt)?,
            snapshot: None,
        }),
    }
}

/// An event read back from its stored form, whichever it is.
pub(super) fn decode(payload: &str) -> Result<Event, serde_json::Error> {
    let tagged = |tag: &str| payload.starts_with(&format!("{{\"type\":\"{tag}\""));
    if tagged(START) {
        let s: StartIn = serde_json::from_str(payload)?;
        let mut assignments: Vec<Assignment> = s
            .by_room
            .into_iter()
            .flat_map(|(breakout, people)| {
                people.into_iter().map(move |person_id| Assignment {
                    person_id,
                    breakout,
                })
            })
            .collect();
        // As the domain made them.
        assignments.sort_by_key(|a| a.person_id);
        return Ok(Event::BreakoutStarted {
            room: s.room,
            round: s.round,
            assignments,
            ends_at: s.ends_at,
            started_at: s.started_at,
        });
    }
    if tagged(BROADCAST) {
        let b: BroadcastStored<Vec<(MessageId, RoomId)>> = serde_json::from_str(payload)?;
        let messages = b
            .messages
            .into_iter()
            .map(|(id, room_id)| Message {
                id,
                room_id,
                author_id: Some(b.from),
                author_name: Some(b.from_name.clone()),
                kind: MessageKind::Broadcast,
                text: b.text.clone(),
                created_at: b.created_at,
            })
            .collect();
        return Ok(Event::Broadcast {
            room: b.room,
            from: b.from,
            from_name: b.from_name,
            text: b.text,
            cta: b.cta,
            messages,
        });
    }
    serde_json::from_str(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::breakout::CallToAction;

    fn roundtrip(event: &Event) -> Encoded {
        let encoded = encode(event).unwrap();
        assert_eq!(&decode(&encoded.payload).unwrap(), event);
        encoded
    }

    #[test]
    fn a_start_is_stored_grouped_by_room_and_reads_back_the_same() {
        let rooms: Vec<RoomId> = (0..3).map(|_| RoomId::new()).collect();
        let mut assignments: Vec<Assignment> = (0..30)
            .map(|i| Assignment {
                person_id: PersonId::new(),
                breakout: rooms[i % 3],
            })
            .collect();
        assignments.sort_by_key(|a| a.person_id);
        let event = Event::BreakoutStarted {
            room: RoomId::new(),
            round: 2,
            assignments: assignments.clone(),
            ends_at: Some(5),
            started_at: 1,
        };
        let encoded = roundtrip(&event);
        let plain = serde_json::to_string(&event).unwrap();
        assert!(
            encoded.payload.len() * 2 < plain.len(),
            "{encoded:?}",
            encoded = encoded.payload
        );
        // The snapshot is the grouping inside the payload.
        let snapshot = encoded.snapshot.unwrap();
        assert!(encoded.payload.contains(&snapshot));
        let grouped: BTreeMap<RoomId, Vec<PersonId>> = serde_json::from_str(&snapshot).unwrap();
        assert_eq!(grouped.values().map(Vec::len).sum::<usize>(), 30);
    }

    #[test]
    fn a_broadcast_is_stored_once_and_reads_back_the_same() {
        let (from, main) = (PersonId::new(), RoomId::new());
        let message = |room_id| Message {
            id: MessageId::new(),
            room_id,
            author_id: Some(from),
            author_name: Some("Ada".into()),
            kind: MessageKind::Broadcast,
            text: "Five minutes left".into(),
            created_at: 7,
        };
        let messages: Vec<Message> = (0..4).map(|_| message(RoomId::new())).collect();
        let event = Event::Broadcast {
            room: main,
            from,
            from_name: "Ada".into(),
            text: "Five minutes left".into(),
            cta: Some(CallToAction {
                label: "Open".into(),
                url: "https://example.org".into(),
            }),
            messages: messages.clone(),
        };
        let encoded = roundtrip(&event);
        assert!(encoded.payload.starts_with("{\"type\":\"broadcast_once\""));
        // Messages that differ in more than their id and room keep the domain's form.
        let mut odd = messages;
        odd[1].text = "edited".into();
        let event = Event::Broadcast {
            room: main,
            from,
            from_name: "Ada".into(),
            text: "Five minutes left".into(),
            cta: None,
            messages: odd,
        };
        assert!(
            roundtrip(&event)
                .payload
                .starts_with("{\"type\":\"broadcast\"")
        );
    }

    /// The figures in `docs/benchmarks.md`: a start of 10,000 people in 300 rooms.
    #[test]
    fn a_start_of_ten_thousand_is_a_third_of_its_plain_size() {
        let rooms: Vec<RoomId> = (0..300).map(|_| RoomId::new()).collect();
        let mut assignments: Vec<Assignment> = (0..10_000)
            .map(|i| Assignment {
                person_id: PersonId::new(),
                breakout: rooms[i % 300],
            })
            .collect();
        assignments.sort_by_key(|a| a.person_id);
        let event = Event::BreakoutStarted {
            room: RoomId::new(),
            round: 1,
            assignments,
            ends_at: None,
            started_at: 1,
        };
        let encoded = roundtrip(&event);
        let plain = serde_json::to_string(&event).unwrap().len();
        let (payload, snapshot) = (encoded.payload.len(), encoded.snapshot.unwrap().len());
        println!(
            "start of 10,000: plain event {plain} B; stored event {payload} B + snapshot {snapshot} B"
        );
        assert!(payload * 5 < plain * 2, "{payload} vs {plain}");
    }

    #[test]
    fn events_stored_in_the_domains_form_still_read() {
        let event = Event::BreakoutStarted {
            room: RoomId::new(),
            round: 1,
            assignments: vec![Assignment {
                person_id: PersonId::new(),
                breakout: RoomId::new(),
            }],
            ends_at: None,
            started_at: 3,
        };
        let plain = serde_json::to_string(&event).unwrap();
        assert_eq!(decode(&plain).unwrap(), event);
    }
}
