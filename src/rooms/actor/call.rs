//! A room actor's part in the call: a call request is checked against the person's place and
//! role before the media server sees it (or relayed to the owner's node, in a cluster), and the
//! media server is kept told where everyone is, so that a move changes only what it forwards.

use std::collections::HashSet;

use axum::extract::ws::Utf8Bytes;

use super::{Actor, Subscriber};
use crate::contract::CallRequest;
use crate::domain::call::MediaState;
use crate::domain::room::Event;
use crate::ids::PersonId;
use crate::media::Command as MediaCommand;
use crate::realtime::ConnHandle;
use crate::realtime::frames::call_error;

/// Where a call request came from.
pub(super) enum CallFrom {
    /// A connection to this node.
    Here(ConnHandle),
    /// Someone connected to another node, which relayed it (this node owns the room).
    Node(PersonId),
}

impl Actor {
    /// A call request: only someone who is in one of this stream's rooms may make one; the media
    /// server learns the stream's locations before its first request.
    pub(super) fn call(&mut self, from: CallFrom, request: CallRequest) {
        let stream = self.stream;
        let person = match &from {
            CallFrom::Here(conn) => conn.person,
            CallFrom::Node(person) => *person,
        };
        // In a cluster, the call runs on the owner's media server: a node that follows the room
        // passes its clients' requests on (their answers come back with the owner's events).
        if let (Some(follow), Some(node)) = (self.ownership.follow(), &self.rooms.settings.node) {
            match from {
                CallFrom::Here(_) => node.bus.relay_call(
                    &follow.owner,
                    crate::cluster::bus::RelayedCall {
                        stream,
                        person,
                        request,
                    },
                ),
                // Relayed here as the owner changed: the client's next attempt finds the owner.
                CallFrom::Node(_) => self.call_reply(
                    &from,
                    &call_error(
                        stream,
                        "unavailable",
                        "the room's call is moving to another node; try again",
                    ),
                ),
            }
            return;
        }
        if !self.state.locations.contains_key(&person) {
            self.call_reply(
                &from,
                &call_error(stream, "not_in_room", "you are not in this room"),
            );
            return;
        }
        if !self.call_live {
            self.call_live = true;
            let everyone: Vec<PersonId> = self.state.locations.keys().copied().collect();
            self.send_locations(everyone);
        }
        let command = match request {
            CallRequest::Join { sdp, mic, camera } => MediaCommand::Join {
                stream,
                person,
                sdp,
                state: MediaState {
                    mic,
                    camera,
                    ..MediaState::default()
                },
            },
            CallRequest::Restart { sdp } => MediaCommand::Restart {
                stream,
                person,
                sdp,
            },
            CallRequest::Leave => MediaCommand::Leave { stream, person },
            CallRequest::Media {
                mic,
                camera,
                screen,
            } => MediaCommand::Media {
                stream,
                person,
                mic,
                camera,
                screen,
            },
            CallRequest::Mute { person_id } => {
                if !self.state.manages(person) {
                    self.call_reply(
                        &from,
                        &call_error(
                            stream,
                            "forbidden",
                            "only owners and moderators may mute others",
                        ),
                    );
                    return;
                }
                MediaCommand::Mute {
                    stream,
                    target: person_id,
                    by: person,
                    by_name: self
                        .state
                        .display_name(person)
                        .unwrap_or_default()
                        .to_owned(),
                }
            }
            CallRequest::View { heights } => MediaCommand::View {
                stream,
                person,
                heights,
            },
            CallRequest::Pin { person_id } => {
                if person_id.is_some_and(|p| !self.state.has_access(p)) {
                    self.call_reply(
                        &from,
                        &call_error(
                            stream,
                            "bad_request",
                            "call_pin: person_id: not a member of this main room",
                        ),
                    );
                    return;
                }
                MediaCommand::Pin {
                    stream,
                    person,
                    pin: person_id,
                }
            }
        };
        if self.rooms.media.ask(command).is_err() {
            self.call_reply(
                &from,
                &call_error(
                    stream,
                    "busy",
                    "the call server has too many requests waiting for this room; try again",
                ),
            );
        }
    }

    /// Answers a call request: on the connection it came from, or through the node that relayed
    /// it (to every connection of that person there).
    pub(super) fn call_reply(&self, from: &CallFrom, frame: &Utf8Bytes) {
        match from {
            CallFrom::Here(conn) => {
                let _ = conn.offer(frame);
            }
            CallFrom::Node(person) => {
                if let Some(node) = &self.rooms.settings.node {
                    node.bus
                        .signal_relay()
                        .send(self.stream, Some(*person), frame.as_str());
                }
            }
        }
    }

    /// Tells everyone who follows the room, here and on other nodes, that its call now runs on
    /// this node's media server, so that those who were in it join again.
    pub(super) fn call_moved(&self) {
        let frame: Utf8Bytes = serde_json::json!({
            "type": "call_ended", "room": self.stream, "stream": self.stream,
            "call_id": null, "reason": "moved",
        })
        .to_string()
        .into();
        for sub in self.subscribers.values().flatten() {
            let _ = sub.conn.offer(&frame);
        }
        if let Some(node) = &self.rooms.settings.node {
            node.bus
                .signal_relay()
                .taken_over(self.stream, &node.id, frame.as_str());
        }
    }

    /// A call frame the owner's media server sent for people connected here (or the frame of a
    /// node that has just taken the room over: calls go there from now on).
    pub(super) fn on_signal(&mut self, signal: crate::cluster::bus::RelayedSignal) {
        if let Some(owner) = signal.new_owner {
            self.owner_is(owner);
        }
        let frame = Utf8Bytes::from(signal.frame);
        let subscribers: Box<dyn Iterator<Item = &Subscriber>> = match signal.person {
            Some(person) => Box::new(self.subscribers.get(&person).into_iter().flatten()),
            None => Box::new(self.subscribers.values().flatten()),
        };
        for sub in subscribers {
            let _ = sub.conn.offer(&frame);
        }
    }

    /// Tells the media server of location changes an event made, once the call is live.
    pub(super) fn sync_call(&mut self, event: &Event) {
        if !self.call_live {
            return;
        }
        let people: Vec<PersonId> = match event {
            Event::Connected { person_id, .. }
            | Event::Disconnected { person_id, .. }
            | Event::Located { person_id, .. }
            | Event::Assigned { person_id, .. } => vec![*person_id],
            Event::BreakoutStarted { .. }
            | Event::BreakoutStopped { .. }
            | Event::RoomsBroughtBack { .. }
            | Event::BreakoutRoomsDeleted { .. }
            | Event::MemberRemoved { .. } => {
                let both: HashSet<PersonId> = self
                    .call_synced
                    .keys()
                    .chain(self.state.locations.keys())
                    .copied()
                    .collect();
                both.into_iter().collect()
            }
            _ => return,
        };
        self.send_locations(people);
    }

    pub(super) fn send_locations(&mut self, people: Vec<PersonId>) {
        let mut changes = Vec::new();
        for person in people {
            let now = self.state.locations.get(&person).copied();
            if self.call_synced.get(&person).copied() == now {
                continue;
            }
            match now {
                Some(room) => {
                    self.call_synced.insert(person, room);
                    let name = self
                        .state
                        .display_name(person)
                        .unwrap_or_default()
                        .to_owned();
                    changes.push((person, Some((room, name))));
                }
                None => {
                    self.call_synced.remove(&person);
                    changes.push((person, None));
                }
            }
        }
        if !changes.is_empty() {
            self.rooms.media.send(MediaCommand::Locations {
                stream: self.stream,
                people: changes,
            });
        }
    }
}
