//! The call of one main room inside the media server: where its people are (as the room actor
//! last said), who is in the call with what they send, and how a receiver's slots are chosen.
//!
//! Invariants: a slot only ever carries a source that [`crate::domain::call::table`] allows for
//! its receiver (the SFU fills slots from that table and nothing else); the views sent to a
//! receiver name only call members in the receiver's own location.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::Serialize;

use super::peer::{Feed, PeerId};
use crate::domain::call::{self, MediaState, Source, Table};
use crate::ids::{PersonId, RoomId};

/// Loudness (0 = silence, 127 = full scale; RFC 6464 level + 127) above which someone speaks.
const SPEAKING: f32 = 60.0;
/// How much of the loudness each packet's level contributes (50 packets/s: about 100 ms).
const SMOOTHING: f32 = 0.2;

/// One person in the call.
#[derive(Debug)]
pub struct Member {
    /// Their peer.
    pub peer: PeerId,
    /// What they send.
    pub state: MediaState,
    /// The person whose camera they keep in view, if any.
    pub pin: Option<PersonId>,
    /// Smoothed loudness of their microphone.
    pub loudness: f32,
    /// When they last spoke.
    pub last_spoke: Option<Instant>,
    /// Speaking now.
    pub speaking: bool,
    /// Order of joining, for stable ties.
    pub order: u64,
}

impl Member {
    /// A new member sending `state`.
    pub fn new(peer: PeerId, state: MediaState, order: u64) -> Member {
        Member {
            peer,
            state,
            pin: None,
            loudness: 0.0,
            last_spoke: None,
            speaking: false,
            order,
        }
    }

    /// Takes the audio level of one microphone packet (RFC 6464: 0 loudest, -127 silence).
    pub fn hear(&mut self, level: i8, now: Instant) {
        let loudness = f32::from(level.clamp(-127, 0)) + 127.0;
        self.loudness += (loudness - self.loudness) * SMOOTHING;
        if self.loudness >= SPEAKING {
            self.last_spoke = Some(now);
        }
    }

    /// Updates `speaking` from the loudness; true if it changed.
    pub fn settle_speaking(&mut self) -> bool {
        let speaking = self.state.sends(Source::Mic) && self.loudness >= SPEAKING;
        std::mem::replace(&mut self.speaking, speaking) != speaking
    }
}

/// The call of one main room.
#[derive(Debug, Default)]
pub struct Call {
    /// Where each connected person of the main room is.
    pub locations: HashMap<PersonId, RoomId>,
    /// Their display names.
    pub names: HashMap<PersonId, String>,
    /// Call members.
    pub members: HashMap<PersonId, Member>,
    /// Where each source is forwarded: (receiving peer, slot index).
    pub routes: HashMap<Feed, Vec<(PeerId, usize)>>,
    /// Something changed that may change slots or views.
    pub dirty: bool,
    /// Joins so far, for ordering.
    pub joins: u64,
    /// Rooms of this main room whose call is being recorded.
    pub recorded: std::collections::HashSet<RoomId>,
}

impl Call {
    /// The forwarding table, from the pure rule.
    pub fn table(&self) -> Table {
        let states = self
            .members
            .iter()
            .map(|(p, m)| (*p, m.state))
            .collect::<HashMap<_, _>>();
        call::table(&self.locations, &states)
    }

    /// What `receiver` would like in its audio and video slots, best first.
    pub fn wanted(
        &self,
        receiver: PersonId,
        allowed: &BTreeSet<(PersonId, Source)>,
    ) -> (Vec<Feed>, Vec<Feed>) {
        let order = |p: &PersonId| self.members.get(p).map_or(u64::MAX, |m| m.order);
        let mut audio: Vec<Feed> = allowed
            .iter()
            .filter(|(_, s)| *s == Source::Mic)
            .copied()
            .collect();
        audio.sort_by(|a, b| {
            let la = self.members.get(&a.0).map_or(0.0, |m| m.loudness);
            let lb = self.members.get(&b.0).map_or(0.0, |m| m.loudness);
            lb.total_cmp(&la).then(order(&a.0).cmp(&order(&b.0)))
        });
        let pin = self.members.get(&receiver).and_then(|m| m.pin);
        let mut video: Vec<Feed> = allowed
            .iter()
            .filter(|(_, s)| s.is_video())
            .copied()
            .collect();
        // Screens first, then the pinned camera, then cameras of the most recent speakers.
        video.sort_by_key(|(p, s)| {
            let rank = match s {
                Source::Screen => 0,
                _ if Some(*p) == pin => 1,
                _ => 2,
            };
            let spoke = self
                .members
                .get(p)
                .and_then(|m| m.last_spoke)
                .map(std::cmp::Reverse);
            (rank, spoke.is_none(), spoke, order(p))
        });
        (audio, video)
    }

    /// The `call_state` view for `receiver`: the call members in their room and their slots.
    pub fn view(
        &self,
        stream: RoomId,
        receiver: PersonId,
        call_id: PeerId,
        slots: &[(String, bool, Option<Feed>)],
    ) -> String {
        #[derive(Serialize)]
        struct Person<'a> {
            person_id: PersonId,
            display_name: &'a str,
            mic: bool,
            camera: bool,
            screen: bool,
            muted_by_moderator: bool,
            speaking: bool,
        }
        #[derive(Serialize)]
        struct SlotView<'a> {
            mid: &'a str,
            kind: &'static str,
            person_id: Option<PersonId>,
            source: Option<Source>,
        }
        let location = self.locations.get(&receiver);
        let mut people: Vec<(&PersonId, &Member)> = self
            .members
            .iter()
            .filter(|(p, _)| location.is_some() && self.locations.get(p) == location)
            .collect();
        people.sort_by_key(|(_, m)| m.order);
        let people: Vec<Person<'_>> = people
            .into_iter()
            .map(|(p, m)| Person {
                person_id: *p,
                display_name: self.names.get(p).map_or("", String::as_str),
                mic: m.state.mic,
                camera: m.state.camera,
                screen: m.state.screen,
                muted_by_moderator: m.state.muted_by_moderator,
                speaking: m.speaking,
            })
            .collect();
        let slots: Vec<SlotView<'_>> = slots
            .iter()
            .map(|(mid, video, feed)| SlotView {
                mid,
                kind: if *video { "video" } else { "audio" },
                person_id: feed.map(|f| f.0),
                source: feed.map(|f| f.1),
            })
            .collect();
        // Told before anything of theirs is recorded: the tap starts after this view is sent.
        let recording = location.is_some_and(|l| self.recorded.contains(l));
        serde_json::json!({
            "type": "call_state", "room": stream, "stream": stream, "call_id": call_id,
            "location": location, "people": people, "slots": slots, "recording": recording,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_then_pin_then_recent_speakers() {
        let now = Instant::now();
        let mut call = Call::default();
        let people: Vec<PersonId> = (0..4).map(|_| PersonId::new()).collect();
        for (i, p) in people.iter().enumerate() {
            let state = MediaState {
                mic: true,
                camera: true,
                screen: i == 3,
                muted_by_moderator: false,
            };
            call.members
                .insert(*p, Member::new(i as u64, state, i as u64));
        }
        call.members.get_mut(&people[2]).unwrap().last_spoke = Some(now);
        call.members.get_mut(&people[1]).unwrap().loudness = 90.0;
        call.members.get_mut(&people[0]).unwrap().pin = Some(people[3]);
        let allowed: BTreeSet<_> = people[1..]
            .iter()
            .flat_map(|p| Source::ALL.map(|s| (*p, s)))
            .filter(|(p, s)| call.members[p].state.sends(*s))
            .collect();
        let (audio, video) = call.wanted(people[0], &allowed);
        assert_eq!(audio[0], (people[1], Source::Mic));
        assert_eq!(
            video,
            vec![
                (people[3], Source::Screen),
                (people[3], Source::Camera),
                (people[2], Source::Camera),
                (people[1], Source::Camera),
            ]
        );
    }
}
