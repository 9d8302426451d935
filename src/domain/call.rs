//! Who hears and sees whom in a main room's call: a pure function of where people are, who is in
//! the call and what each of them sends.
//!
//! The rule (SPEC: every room has its own call; DESIGN: one PeerConnection per main room):
//! a person's microphone, camera or screen reaches exactly the other call members whose current
//! location is the same room, and only while that source is on (a microphone muted by a moderator
//! is off until its owner turns it on again). Someone without a location (not connected, removed)
//! receives nothing and reaches nobody. The media server (`media::sfu`) forwards by this table and
//! nothing else; its property test compares the two after every step.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::ids::{PersonId, RoomId};

/// One of the three things a person may send into a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The microphone (audio).
    Mic,
    /// The camera (video).
    Camera,
    /// A shared screen (video).
    Screen,
}

impl Source {
    /// All sources, in the order of the send m-lines a client offers.
    pub const ALL: [Source; 3] = [Source::Mic, Source::Camera, Source::Screen];

    /// Whether this source is video.
    pub fn is_video(self) -> bool {
        self != Source::Mic
    }

    /// Its name on the wire and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mic => "mic",
            Source::Camera => "camera",
            Source::Screen => "screen",
        }
    }
}

/// What a call member sends, as they (and moderators) set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    /// The microphone is on.
    pub mic: bool,
    /// The camera is on.
    pub camera: bool,
    /// A screen is shared.
    pub screen: bool,
    /// A moderator muted the microphone; only its owner turning it on again clears this.
    pub muted_by_moderator: bool,
}

impl MediaState {
    /// Whether `source` is forwarded at all.
    pub fn sends(&self, source: Source) -> bool {
        match source {
            Source::Mic => self.mic && !self.muted_by_moderator,
            Source::Camera => self.camera,
            Source::Screen => self.screen,
        }
    }
}

/// For each receiver, the (sender, source) pairs it may receive.
pub type Table = BTreeMap<PersonId, BTreeSet<(PersonId, Source)>>;

/// The forwarding table of one main room's call.
///
/// `locations` are the people connected to the main room's stream and where they are;
/// `members` the people in the call with what they send. Every call member with a location has an
/// entry (possibly empty); nobody else does.
pub fn table(
    locations: &HashMap<PersonId, RoomId>,
    members: &HashMap<PersonId, MediaState>,
) -> Table {
    let mut by_room: HashMap<RoomId, Vec<PersonId>> = HashMap::new();
    for person in members.keys() {
        if let Some(room) = locations.get(person) {
            by_room.entry(*room).or_default().push(*person);
        }
    }
    let mut table = Table::new();
    for people in by_room.values() {
        for receiver in people {
            let sources = people
                .iter()
                .filter(|sender| *sender != receiver)
                .flat_map(|sender| {
                    let state = members[sender];
                    Source::ALL
                        .into_iter()
                        .filter(move |s| state.sends(*s))
                        .map(move |s| (*sender, s))
                })
                .collect();
            table.insert(*receiver, sources);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> MediaState {
        MediaState {
            mic: true,
            camera: true,
            screen: false,
            muted_by_moderator: false,
        }
    }

    #[test]
    fn only_the_same_room_and_only_what_is_on() {
        let (main, b1) = (RoomId::new(), RoomId::new());
        let (a, b, c, d) = (
            PersonId::new(),
            PersonId::new(),
            PersonId::new(),
            PersonId::new(),
        );
        let locations = HashMap::from([(a, main), (b, main), (c, b1), (d, b1)]);
        let mut members = HashMap::from([(a, on()), (b, on()), (c, on())]);
        members.get_mut(&b).unwrap().muted_by_moderator = true;
        let t = table(&locations, &members);
        // a hears nothing from b (muted by a moderator) but sees b's camera.
        assert_eq!(t[&a], BTreeSet::from([(b, Source::Camera)]));
        assert_eq!(
            t[&b],
            BTreeSet::from([(a, Source::Mic), (a, Source::Camera)])
        );
        // c is alone in the call in b1 (d is there but not in the call).
        assert!(t[&c].is_empty());
        assert!(!t.contains_key(&d));
        // Without a location nobody receives or is received.
        let t = table(&HashMap::from([(b, main)]), &members);
        assert_eq!(t.len(), 1);
        assert!(t[&b].is_empty());
    }
}
