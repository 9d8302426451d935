//! The SFU's peer table and its signalling: the commands from the room actors (join, restart,
//! leave, media states, locations, mute, view, pin), each person's peer set up or removed with
//! everything that pointed at it, and the frames that answer them.

use std::time::Instant;

use tracing::info;

use super::{CallPresence, Command, Sfu, Signal, TICK};
use crate::domain::call::MediaState;
use crate::ids::{PersonId, RoomId};
use crate::media::call::Member;
use crate::media::offer;
use crate::media::peer::{Peer, PeerId, Setup};
use crate::media::record::{Note, Tap};

impl Sfu {
    /// Applies a command from a room actor.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.now = now;
        match command {
            Command::Locations { stream, people } => {
                let call = self.calls.entry(stream).or_default();
                for (person, located) in people {
                    match located {
                        Some((room, name)) => {
                            call.locations.insert(person, room);
                            call.names.insert(person, name);
                        }
                        None => {
                            call.locations.remove(&person);
                        }
                    }
                }
                call.dirty = true;
                self.any_dirty = true;
            }
            Command::Join {
                stream,
                person,
                sdp,
                state,
            } => self.join(now, stream, person, &sdp, state),
            Command::Restart {
                stream,
                person,
                sdp,
            } => self.restart(stream, person, &sdp),
            Command::Leave { stream, person } => self.remove_person(stream, person, "left"),
            Command::Evict { stream, person } => self.remove_person(stream, person, "removed"),
            Command::Media {
                stream,
                person,
                mic,
                camera,
                screen,
            } => {
                if let Some(m) = self.member(stream, person) {
                    // Turning the microphone on is how its owner lifts a moderator's mute.
                    let muted = m.state.muted_by_moderator && !mic;
                    m.state = MediaState {
                        mic,
                        camera,
                        screen,
                        muted_by_moderator: muted,
                    };
                    self.mark(stream);
                    self.report(stream, person);
                } else {
                    self.not_in_call(stream, person);
                }
            }
            Command::Mute {
                stream,
                target,
                by,
                by_name,
            } => {
                if let Some(m) = self.member(stream, target) {
                    m.state.muted_by_moderator = true;
                    let frame = serde_json::json!({
                        "type": "call_muted", "room": stream, "stream": stream, "by": by,
                        "by_name": by_name,
                    });
                    self.signal(stream, target, frame.to_string());
                    self.mark(stream);
                    self.report(stream, target);
                }
            }
            Command::View {
                stream,
                person,
                heights,
            } => self.view(stream, person, &heights),
            Command::Pin {
                stream,
                person,
                pin,
            } => {
                if let Some(m) = self.member(stream, person) {
                    m.pin = pin;
                    self.mark(stream);
                } else {
                    self.not_in_call(stream, person);
                }
            }
            Command::Stats { stream, reply } => {
                // The asker may have given up waiting; nothing to do then.
                let _ = reply.send(self.stats(stream, now));
            }
            Command::Record {
                stream,
                room,
                id,
                dir,
            } => self.record(stream, room, id, dir, now),
            Command::StopRecording { stream, room, done } => {
                self.stop_recording(stream, room, done, now)
            }
            Command::Close { stream, reason } => {
                let rooms: Vec<RoomId> = self
                    .taps
                    .streams
                    .get(&stream)
                    .map(|r| r.keys().copied().collect())
                    .unwrap_or_default();
                for room in rooms {
                    self.stop_recording(stream, room, None, now);
                }
                let people: Vec<PersonId> = self
                    .calls
                    .get(&stream)
                    .map(|c| c.members.keys().copied().collect())
                    .unwrap_or_default();
                for person in people {
                    self.remove_person(stream, person, reason);
                }
                self.calls.remove(&stream);
            }
        }
        self.settle(now);
    }

    pub(super) fn member(&mut self, stream: RoomId, person: PersonId) -> Option<&mut Member> {
        self.calls.get_mut(&stream)?.members.get_mut(&person)
    }

    pub(super) fn mark(&mut self, stream: RoomId) {
        if let Some(call) = self.calls.get_mut(&stream) {
            call.dirty = true;
            self.any_dirty = true;
        }
    }

    /// Tells the room's actor what `person` sends in the call now (nothing: not in it).
    pub(super) fn report(&mut self, stream: RoomId, person: PersonId) {
        let state = self
            .calls
            .get(&stream)
            .and_then(|c| c.members.get(&person))
            .map(|m| m.state);
        self.presence.push_back(CallPresence {
            stream,
            person,
            state,
        });
    }

    pub(super) fn signal(&mut self, stream: RoomId, person: PersonId, frame: String) {
        self.signals.push_back(Signal {
            stream,
            person,
            frame,
        });
    }

    pub(super) fn error(&mut self, stream: RoomId, person: PersonId, code: &str, message: &str) {
        let frame = serde_json::json!({
            "type": "call_error", "room": stream, "stream": stream, "code": code, "message": message,
        });
        self.signal(stream, person, frame.to_string());
    }

    pub(super) fn not_in_call(&mut self, stream: RoomId, person: PersonId) {
        self.error(stream, person, "not_in_call", "join the call first");
    }

    pub(super) fn join(
        &mut self,
        now: Instant,
        stream: RoomId,
        person: PersonId,
        sdp: &str,
        state: MediaState,
    ) {
        let shape = match offer::check(sdp, self.config.audio_slots, self.config.video_slots) {
            Ok(shape) => shape,
            Err(e) => return self.error(stream, person, e.code, &e.message),
        };
        let id = self.next_id;
        let setup = Setup {
            cert: &self.cert,
            candidate: self.config.candidate,
            tcp: self.config.tcp,
        };
        let (peer, answer) = match Peer::accept(id, stream, person, sdp, &shape, &setup, now) {
            Ok(ok) => ok,
            Err(message) => return self.error(stream, person, "sdp_invalid", &message),
        };
        self.next_id += 1;
        if self.by_person.contains_key(&(stream, person)) {
            self.remove_person(stream, person, "replaced");
        }
        info!(room = %stream, person = %person, call_id = id, "joined the call");
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        self.by_person.insert((stream, person), id);
        self.peers.insert(id, peer);
        self.touched.insert(id);
        self.metrics.call_peers.inc();
        let call = self.calls.entry(stream).or_default();
        call.joins += 1;
        call.members
            .insert(person, Member::new(id, state, call.joins));
        call.dirty = true;
        self.any_dirty = true;
        self.report(stream, person);
        if self.next_tick.is_none() {
            self.next_tick = Some(now + TICK);
        }
        let mut frame = serde_json::json!({
            "type": "call_answer", "room": stream, "stream": stream, "call_id": id, "sdp": answer,
        });
        if let Some(node) = &self.config.node {
            frame["node"] = node.as_str().into();
        }
        self.signal(stream, person, frame.to_string());
    }

    pub(super) fn restart(&mut self, stream: RoomId, person: PersonId, sdp: &str) {
        let Some(id) = self.by_person.get(&(stream, person)).copied() else {
            return self.not_in_call(stream, person);
        };
        let shape = match offer::check(sdp, self.config.audio_slots, self.config.video_slots) {
            Ok(shape) => shape,
            Err(e) => return self.error(stream, person, e.code, &e.message),
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let old = peer.ufrag.clone();
        let answer = match peer.restart(sdp, &shape) {
            Ok(answer) => answer,
            Err(message) => return self.error(stream, person, "sdp_invalid", &message),
        };
        info!(room = %stream, person = %person, call_id = id, "ICE restart");
        self.by_ufrag.remove(&old);
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        self.touched.insert(id);
        let frame = serde_json::json!({
            "type": "call_answer", "room": stream, "stream": stream, "call_id": id, "sdp": answer,
            "restart": true,
        });
        self.signal(stream, person, frame.to_string());
    }

    pub(super) fn remove_person(&mut self, stream: RoomId, person: PersonId, reason: &'static str) {
        match self.by_person.get(&(stream, person)) {
            Some(id) => {
                let id = *id;
                self.remove_peer(id, reason);
            }
            None if reason == "left" => self.not_in_call(stream, person),
            None => {}
        }
    }

    pub(super) fn remove_peer(&mut self, id: PeerId, reason: &'static str) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        info!(room = %peer.stream, person = %peer.person, call_id = id, reason, "left the call");
        peer.rtc.disconnect();
        for addr in &peer.addrs {
            self.by_addr.remove(addr);
        }
        self.by_ufrag.remove(&peer.ufrag);
        if self.by_person.get(&(peer.stream, peer.person)) == Some(&id) {
            self.by_person.remove(&(peer.stream, peer.person));
        }
        self.touched.remove(&id);
        self.written.remove(&id);
        if let Some(call) = self.calls.get_mut(&peer.stream)
            && call.members.get(&peer.person).is_some_and(|m| m.peer == id)
        {
            call.members.remove(&peer.person);
            call.dirty = true;
            self.any_dirty = true;
            self.report(peer.stream, peer.person);
        }
        self.metrics.call_peers.dec();
        self.hung_up(peer.stream, peer.person);
        if reason != "left" && reason != "replaced" {
            self.metrics.call_peers_dropped.inc();
        }
        let frame = serde_json::json!({
            "type": "call_ended", "room": peer.stream, "stream": peer.stream, "call_id": id, "reason": reason,
        });
        self.signal(peer.stream, peer.person, frame.to_string());
    }

    /// A person's peer is gone: the files of what they sent end (a new peer starts new ones,
    /// with its own timestamps).
    pub(super) fn hung_up(&mut self, stream: RoomId, person: PersonId) {
        let (Some(rooms), Some(recorder)) = (self.taps.streams.get_mut(&stream), &self.recorder)
        else {
            return;
        };
        for rec in rooms.values_mut().filter(|r| r.present.contains(&person)) {
            rec.layers.retain(|(p, _), _| *p != person);
            recorder.send(Tap::Note {
                id: rec.id,
                at: self.now,
                person,
                note: Note::HungUp,
            });
        }
    }
}
