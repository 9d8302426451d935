//! Recording: a tap on the packets the SFU already receives, written to disk as they come.
//!
//! The media thread keeps, per main room, which of its rooms are recorded ([`Taps`]); for each
//! packet from a person located in such a room it decides whether it goes to the recording
//! ([`Taps::take`]) and hands it to the [`writer`] thread, which assembles VP8 frames ([`vp8`])
//! and writes Opus in Ogg ([`opus`]) and VP8 in WebM ([`webm`]), one file per person and source,
//! with a timeline. Composing one playable file happens after the stop, elsewhere
//! (`crate::recording`).
//!
//! Invariants: only sources the person sends (their media state, as the call's rule sees it) are
//! recorded, and only while they are located in the recorded room; of a simulcast camera one
//! layer at a time, the best that is active, switched only at a keyframe; the media thread
//! never waits for the writer.

pub mod opus;
pub mod vp8;
pub mod webm;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub use writer::{Note, Packet, Recorder, Tap};

use crate::domain::call::Source;
use crate::ids::{PersonId, RecordingId, RoomId};

/// One recorded room of a call.
#[derive(Debug)]
pub struct Recorded {
    /// The recording.
    pub id: RecordingId,
    /// Who the timeline says is present.
    pub present: HashSet<PersonId>,
    /// Who the timeline says is speaking.
    pub speaking: HashSet<PersonId>,
    /// The layer recorded of each video source.
    pub layers: HashMap<(PersonId, Source), usize>,
}

/// What the tap decides for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Not recorded.
    No,
    /// Recorded.
    Yes,
    /// Not recorded: the recording waits for a keyframe of this layer (ask the sender).
    WantKeyframe(usize),
}

/// The layer of a video source to record: keep the one recorded while it is active; move to the
/// best active layer at its keyframe when it is better, or when the recorded one stopped.
/// `active[i]` says whether layer `i` is sending.
pub fn record_layer(
    current: Option<usize>,
    layer: usize,
    keyframe: bool,
    active: &[bool],
) -> (Option<usize>, Take) {
    let best = active.iter().rposition(|a| *a);
    let current_active = current.is_some_and(|c| active.get(c).copied().unwrap_or(false));
    if current == Some(layer) {
        // A better layer is worth a keyframe; meanwhile this one is recorded.
        return (current, Take::Yes);
    }
    let better = match (current, best) {
        (_, None) => false,
        (None, Some(b)) => layer == b,
        (Some(c), Some(b)) => layer == b && (b > c || !current_active),
    };
    if better && keyframe {
        return (Some(layer), Take::Yes);
    }
    match best {
        Some(b) if current != Some(b) && (current.is_none_or(|c| b > c) || !current_active) => {
            (current, Take::WantKeyframe(b))
        }
        _ => (current, Take::No),
    }
}

/// The rooms of each main room being recorded, as the media thread sees them.
#[derive(Debug, Default)]
pub struct Taps {
    /// By main room, then by recorded room.
    pub streams: HashMap<RoomId, HashMap<RoomId, Recorded>>,
}

impl Taps {
    /// Starts recording `room` of `stream`.
    pub fn begin(&mut self, stream: RoomId, room: RoomId, id: RecordingId) {
        self.streams.entry(stream).or_default().insert(
            room,
            Recorded {
                id,
                present: HashSet::new(),
                speaking: HashSet::new(),
                layers: HashMap::new(),
            },
        );
    }

    /// Stops recording `room`; the recording it was, if any.
    pub fn end(&mut self, stream: RoomId, room: RoomId) -> Option<RecordingId> {
        let rooms = self.streams.get_mut(&stream)?;
        let gone = rooms.remove(&room).map(|r| r.id);
        if rooms.is_empty() {
            self.streams.remove(&stream);
        }
        gone
    }

    /// Decides about a packet of `person`'s `source` in `room`.
    pub fn take(
        &mut self,
        stream: RoomId,
        room: RoomId,
        person: PersonId,
        source: Source,
        layer: (usize, bool, &[bool]),
    ) -> Option<(RecordingId, Take)> {
        let recorded = self.streams.get_mut(&stream)?.get_mut(&room)?;
        if !source.is_video() {
            return Some((recorded.id, Take::Yes));
        }
        let (layer, keyframe, active) = layer;
        let key = (person, source);
        let (chosen, take) =
            record_layer(recorded.layers.get(&key).copied(), layer, keyframe, active);
        if let Some(chosen) = chosen {
            recorded.layers.insert(key, chosen);
        }
        Some((recorded.id, take))
    }

    /// The layer recorded now of a person's source, if any.
    pub fn layer_of(&self, stream: RoomId, person: PersonId, source: Source) -> Option<usize> {
        self.streams
            .get(&stream)?
            .values()
            .find_map(|r| r.layers.get(&(person, source)).copied())
    }
}

/// Where a recording's raw files go, under the recordings directory.
pub fn dir(base: &std::path::Path, id: RecordingId) -> PathBuf {
    base.join(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_active_layer_is_recorded_from_its_keyframe_on() {
        let both = [true, true, false];
        // Nothing recorded yet: a delta frame of the best layer asks for its keyframe.
        assert_eq!(
            record_layer(None, 1, false, &both),
            (None, Take::WantKeyframe(1))
        );
        assert_eq!(
            record_layer(None, 0, true, &both),
            (None, Take::WantKeyframe(1))
        );
        assert_eq!(record_layer(None, 1, true, &both), (Some(1), Take::Yes));
        // Recorded layer keeps going; the other layer is not recorded.
        assert_eq!(record_layer(Some(1), 1, false, &both), (Some(1), Take::Yes));
        assert_eq!(record_layer(Some(1), 0, true, &both), (Some(1), Take::No));
    }

    #[test]
    fn a_better_layer_or_a_stopped_one_moves_the_recording_at_a_keyframe() {
        // The top layer started: layer 0 goes on until layer 2's keyframe.
        let all = [true, true, true];
        assert_eq!(record_layer(Some(0), 0, false, &all), (Some(0), Take::Yes));
        assert_eq!(
            record_layer(Some(0), 2, false, &all),
            (Some(0), Take::WantKeyframe(2))
        );
        assert_eq!(record_layer(Some(0), 2, true, &all), (Some(2), Take::Yes));
        // The recorded layer stopped (the sender dropped it): the best remaining one, at its
        // keyframe, even though it is lower.
        let low_only = [true, false, false];
        assert_eq!(
            record_layer(Some(2), 0, false, &low_only),
            (Some(2), Take::WantKeyframe(0))
        );
        assert_eq!(
            record_layer(Some(2), 0, true, &low_only),
            (Some(0), Take::Yes)
        );
        // Nothing active (no measure yet): nothing asked.
        assert_eq!(record_layer(None, 0, true, &[false]), (None, Take::No));
    }
}
