//! The session report's arithmetic: from the stays of a main room (stored, and those under way
//! as if they ended now) to a row per person — time per room, in the call with camera and
//! microphone, help waits — and the broadcasts, all clipped to a window. Pure: the HTTP handler
//! asks the store and the room for the stays and the names, and serialises what [`summarise`]
//! returns. Every kind of stay is placed by one exhaustive match, so a new kind does not compile
//! until it has its place (it is never counted as room time by default).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::{Kind, Stay, StayRow};
use crate::ids::{PersonId, RoomId};

/// A room in the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRoom {
    /// Id.
    pub id: RoomId,
    /// Name (as it was, for a room deleted since).
    pub name: String,
}

/// Time in one room.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomTime {
    /// The room.
    pub room_id: RoomId,
    /// Milliseconds there within the window.
    pub ms: i64,
}

/// One person's row.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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

/// The main room a report is about.
#[derive(Debug, Clone)]
pub struct MainRoom {
    /// Its id.
    pub id: RoomId,
    /// Its name now.
    pub name: String,
}

/// Everyone `rows` names, each once (whose display names the report needs).
pub fn people(rows: &[StayRow]) -> Vec<PersonId> {
    let mut ids: Vec<PersonId> = rows.iter().map(|r| r.stay.person_id).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A person's row as it is being summed.
#[derive(Default)]
struct Sums {
    stays: Vec<Stay>,
    by_room: HashMap<RoomId, i64>,
    call: Vec<Stay>,
    call_ms: i64,
    camera_ms: i64,
    mic_ms: i64,
    help: Vec<HelpWait>,
}

/// The report of `main` over `[from, to)` from `rows` (a help wait with no outcome is still
/// waiting); `names` gives display names, a person without one shows empty.
pub fn summarise(
    main: MainRoom,
    (from, to): (i64, i64),
    rows: Vec<StayRow>,
    names: &HashMap<PersonId, String>,
) -> Report {
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

    let mut room_names: BTreeMap<RoomId, String> = BTreeMap::new();
    let mut sums: BTreeMap<PersonId, Sums> = BTreeMap::new();
    let mut broadcasts = Vec::new();
    let name = |person: PersonId| names.get(&person).cloned().unwrap_or_default();
    for row in rows {
        let stay = row.stay;
        room_names
            .entry(stay.room_id)
            .or_insert_with(|| row.room_name.clone());
        let length = stay.to - stay.from;
        match stay.kind {
            Kind::Room => {
                let sum = sums.entry(stay.person_id).or_default();
                *sum.by_room.entry(stay.room_id).or_default() += length;
                sum.stays.push(stay);
            }
            Kind::Call | Kind::Camera | Kind::Mic => {
                let sum = sums.entry(stay.person_id).or_default();
                match stay.kind {
                    Kind::Call => sum.call_ms += length,
                    Kind::Camera => sum.camera_ms += length,
                    _ => sum.mic_ms += length,
                }
                sum.call.push(stay);
            }
            Kind::Help => {
                let outcome = if row.detail.is_empty() {
                    "waiting".to_owned()
                } else {
                    row.detail
                };
                sums.entry(stay.person_id).or_default().help.push(HelpWait {
                    room_id: stay.room_id,
                    from: stay.from,
                    to: stay.to,
                    waited_ms: length,
                    outcome,
                });
            }
            Kind::Broadcast => broadcasts.push(BroadcastRow {
                person_id: stay.person_id,
                display_name: name(stay.person_id),
                at: stay.from,
                text: row.detail,
            }),
        }
    }

    let mut people: Vec<ReportPerson> = sums
        .into_iter()
        .map(|(person, sum)| {
            let mut by_room: Vec<RoomTime> = sum
                .by_room
                .into_iter()
                .map(|(room_id, ms)| RoomTime { room_id, ms })
                .collect();
            by_room.sort_by_key(|t| (std::cmp::Reverse(t.ms), t.room_id));
            ReportPerson {
                person_id: person,
                display_name: name(person),
                connected_ms: by_room.iter().map(|t| t.ms).sum(),
                by_room,
                stays: sum.stays,
                call_ms: sum.call_ms,
                camera_ms: sum.camera_ms,
                mic_ms: sum.mic_ms,
                call: sum.call,
                help: sum.help,
            }
        })
        .filter(|p| p.connected_ms > 0 || !p.call.is_empty() || !p.help.is_empty())
        .collect();
    people.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.person_id.cmp(&b.person_id))
    });

    let mut rooms = vec![ReportRoom {
        id: main.id,
        name: main.name,
    }];
    rooms.extend(
        room_names
            .into_iter()
            .filter(|(id, _)| *id != main.id)
            .map(|(id, name)| ReportRoom { id, name }),
    );
    Report {
        room: main.id,
        from,
        to,
        rooms,
        people,
        broadcasts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::person;

    fn room(n: u128) -> RoomId {
        RoomId(uuid::Uuid::from_u128(900 + n))
    }

    fn row(kind: Kind, who: u128, where_: u128, from: i64, to: i64, detail: &str) -> StayRow {
        StayRow {
            stay: Stay {
                kind,
                person_id: person(who),
                room_id: room(where_),
                from,
                to,
            },
            room_name: format!("R{where_}"),
            detail: detail.to_owned(),
        }
    }

    fn report(rows: Vec<StayRow>) -> Report {
        let names = HashMap::from([(person(1), "Bea".to_owned()), (person(2), "Al".to_owned())]);
        let main = MainRoom {
            id: room(0),
            name: "Main".to_owned(),
        };
        summarise(main, (50, 300), rows, &names)
    }

    #[test]
    fn time_is_summed_per_person_and_room_within_the_window() {
        let r = report(vec![
            row(Kind::Room, 1, 0, 0, 100, ""),
            row(Kind::Room, 1, 1, 100, 250, ""),
            row(Kind::Room, 1, 0, 250, 400, ""),
            // Outside the window: nothing.
            row(Kind::Room, 2, 1, 300, 400, ""),
        ]);
        assert_eq!(r.people.len(), 1);
        let bea = &r.people[0];
        let by_room: Vec<(RoomId, i64)> = bea.by_room.iter().map(|t| (t.room_id, t.ms)).collect();
        assert_eq!(by_room, [(room(1), 150), (room(0), 100)], "most first");
        assert_eq!(bea.connected_ms, 250);
        assert_eq!((bea.stays[0].from, bea.stays[2].to), (50, 300), "clipped");
        let rooms: Vec<&str> = r.rooms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            rooms,
            ["Main", "R1"],
            "the main room first, by its name now"
        );
    }

    #[test]
    fn each_kind_has_its_place_and_none_counts_as_room_time() {
        let r = report(vec![
            row(Kind::Room, 2, 0, 50, 100, ""),
            row(Kind::Call, 2, 0, 60, 160, ""),
            row(Kind::Camera, 2, 0, 60, 90, ""),
            row(Kind::Mic, 2, 0, 70, 80, ""),
            row(Kind::Help, 2, 1, 100, 120, "accepted by Bea"),
            row(Kind::Help, 2, 1, 200, 400, ""),
            row(Kind::Broadcast, 1, 0, 150, 150, "Five minutes left"),
            row(Kind::Broadcast, 1, 0, 20, 20, "before the window"),
            // Only in the call: a row of its own.
            row(Kind::Call, 1, 0, 100, 110, ""),
        ]);
        let names: Vec<&str> = r.people.iter().map(|p| p.display_name.as_str()).collect();
        assert_eq!(names, ["Al", "Bea"], "by name");
        let al = &r.people[0];
        assert_eq!(al.connected_ms, 50, "room stays only");
        assert_eq!((al.call_ms, al.camera_ms, al.mic_ms), (100, 30, 10));
        assert_eq!(al.call.len(), 3);
        let help: Vec<(i64, &str)> = al
            .help
            .iter()
            .map(|h| (h.waited_ms, h.outcome.as_str()))
            .collect();
        assert_eq!(help, [(20, "accepted by Bea"), (100, "waiting")]);
        let bea = &r.people[1];
        assert_eq!((bea.connected_ms, bea.call_ms), (0, 10));
        assert_eq!(r.broadcasts.len(), 1);
        assert_eq!(r.broadcasts[0].display_name, "Bea");
        assert_eq!(r.broadcasts[0].text, "Five minutes left");
    }
}
