//! The SFU's side of recording: which of a recorded room's sources are tapped, started and
//! stopped as people move, join and leave.

use std::collections::HashSet;
use std::time::Instant;

use tracing::info;

use super::Sfu;
use crate::ids::{PersonId, RecordingId, RoomId};
use crate::media::record::{Note, Tap};

impl Sfu {
    /// Starts recording a room's call.
    pub(super) fn record(
        &mut self,
        stream: RoomId,
        room: RoomId,
        id: RecordingId,
        dir: std::path::PathBuf,
        now: Instant,
    ) {
        if self.recorder.is_none() {
            tracing::warn!(%room, "no recorder: the call is not recorded");
            return;
        }
        self.stop_recording(stream, room, None, now);
        if let Some(recorder) = &self.recorder {
            recorder.send(Tap::Begin { id, dir, at: now });
        }
        self.taps.begin(stream, room, id);
        self.metrics.recordings_active.inc();
        info!(%room, recording = %id, "recording the call");
        // Everyone there gets a view saying so before the tap takes anything of theirs.
        let call = self.calls.entry(stream).or_default();
        call.recorded.insert(room);
        call.dirty = true;
        self.any_dirty = true;
    }

    /// Stops recording a room's call; `done` is told once its files are on disk.
    pub(super) fn stop_recording(
        &mut self,
        stream: RoomId,
        room: RoomId,
        done: Option<tokio::sync::oneshot::Sender<()>>,
        now: Instant,
    ) {
        let Some(id) = self.taps.end(stream, room) else {
            if let Some(done) = done {
                let _ = done.send(());
            }
            return;
        };
        self.metrics.recordings_active.dec();
        info!(%room, recording = %id, "stopped recording the call");
        if let Some(call) = self.calls.get_mut(&stream) {
            call.recorded.remove(&room);
            call.dirty = true;
            self.any_dirty = true;
        }
        if let Some(recorder) = &self.recorder {
            recorder.send(Tap::End { id, at: now, done });
        }
    }

    /// Tells the recordings of a call who is present and who speaks, as it changed.
    pub(super) fn sync_recordings(&mut self, stream: RoomId, now: Instant) {
        let (Some(rooms), Some(recorder)) = (self.taps.streams.get_mut(&stream), &self.recorder)
        else {
            return;
        };
        let call = self.calls.get(&stream);
        for (room, rec) in rooms.iter_mut() {
            let here: HashSet<PersonId> = call
                .map(|c| {
                    c.locations
                        .iter()
                        .filter(|(_, r)| *r == room)
                        .map(|(p, _)| *p)
                        .collect()
                })
                .unwrap_or_default();
            for person in here.difference(&rec.present) {
                let name = call
                    .and_then(|c| c.names.get(person))
                    .cloned()
                    .unwrap_or_default();
                recorder.send(Tap::Note {
                    id: rec.id,
                    at: now,
                    person: *person,
                    note: Note::Present { name },
                });
            }
            for person in rec.present.difference(&here) {
                recorder.send(Tap::Note {
                    id: rec.id,
                    at: now,
                    person: *person,
                    note: Note::Absent,
                });
            }
            rec.layers.retain(|(p, _), _| here.contains(p));
            rec.speaking.retain(|p| here.contains(p));
            rec.present = here;
            for person in &rec.present {
                let speaking = call
                    .and_then(|c| c.members.get(person))
                    .is_some_and(|m| m.speaking);
                if speaking != rec.speaking.contains(person) {
                    let note = if speaking {
                        rec.speaking.insert(*person);
                        Note::Speaking
                    } else {
                        rec.speaking.remove(person);
                        Note::Silent
                    };
                    recorder.send(Tap::Note {
                        id: rec.id,
                        at: now,
                        person: *person,
                        note,
                    });
                }
            }
        }
    }
}
