//! The session report's raw material: stays, each a person in one room of a main room from one
//! moment to another. A stay is recorded when it ends — a row per change of place, not per event
//! — and the report sums them per person and room.
//!
//! [`Stays`] is the bookkeeping the room's actor keeps beside its state: where each connected
//! person has been since when. After each event the actor asks [`movers`] whom the event may have
//! moved, and [`Stays::update`] (one person) or [`Stays::sync`] (everyone, after a start, a stop,
//! rooms brought back or deleted) answer the stays that ended.
//!
//! Invariant: a person has an open stay exactly when they have a location, in that location.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::event::Event;
use crate::ids::{PersonId, RoomId};

/// A person in a room from `from` to `to` (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Stay {
    /// Who.
    pub person_id: PersonId,
    /// Where: the main room or one of its breakout rooms.
    pub room_id: RoomId,
    /// Since when.
    pub from: i64,
    /// Until when.
    pub to: i64,
}

/// Whom an event may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Movers {
    /// Nobody.
    Nobody,
    /// This person.
    One(PersonId),
    /// Anyone.
    Everyone,
}

/// Whom `event` may move once folded.
pub fn movers(event: &Event) -> Movers {
    match event {
        Event::Connected { person_id, .. }
        | Event::Disconnected { person_id, .. }
        | Event::Located { person_id, .. }
        | Event::Assigned { person_id, .. }
        | Event::MemberRemoved { person_id, .. } => Movers::One(*person_id),
        Event::BreakoutStarted { .. }
        | Event::BreakoutStopped { .. }
        | Event::RoomsBroughtBack { .. }
        | Event::BreakoutRoomsDeleted { .. }
        | Event::RoomDeleted { .. } => Movers::Everyone,
        _ => Movers::Nobody,
    }
}

/// The stays of a main room the store does not have yet: where each connected person is, since
/// when, and the stays that ended since the last write, with the names of their rooms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stays {
    open: HashMap<PersonId, (RoomId, i64)>,
    unwritten: Vec<Stay>,
    names: HashMap<RoomId, String>,
}

impl Stays {
    /// No one yet.
    pub fn new() -> Stays {
        Stays::default()
    }

    /// `person` is now at `location` (or nowhere): the stay that ended, if their place changed.
    pub fn update(&mut self, person: PersonId, location: Option<RoomId>, now: i64) -> Option<Stay> {
        let before = self.open.get(&person).copied();
        if before.map(|(room, _)| room) == location {
            return None;
        }
        match location {
            Some(room) => self.open.insert(person, (room, now)),
            None => self.open.remove(&person),
        };
        before.map(|(room, from)| Stay {
            person_id: person,
            room_id: room,
            from,
            to: now,
        })
    }

    /// Everyone is now where `locations` says: the stays that ended.
    pub fn sync(&mut self, locations: &HashMap<PersonId, RoomId>, now: i64) -> Vec<Stay> {
        let gone: Vec<PersonId> = self
            .open
            .keys()
            .filter(|p| !locations.contains_key(p))
            .copied()
            .collect();
        let mut ended: Vec<Stay> = gone
            .into_iter()
            .filter_map(|p| self.update(p, None, now))
            .collect();
        for (person, room) in locations {
            ended.extend(self.update(*person, Some(*room), now));
        }
        ended
    }

    /// The stays still open, as if they ended `now`.
    pub fn open_until(&self, now: i64) -> Vec<Stay> {
        self.open
            .iter()
            .map(|(person, (room, from))| Stay {
                person_id: *person,
                room_id: *room,
                from: *from,
                to: now.max(*from),
            })
            .collect()
    }

    /// Ends every open stay `now` (the room's actor stops).
    pub fn close_all(&mut self, now: i64) -> Vec<Stay> {
        let ended = self.open_until(now);
        self.open.clear();
        ended
    }

    /// Keeps ended stays until they are written.
    pub fn note(&mut self, ended: Vec<Stay>) {
        self.unwritten.extend(ended);
    }

    /// Remembers a room's name (for stays in it that end after it is deleted).
    pub fn name(&mut self, room: RoomId, name: &str) {
        if self.names.get(&room).map(String::as_str) != Some(name) {
            self.names.insert(room, name.to_owned());
        }
    }

    /// A room's name as last seen.
    pub fn name_of(&self, room: RoomId) -> &str {
        self.names.get(&room).map_or("", String::as_str)
    }

    /// Ended stays not written yet.
    pub fn unwritten(&self) -> &[Stay] {
        &self.unwritten
    }

    /// Forgets the first `n` ended stays: they are written.
    pub fn written(&mut self, n: usize) {
        self.unwritten.drain(..n.min(self.unwritten.len()));
    }
}

/// Each person's milliseconds per room over `stays`, clipped to `[from, to)`.
pub fn time_per_room(
    stays: &[Stay],
    from: i64,
    to: i64,
) -> HashMap<PersonId, HashMap<RoomId, i64>> {
    let mut out: HashMap<PersonId, HashMap<RoomId, i64>> = HashMap::new();
    for stay in stays {
        let length = stay.to.min(to) - stay.from.max(from);
        if length > 0 {
            *out.entry(stay.person_id)
                .or_default()
                .entry(stay.room_id)
                .or_default() += length;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::person;

    fn room(n: u128) -> RoomId {
        RoomId(uuid::Uuid::from_u128(900 + n))
    }

    #[test]
    fn a_stay_ends_when_its_person_moves_or_leaves() {
        let mut stays = Stays::new();
        assert_eq!(stays.update(person(1), Some(room(0)), 10), None);
        assert_eq!(
            stays.update(person(1), Some(room(0)), 20),
            None,
            "no move, no stay"
        );
        let ended = stays.update(person(1), Some(room(1)), 30).unwrap();
        assert_eq!((ended.room_id, ended.from, ended.to), (room(0), 10, 30));
        let ended = stays.update(person(1), None, 45).unwrap();
        assert_eq!((ended.room_id, ended.from, ended.to), (room(1), 30, 45));
        assert!(stays.open_until(50).is_empty());
    }

    #[test]
    fn a_sync_ends_the_stays_of_everyone_who_moved_or_left() {
        let mut stays = Stays::new();
        let mut at = HashMap::from([
            (person(1), room(0)),
            (person(2), room(0)),
            (person(3), room(0)),
        ]);
        assert!(stays.sync(&at, 0).is_empty());
        at.insert(person(1), room(1));
        at.insert(person(2), room(2));
        at.remove(&person(3));
        let mut ended = stays.sync(&at, 60);
        ended.sort_by_key(|s| s.person_id);
        assert_eq!(ended.len(), 3);
        assert!(
            ended
                .iter()
                .all(|s| (s.room_id, s.from, s.to) == (room(0), 0, 60))
        );
        let open = stays.open_until(90);
        assert_eq!(open.len(), 2);
        assert!(open.iter().all(|s| s.from == 60 && s.to == 90));
        // Kept until written; a write of the first two forgets those only.
        stays.note(ended.clone());
        stays.written(2);
        assert_eq!(stays.unwritten(), &ended[2..]);
    }

    #[test]
    fn time_is_summed_per_person_and_room_within_the_window() {
        let stays = [
            Stay {
                person_id: person(1),
                room_id: room(0),
                from: 0,
                to: 100,
            },
            Stay {
                person_id: person(1),
                room_id: room(1),
                from: 100,
                to: 250,
            },
            Stay {
                person_id: person(1),
                room_id: room(0),
                from: 250,
                to: 400,
            },
        ];
        let t = time_per_room(&stays, 50, 300);
        assert_eq!(t[&person(1)][&room(0)], 50 + 50);
        assert_eq!(t[&person(1)][&room(1)], 150);
    }
}
