//! The session report's raw material: stays, each a person in one state from one moment to
//! another — in a room of a main room, in its call, with camera or microphone on, waiting for
//! help ([`Kind`]); a broadcast is a stay of no length. A stay is recorded when it ends — a row
//! per change, not per event — and the report sums them per person and room.
//!
//! [`Stays`] is the bookkeeping the room's actor keeps beside its state: where each connected
//! person has been since when, and since when they are in the call or wait for help. After each
//! event the actor asks [`movers`] whom the event may have moved, and [`Stays::update`] (one
//! person) or [`Stays::sync`] (everyone, after a start, a stop, rooms brought back or deleted)
//! answer the stays that ended; [`Stays::media`] does the same for the call (as the media server
//! reports it) and [`Stays::help`] for help requests.
//!
//! Invariant: a person has an open room stay exactly when they have a location, in that location.
//!
//! [`summarise`] (in `summary`) turns the stays of a window into the report.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::breakout::HelpRequest;
use super::call::MediaState;
use super::event::Event;
use crate::ids::{PersonId, RoomId};

mod summary;
pub use summary::{
    BroadcastRow, HelpWait, MainRoom, Report, ReportPerson, ReportRoom, RoomTime, people, summarise,
};

/// What a stay records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// In a room (the main room or a breakout room).
    #[default]
    Room,
    /// In the main room's call (the room: the main room).
    Call,
    /// In the call with the camera on.
    Camera,
    /// In the call with the microphone on (and not muted by a moderator).
    Mic,
    /// Waiting for help, in the breakout room that asked; the detail says how it ended.
    Help,
    /// Sent a broadcast (no length; the detail is its text).
    Broadcast,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Room,
        Kind::Call,
        Kind::Camera,
        Kind::Mic,
        Kind::Help,
        Kind::Broadcast,
    ];

    /// Its name in the store and the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Room => "room",
            Kind::Call => "call",
            Kind::Camera => "camera",
            Kind::Mic => "mic",
            Kind::Help => "help",
            Kind::Broadcast => "broadcast",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A person in a state from `from` to `to` (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Stay {
    /// What.
    #[serde(default)]
    pub kind: Kind,
    /// Who.
    pub person_id: PersonId,
    /// Where: the main room or one of its breakout rooms.
    pub room_id: RoomId,
    /// Since when.
    pub from: i64,
    /// Until when.
    pub to: i64,
}

/// A stay as stored, with the room's name when it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayRow {
    /// The stay.
    pub stay: Stay,
    /// The room's name.
    pub room_name: String,
    /// A help request's outcome, a broadcast's text; empty for the rest.
    pub detail: String,
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

/// How a help request's wait ended, when the moderators answered it: `accepted by …` or
/// `dismissed by …`.
pub fn answered(accepted: bool, by: &str) -> String {
    if accepted {
        format!("accepted by {by}")
    } else {
        format!("dismissed by {by}")
    }
}

/// How a help request's wait ended when nobody answered it (the round ended first).
pub const UNANSWERED: &str = "unanswered";

/// What an event means for the report besides moving people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Nothing.
    Nothing,
    /// The open help requests may have changed.
    Help,
    /// A moderator answered `person`'s help request.
    Answered {
        /// Who asked.
        person: PersonId,
        /// Accepted or dismissed.
        accepted: bool,
        /// The moderator.
        by: PersonId,
    },
    /// A broadcast.
    Broadcast {
        /// Who sent it.
        from: PersonId,
        /// Its text.
        text: String,
    },
}

/// What `event` means for the report besides moving people ([`movers`]).
pub fn note(event: &Event) -> Note {
    match event {
        Event::HelpRequested { .. } => Note::Help,
        Event::HelpAnswered {
            person_id,
            accepted,
            by,
            ..
        } => Note::Answered {
            person: *person_id,
            accepted: *accepted,
            by: *by,
        },
        Event::Broadcast { from, text, .. } => Note::Broadcast {
            from: *from,
            text: text.clone(),
        },
        _ => Note::Nothing,
    }
}

/// The stays of a main room the store does not have yet: where each connected person is (and
/// whether in the call, waiting for help) since when, and the stays that ended since the last
/// write with their details (a help request's outcome, a broadcast's text), with the names of
/// their rooms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stays {
    open: HashMap<(PersonId, Kind), (RoomId, i64)>,
    unwritten: Vec<(Stay, String)>,
    names: HashMap<RoomId, String>,
}

impl Stays {
    /// No one yet.
    pub fn new() -> Stays {
        Stays::default()
    }

    /// `person` is now at `location` (or nowhere): the stay that ended, if their place changed.
    pub fn update(&mut self, person: PersonId, location: Option<RoomId>, now: i64) -> Option<Stay> {
        self.set(Kind::Room, person, location, now)
    }

    /// `person` is now in state `kind` in `room` (or not in it) since `since`: the stay that
    /// ended, if that changed.
    fn set(
        &mut self,
        kind: Kind,
        person: PersonId,
        room: Option<RoomId>,
        since: i64,
    ) -> Option<Stay> {
        let before = self.open.get(&(person, kind)).copied();
        if before.map(|(room, _)| room) == room {
            return None;
        }
        match room {
            Some(room) => self.open.insert((person, kind), (room, since)),
            None => self.open.remove(&(person, kind)),
        };
        before.map(|(room, from)| Stay {
            kind,
            person_id: person,
            room_id: room,
            from,
            to: since.max(from),
        })
    }

    /// `person` is in the call of `main` sending `state` now, or not in it (`None`): the stays
    /// (in the call, camera on, microphone on) that ended.
    pub fn media(
        &mut self,
        main: RoomId,
        person: PersonId,
        state: Option<MediaState>,
        now: i64,
    ) -> Vec<Stay> {
        let on = |yes: bool| yes.then_some(main);
        let [call, camera, mic] = match state {
            Some(s) => [Some(main), on(s.camera), on(s.mic && !s.muted_by_moderator)],
            None => [None; 3],
        };
        [(Kind::Call, call), (Kind::Camera, camera), (Kind::Mic, mic)]
            .into_iter()
            .filter_map(|(kind, room)| self.set(kind, person, room, now))
            .collect()
    }

    /// The open help requests are now `pending`: each request no longer pending ends its wait
    /// `now` with `outcome(person)`; each new one starts its wait when it was made. Answers the
    /// waits that ended, with their outcomes.
    pub fn help<'a>(
        &mut self,
        pending: impl IntoIterator<Item = &'a HelpRequest>,
        outcome: impl Fn(PersonId) -> String,
        now: i64,
    ) -> Vec<(Stay, String)> {
        let pending: HashMap<PersonId, (RoomId, i64)> = pending
            .into_iter()
            .map(|h| (h.person_id, (h.breakout, h.created_at)))
            .collect();
        let waiting: Vec<PersonId> = self
            .open
            .keys()
            .filter(|(_, kind)| *kind == Kind::Help)
            .map(|(person, _)| *person)
            .collect();
        let mut ended = Vec::new();
        for person in waiting {
            if !pending.contains_key(&person) {
                ended.extend(
                    self.set(Kind::Help, person, None, now)
                        .map(|s| (s, outcome(person))),
                );
            }
        }
        for (person, (room, at)) in pending {
            if !self.open.contains_key(&(person, Kind::Help)) {
                self.set(Kind::Help, person, Some(room), at);
            }
        }
        ended
    }

    /// Everyone is now where `locations` says: the stays that ended.
    pub fn sync(&mut self, locations: &HashMap<PersonId, RoomId>, now: i64) -> Vec<Stay> {
        let gone: Vec<PersonId> = self
            .open
            .keys()
            .filter(|(p, kind)| *kind == Kind::Room && !locations.contains_key(p))
            .map(|(p, _)| *p)
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

    /// Whether anything is under way.
    pub fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// The stays still open, as if they ended `now` (a help request still waiting has no
    /// outcome yet).
    pub fn open_until(&self, now: i64) -> Vec<Stay> {
        self.open
            .iter()
            .map(|((person, kind), (room, from))| Stay {
                kind: *kind,
                person_id: *person,
                room_id: *room,
                from: *from,
                to: now.max(*from),
            })
            .collect()
    }

    /// Ends every open stay `now` (the room's actor stops), but the waits for help: a pending
    /// request is stored with its time, and the next actor takes its wait up from there.
    pub fn close_all(&mut self, now: i64) -> Vec<Stay> {
        let (help, rest): (HashMap<_, _>, HashMap<_, _>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|((_, kind), _)| *kind == Kind::Help);
        self.open = rest;
        let ended = self.open_until(now);
        self.open = help;
        ended
    }

    /// Keeps ended stays until they are written.
    pub fn note(&mut self, ended: Vec<Stay>) {
        self.unwritten
            .extend(ended.into_iter().map(|s| (s, String::new())));
    }

    /// Keeps an ended stay with its detail until it is written.
    pub fn note_with(&mut self, stay: Stay, detail: String) {
        self.unwritten.push((stay, detail));
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

    /// Ended stays not written yet, with their details.
    pub fn unwritten(&self) -> &[(Stay, String)] {
        &self.unwritten
    }

    /// Forgets the first `n` ended stays: they are written.
    pub fn written(&mut self, n: usize) {
        self.unwritten.drain(..n.min(self.unwritten.len()));
    }
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
        assert_eq!(stays.unwritten(), &[(ended[2], String::new())]);
    }

    #[test]
    fn the_call_camera_and_microphone_are_stays_of_their_own() {
        let mut stays = Stays::new();
        let main = room(0);
        let on = |mic, camera| {
            Some(MediaState {
                mic,
                camera,
                ..MediaState::default()
            })
        };
        assert!(stays.media(main, person(1), on(true, true), 0).is_empty());
        let ended = stays.media(main, person(1), on(false, true), 10);
        assert_eq!(ended.len(), 1);
        assert_eq!(
            (ended[0].kind, ended[0].from, ended[0].to),
            (Kind::Mic, 0, 10)
        );
        // A moderator's mute ends the microphone's stay though the owner's switch is on.
        assert!(stays.media(main, person(1), on(true, true), 20).is_empty());
        let muted = Some(MediaState {
            muted_by_moderator: true,
            ..on(true, true).unwrap()
        });
        let ended = stays.media(main, person(1), muted, 25);
        assert_eq!(
            (ended[0].kind, ended[0].from, ended[0].to),
            (Kind::Mic, 20, 25)
        );
        let mut ended = stays.media(main, person(1), None, 40);
        ended.sort_by_key(|s| s.kind.as_str());
        let kinds: Vec<(Kind, i64, i64)> = ended.iter().map(|s| (s.kind, s.from, s.to)).collect();
        assert_eq!(kinds, [(Kind::Call, 0, 40), (Kind::Camera, 0, 40)]);
        // Leaving the call leaves the room stay alone.
        stays.update(person(1), Some(main), 0);
        stays.media(main, person(1), None, 50);
        assert_eq!(stays.open_until(60).len(), 1);
    }

    #[test]
    fn a_help_request_waits_from_when_it_was_made_until_it_is_gone() {
        let mut stays = Stays::new();
        let ask = |who: u128, at: i64| HelpRequest {
            id: crate::ids::HelpId(uuid::Uuid::from_u128(who)),
            breakout: room(who),
            person_id: person(who),
            display_name: String::new(),
            created_at: at,
        };
        let (one, two) = (ask(1, 100), ask(2, 150));
        assert!(stays.help([&one, &two], |_| "x".into(), 160).is_empty());
        let ended = stays.help([&two], |_| answered(true, "Mo"), 400);
        assert_eq!(ended.len(), 1);
        let (stay, outcome) = &ended[0];
        assert_eq!(
            (stay.kind, stay.room_id, stay.from, stay.to),
            (Kind::Help, room(1), 100, 400)
        );
        assert_eq!(outcome, "accepted by Mo");
        // The actor stops: the wait goes on (its request is stored), the room stay ends.
        stays.update(person(2), Some(room(2)), 150);
        let closed = stays.close_all(450);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].kind, Kind::Room);
        let ended = stays.help([], |_| UNANSWERED.into(), 500);
        assert_eq!((ended[0].0.from, ended[0].1.as_str()), (150, UNANSWERED));
        assert_eq!(Kind::parse("help"), Some(Kind::Help));
        assert!(
            Kind::ALL
                .iter()
                .all(|k| Kind::parse(k.as_str()) == Some(*k))
        );
    }
}
