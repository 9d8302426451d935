//! The session report's stays, kept by the room actor: each move, call change and help request
//! opens or closes a stay (`domain::report::Stays`); ended stays are written a second after a
//! burst, and the stays under way are checkpointed every `report_checkpoint`, so that a crash loses
//! at most that much.

use std::time::Duration;

use tracing::warn;

use super::Actor;
use crate::contract::{RoomError, Unavailable};
use crate::ids::{PersonId, RoomId};
use crate::store::StayRow;

/// A write of stays under way: how many, and whether it went through.
pub(super) type Writing = (usize, tokio::sync::oneshot::Receiver<bool>);

/// Waits for a write of stays to end (forever without one).
pub(super) async fn written(writing: &mut Option<Writing>) -> bool {
    match writing {
        Some((_, done)) => done.await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

impl Actor {
    /// Notes the stays that the event just folded and published ended (`movers`: whom it may
    /// have moved; `note`: what else it means), for the session report.
    pub(super) fn track_stays(
        &mut self,
        movers: crate::domain::report::Movers,
        note: crate::domain::report::Note,
    ) {
        use crate::domain::report::{self, Kind, Movers, Note, Stay};
        let now = self.rooms.clock.now_ms();
        let state = &mut self.state;
        let before = state.stays.unwritten().len();
        if note != Note::Nothing || movers == Movers::Everyone {
            let rooms: Vec<(RoomId, String)> = std::iter::once(&state.main)
                .chain(state.breakouts.values())
                .map(|r| (r.id, r.name.clone()))
                .collect();
            for (id, name) in rooms {
                state.stays.name(id, &name);
            }
            let answer = match &note {
                Note::Answered {
                    person,
                    accepted,
                    by,
                } => Some((
                    *person,
                    report::answered(*accepted, state.display_name(*by).unwrap_or_default()),
                )),
                _ => None,
            };
            let outcome = |person: PersonId| match &answer {
                Some((asked, outcome)) if *asked == person => outcome.clone(),
                _ => report::UNANSWERED.to_owned(),
            };
            let ended = state.stays.help(state.breakout.help.values(), outcome, now);
            for (stay, detail) in ended {
                state.stays.note_with(stay, detail);
            }
            if let Note::Broadcast { from, text } = note {
                let sent = Stay {
                    kind: Kind::Broadcast,
                    person_id: from,
                    room_id: state.main.id,
                    from: now,
                    to: now,
                };
                state.stays.note_with(sent, text);
            }
        }
        let ended = match movers {
            Movers::Nobody => Vec::new(),
            Movers::One(person) => {
                let location = state.locations.get(&person).copied();
                if let Some(room) = location.and_then(|r| state.room(r)).cloned() {
                    state.stays.name(room.id, &room.name);
                }
                state
                    .stays
                    .update(person, location, now)
                    .into_iter()
                    .collect()
            }
            Movers::Everyone => state.stays.sync(&state.locations, now),
        };
        state.stays.note(ended);
        if state.stays.unwritten().len() > before {
            self.schedule_flush(Duration::from_secs(1));
        }
    }

    /// Writes the stays that ended `after` from now (or sooner, if a write is due sooner), and
    /// checkpoints those under way when their time comes.
    pub(super) fn schedule_flush(&mut self, after: Duration) {
        let now = tokio::time::Instant::now();
        let stays = &self.state.stays;
        let ended = (!stays.unwritten().is_empty()).then_some(now + after);
        let checkpoint = stays.any_open().then_some(self.checkpoint_at);
        self.flush_at = [self.flush_at, ended, checkpoint]
            .into_iter()
            .flatten()
            .min();
    }

    /// The media server says `person` is in the call sending `state`, or left it (`None`): the
    /// report's call, camera and microphone stays.
    pub(super) fn call_presence(
        &mut self,
        person: PersonId,
        state: Option<crate::domain::call::MediaState>,
    ) {
        if !self.ownership.serves() {
            return;
        }
        let now = self.rooms.clock.now_ms();
        let ended = self.state.stays.media(self.stream, person, state, now);
        self.state.stays.note(ended);
        self.schedule_flush(Duration::from_secs(1));
    }

    /// The stays that ended and are not written yet, with their rooms' names.
    pub(super) fn stay_rows(&self) -> Vec<StayRow> {
        self.state
            .stays
            .unwritten()
            .iter()
            .map(|(stay, detail)| StayRow {
                stay: *stay,
                room_name: self.state.stays.name_of(stay.room_id).to_owned(),
                detail: detail.clone(),
            })
            .collect()
    }

    /// The report's stays not in the store yet: those that ended and are not written, and those
    /// under way as if they ended now. Only the owner keeps them: a follower asks the owner
    /// (`forward`), in a task of its own.
    pub(super) fn under_way(
        &self,
        forward: bool,
        reply: tokio::sync::oneshot::Sender<Result<Vec<StayRow>, RoomError>>,
    ) {
        let (follow, node) = match (self.ownership.follow(), &self.rooms.settings.node) {
            (None, _) => {
                let mut rows = self.stay_rows();
                rows.extend(self.open_stay_rows(true));
                let _ = reply.send(Ok(rows));
                return;
            }
            (Some(follow), Some(node)) if forward => (follow, node),
            _ => {
                let _ = reply.send(Err(RoomError::Unavailable(Unavailable::NotOwner)));
                return;
            }
        };
        let (node, owner, stream) = (node.clone(), follow.owner.clone(), self.stream);
        self.rooms.tasks.spawn(async move {
            let _ = reply.send(node.bus.under_way(&owner, stream).await);
        });
    }

    /// The stays under way, as if they ended now, with their rooms' names. A checkpoint keeps
    /// them without the waits for help (`with_help` false): a pending request is stored with its
    /// time, and the next owner takes its wait up from there (`on_load`).
    pub(super) fn open_stay_rows(&self, with_help: bool) -> Vec<StayRow> {
        let now = self.rooms.clock.now_ms();
        let stays = &self.state.stays;
        stays
            .open_until(now)
            .into_iter()
            .filter(|stay| with_help || stay.kind != crate::domain::report::Kind::Help)
            .map(|stay| StayRow {
                stay,
                room_name: stays.name_of(stay.room_id).to_owned(),
                detail: String::new(),
            })
            .collect()
    }

    /// Writes the stays that ended (and, when its time has come, a checkpoint of those under
    /// way), in a task of its own: the room's commands never wait for it. They stay in
    /// `state.stays` until the write went through (a report meanwhile finds them there, or in
    /// both places, and counts each once).
    pub(super) fn flush_stays(&mut self) -> Option<Writing> {
        self.flush_at = None;
        let rows = self.stay_rows();
        let now = tokio::time::Instant::now();
        let open = (now >= self.checkpoint_at).then(|| {
            self.checkpoint_at = now + self.rooms.settings.report_checkpoint;
            self.open_stay_rows(false)
        });
        if rows.is_empty() && open.is_none() {
            return None;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let writing = (rows.len(), rx);
        let store = self.rooms.store.clone();
        let main = self.stream;
        let forget = self.rooms.clock.now_ms() - self.rooms.settings.report_retention_ms;
        self.rooms.tasks.spawn(async move {
            let written = store
                .record_stays(main, &rows, open.as_deref(), forget)
                .await;
            if let Err(e) = &written {
                warn!(error = %e, rows = rows.len(), "the report's stays could not be written; retrying");
            }
            let _ = tx.send(written.is_ok());
        });
        Some(writing)
    }

    /// A write of `n` stays ended: forget what it wrote, or try again (with a checkpoint) in
    /// five seconds.
    pub(super) fn stays_written(&mut self, n: usize, ok: bool) {
        if ok {
            self.state.stays.written(n);
        } else {
            self.checkpoint_at = tokio::time::Instant::now();
        }
        self.schedule_flush(Duration::from_secs(if ok { 1 } else { 5 }));
    }
}
