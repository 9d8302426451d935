//! The command path of a room actor: a command is refused on a follower, answered from memory if it
//! ran before, else applied to the domain, committed to the store in one transaction (under the
//! fence, in a cluster), folded into the state and only then published; then what follows a commit
//! (the call's locations, recording and report bookkeeping). Also the timers' own commands and the
//! settling done when a room is loaded.

use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::{Actor, Flow};
use crate::contract::{CommandId, Committed, RoomError, Unavailable};
use crate::domain::breakout;
use crate::domain::recording;
use crate::domain::recording::RecordingEnd;
use crate::domain::room::{self, Caller, Command, Event};
use crate::ids::RoomId;
use crate::media::Command as MediaCommand;
use crate::store::StoreError;

impl Actor {
    /// A command: refused on a follower (unless the owner is gone and this node takes over),
    /// answered from memory if it ran before, else applied, committed and published.
    pub(super) async fn on_command(
        &mut self,
        caller: Caller,
        command: Command,
        id: Option<CommandId>,
        reply: oneshot::Sender<Result<Committed, RoomError>>,
    ) -> Flow {
        if let Some(owner) = self.ownership.follow().map(|f| f.owner.clone()) {
            // The owner may be gone: then this node serves the room from now on.
            let gone = self
                .rooms
                .settings
                .node
                .as_ref()
                .is_some_and(|n| n.is_presumed_gone(&owner));
            self.try_promote(gone).await;
            if let Some(owner) = self.ownership.follow().map(|f| f.owner.clone()) {
                let _ = reply.send(Err(RoomError::Elsewhere(owner)));
                return Flow::Continue;
            }
        }
        if let Some(done) = self.already_done(id.as_ref()).await {
            let _ = reply.send(done);
            return Flow::Continue;
        }
        let now = self.rooms.clock.now_ms();
        // Its sender has given up on it (it was held back on the way): not carried out.
        if id
            .as_ref()
            .and_then(|id| id.deadline)
            .is_some_and(|deadline| now > deadline)
        {
            let _ = reply.send(Err(RoomError::Unavailable(Unavailable::Late)));
            return Flow::Continue;
        }
        let began = std::time::Instant::now();
        let result = room::apply(&self.state, &caller, command, self.rooms.ctx_at(now));
        debug!(target: "huddle::timing", apply_us = began.elapsed().as_micros() as u64, "applied");
        let command_id = id.as_ref().map(|id| id.id.as_str());
        let result = match result {
            Ok(events) => self.commit_and_publish(events, now, command_id).await,
            Err(e) => Err(e.into()),
        };
        let deleted = matches!(&result, Ok(events) if events.iter().any(|(_, e)| matches!(e, Event::RoomDeleted { .. })));
        let seq = self.last_seq;
        let result = result.map(|events| Committed { seq, events });
        if let (Some(id), Ok(committed)) = (id, &result) {
            self.answers.remember(id.id, committed.clone());
        }
        let _ = reply.send(result);
        if deleted {
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// The answer of a command with this id that was carried out already: remembered here, or
    /// (for a retry) found in the store, where another node may have stored it before it died.
    pub(super) async fn already_done(
        &self,
        id: Option<&CommandId>,
    ) -> Option<Result<Committed, RoomError>> {
        let id = id?;
        if let Some(done) = self.answers.get(&id.id) {
            return Some(Ok(done.clone()));
        }
        if !id.retry {
            return None;
        }
        match self.rooms.store.command_events(self.stream, &id.id).await {
            Ok(Some(events)) => Some(Ok(Committed {
                seq: events.last().map_or(self.last_seq, |(seq, _)| *seq),
                events,
            })),
            Ok(None) => None,
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Just loaded: a round whose deadline passed while Huddle was down ends now, and recordings
    /// that were running when Huddle stopped end (what was written is composed).
    pub(super) async fn on_load(&mut self) {
        // Stays the previous owner had under way when it stopped without closing them end where
        // its last checkpoint left them.
        if let Err(e) = self.rooms.store.settle_stays(self.stream).await {
            warn!(error = %e, "the report's last checkpoint could not be settled");
        }
        // The help requests still pending wait since they were made.
        self.track_stays(
            crate::domain::report::Movers::Nobody,
            crate::domain::report::Note::Help,
        );
        let now = self.rooms.clock.now_ms();
        let mut events = breakout::overdue(&self.state, now);
        let running: Vec<RoomId> = self.state.recordings.keys().copied().collect();
        events.extend(
            running.into_iter().filter_map(|room| {
                recording::stop(&self.state, room, RecordingEnd::Interrupted, now)
            }),
        );
        if let Err(e) = self.commit_and_publish(events, now, None).await {
            warn!(error = %e, "closing an overdue round failed; the timer will close it");
        }
    }

    /// The breakout timer reached its deadline: count down, close the rooms, or start a
    /// schedule's next round (planned from the rounds of this session the store keeps).
    pub(super) async fn on_timer(&mut self) {
        let now = self.rooms.clock.now_ms();
        let mut events = breakout::tick(&self.state, now);
        if breakout::schedule::due(&self.state, now) {
            let since = now - crate::domain::rotation::SESSION_MS;
            match self.rooms.store.rounds(self.stream, since).await {
                Ok(history) => events.extend(breakout::schedule::next_round(
                    &self.state,
                    &crate::domain::rotation::Met::of(&history),
                    self.rooms.ctx_at(now),
                )),
                Err(e) => {
                    warn!(error = %e, "the schedule could not read who already met; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return;
                }
            }
        }
        let emptied: Vec<RoomId> = self
            .empty_since
            .iter()
            .filter(|(_, since)| now >= **since + recording::EMPTY_GRACE_MS)
            .map(|(room, _)| *room)
            .collect();
        for room in emptied {
            self.empty_since.remove(&room);
            events.extend(recording::stop(
                &self.state,
                room,
                RecordingEnd::Emptied,
                now,
            ));
        }
        if let Err(e) = self.commit_and_publish(events, now, None).await {
            warn!(error = %e, "the breakout timer could not store its event; retrying in a second");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Stores events with the next sequence numbers, then folds and publishes them.
    pub(super) async fn commit_and_publish(
        &mut self,
        events: Vec<Event>,
        now: i64,
        command: Option<&str>,
    ) -> Result<Vec<(u64, Event)>, RoomError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut events = events;
        let stops = recording::follow(&self.state, &events, now);
        events.extend(stops);
        let numbered: Vec<(u64, Event)> = events
            .into_iter()
            .zip(self.last_seq + 1..)
            .map(|(e, s)| (s, e))
            .collect();
        let began = std::time::Instant::now();
        let stored = self
            .rooms
            .store
            .commit(
                self.stream,
                &numbered,
                now,
                self.rooms.settings.replay as u64,
                self.ownership.fence(),
                command,
            )
            .await;
        if let Err(StoreError::Fenced) = stored {
            self.fenced = true;
        }
        stored?;
        self.rooms.metrics.commands.inc();
        let committed = began.elapsed();
        self.after_commit(&numbered);
        debug!(
            target: "huddle::timing",
            events = numbered.len(),
            commit_us = committed.as_micros() as u64,
            publish_us = (began.elapsed() - committed).as_micros() as u64,
            "committed and published"
        );
        Ok(numbered)
    }

    /// Folds and publishes stored events (committed here, or by the owner this node follows).
    pub(super) fn after_commit(&mut self, numbered: &[(u64, Event)]) {
        let owner = self.ownership.serves();
        let mut deleted = false;
        let mut unrecorded = Vec::new();
        for (seq, event) in numbered.iter().cloned() {
            self.last_seq = seq;
            let was = self.state.places(&event);
            if matches!(event, Event::RoomDeleted { .. }) {
                // Their rows go with the room; their raw files are removed below.
                unrecorded.extend(self.state.recordings.values().map(|r| r.id));
            }
            let folding = std::time::Instant::now();
            self.state.fold(&event);
            debug!(target: "huddle::timing", fold_us = folding.elapsed().as_micros() as u64, "folded");
            let movers = crate::domain::report::movers(&event);
            match &event {
                Event::MemberAdded { member, .. } => {
                    self.attach(member.person_id);
                    self.announce_access(vec![member.person_id]);
                }
                Event::MembersAdded { members, .. } => {
                    for member in members {
                        self.attach(member.person_id);
                    }
                    self.announce_access(members.iter().map(|m| m.person_id).collect());
                }
                Event::RoleChanged { person_id, .. } | Event::MemberRemoved { person_id, .. } => {
                    self.refresh_watcher(*person_id)
                }
                _ => {}
            }
            deleted |= matches!(event, Event::RoomDeleted { .. });
            if owner {
                self.follow_recording(&event);
            }
            let removed = match &event {
                Event::MemberRemoved { person_id, .. } => Some(*person_id),
                _ => None,
            };
            let note = if owner {
                crate::domain::report::note(&event)
            } else {
                crate::domain::report::Note::Nothing
            };
            self.publish(seq, event, true, &was);
            // After the event went out: the report's bookkeeping is not on the clients' path.
            if owner {
                self.track_stays(movers, note);
            }
            if let Some(person) = removed.filter(|p| !self.state.has_access(*p)) {
                self.detach(|c| c.person == person);
                if self.call_live {
                    self.rooms.media.send(MediaCommand::Evict {
                        stream: self.stream,
                        person,
                    });
                }
            }
        }
        if deleted {
            self.detach(|_| true);
            if self.call_live {
                self.rooms.media.send(MediaCommand::Close {
                    stream: self.stream,
                    reason: "room_deleted",
                });
            }
            for id in unrecorded.into_iter().filter(|_| owner) {
                let dir = self.rooms.recordings.dir_of(id);
                tokio::spawn(async move {
                    // After the media thread's stop has closed the files.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = tokio::fs::remove_dir_all(dir).await;
                });
            }
        }
        self.release_waiting();
    }
}
