//! What keeps a room actor loaded, and the recordings' timers: a recorded room nobody is in
//! stops recording after a grace time, and a recording that starts or stops is handed to the
//! recordings' jobs.

use super::Actor;
use crate::domain::recording;
use crate::domain::room::Event;
use crate::ids::PersonId;
use crate::media::Command as MediaCommand;

impl Actor {
    /// Whether nothing keeps the room in memory: nobody connected to it, no round whose timer
    /// must run, no call.
    pub(super) fn is_idle(&self) -> bool {
        if !self.waiting.is_empty() {
            return false;
        }
        if !self.ownership.serves() {
            return self.subscribers.is_empty();
        }
        self.subscribers.is_empty()
            && self.remote.is_empty()
            && !self.state.breakout.is_live()
            && !self.call_live
            && self.state.recordings.is_empty()
    }

    /// When the first recorded room that is empty has been so for the grace time.
    pub(super) fn empty_deadline(&self) -> Option<i64> {
        self.empty_since
            .values()
            .min()
            .map(|since| since + recording::EMPTY_GRACE_MS)
    }

    /// Notes which recorded rooms are empty now (after anything that moves people).
    pub(super) fn track_empty(&mut self, now: i64) {
        let empty = recording::emptied(&self.state);
        self.empty_since.retain(|room, _| empty.contains(room));
        for room in empty {
            self.empty_since.entry(room).or_insert(now);
        }
    }

    /// Tells the media server to start or stop recording, and hands a stopped recording to the
    /// composer.
    pub(super) fn follow_recording(&mut self, event: &Event) {
        match event {
            Event::RecordingStarted { room, recording } => {
                // The media server must know where everyone is, even before anyone joins.
                if !self.call_live {
                    self.call_live = true;
                    let everyone: Vec<PersonId> = self.state.locations.keys().copied().collect();
                    self.send_locations(everyone);
                }
                self.rooms.media.send(MediaCommand::Record {
                    stream: self.stream,
                    room: *room,
                    id: recording.id,
                    dir: self.rooms.recordings.dir_of(recording.id),
                });
            }
            Event::RecordingStopped {
                room,
                recording,
                stopped_at,
                ..
            } => {
                self.empty_since.remove(room);
                let (done, closed) = tokio::sync::oneshot::channel();
                self.rooms.media.send(MediaCommand::StopRecording {
                    stream: self.stream,
                    room: *room,
                    done: Some(done),
                });
                self.rooms.recordings.stopped(crate::recording::Job {
                    main: self.stream,
                    recording: recording.clone(),
                    stopped_at: *stopped_at,
                    closed: Some(closed),
                });
            }
            _ => {}
        }
    }
}
