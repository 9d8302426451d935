//! The actor loop of one main room: apply, commit, fold, publish.
//!
//! Invariants: the state and `last_seq` only change after the store has committed the events;
//! every subscriber gets each event it may see exactly once and in sequence order, or a `resync`.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{Instrument, info_span, warn};

use super::{Committed, Msg, RoomError, Rooms};
use crate::domain::DomainError;
use crate::domain::room::{self, Ctx, Event, RoomState};
use crate::ids::{MessageId, PersonId, RoomId};
use crate::realtime::{ConnHandle, Offer};

/// An event as sent on the wire: the event's own fields plus its place in the stream.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    stream: RoomId,
    #[serde(flatten)]
    event: &'a Event,
}

/// The `resync` frame: reload the snapshot of `room`; events after `seq` follow.
pub fn resync_frame(stream: RoomId, seq: u64) -> Utf8Bytes {
    serde_json::json!({ "type": "resync", "room": stream, "stream": stream, "seq": seq })
        .to_string()
        .into()
}

struct Published {
    seq: u64,
    event: Event,
    frame: Utf8Bytes,
}

fn publishable(stream: RoomId, seq: u64, event: Event) -> Published {
    // Serialising a derived enum of plain data cannot fail.
    let json = serde_json::to_string(&Wire {
        seq,
        stream,
        event: &event,
    })
    .unwrap_or_default();
    Published {
        seq,
        event,
        frame: json.into(),
    }
}

struct Actor {
    rooms: Arc<Rooms>,
    stream: RoomId,
    state: RoomState,
    last_seq: u64,
    ring: VecDeque<Published>,
    subscribers: Vec<ConnHandle>,
}

pub(super) async fn run(
    rooms: Arc<Rooms>,
    stream: RoomId,
    generation: u64,
    mut rx: mpsc::Receiver<Msg>,
) {
    let span = info_span!("room_actor", room = %stream);
    async move {
        let loaded = rooms.store.load_stream(stream, rooms.settings.replay).await;
        let loaded = match loaded {
            Ok(Some(loaded)) => loaded,
            other => {
                let error = match other {
                    Err(e) => {
                        warn!(error = %e, "loading the room failed");
                        RoomError::Store(e)
                    }
                    _ => RoomError::Domain(DomainError::NotFound("room")),
                };
                rooms.forget(stream, generation);
                rx.close();
                while let Some(msg) = rx.recv().await {
                    refuse(msg, &error);
                }
                return;
            }
        };
        let ring = loaded
            .recent
            .into_iter()
            .map(|(seq, e)| publishable(stream, seq, e))
            .collect();
        let mut actor = Actor {
            rooms: rooms.clone(),
            stream,
            state: loaded.state,
            last_seq: loaded.last_seq,
            ring,
            subscribers: Vec::new(),
        };
        while let Some(msg) = rx.recv().await {
            if actor.handle(msg).await == Flow::Stop {
                break;
            }
        }
        rooms.forget(stream, generation);
        // Anything still queued finds the room deleted.
        rx.close();
        while let Some(msg) = rx.recv().await {
            refuse(msg, &RoomError::Domain(DomainError::NotFound("room")));
        }
    }
    .instrument(span)
    .await
}

fn refuse(msg: Msg, error: &RoomError) {
    let copy = || match error {
        RoomError::Domain(e) => RoomError::Domain(e.clone()),
        _ => RoomError::Unavailable,
    };
    match msg {
        Msg::Command { reply, .. } => {
            let _ = reply.send(Err(copy()));
        }
        Msg::Subscribe { reply, .. } => {
            let _ = reply.send(Err(copy()));
        }
        Msg::Inspect(_, reply) => {
            let _ = reply.send(copy());
        }
        Msg::Unsubscribe { .. } => {}
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Actor {
    async fn handle(&mut self, msg: Msg) -> Flow {
        match msg {
            Msg::Command {
                caller,
                command,
                reply,
            } => {
                let result = self.command(&caller, command).await;
                let stop = matches!(&result, Ok((true, _)));
                let seq = self.last_seq;
                let _ = reply.send(result.map(|(_, events)| Committed { seq, events }));
                if stop {
                    return Flow::Stop;
                }
            }
            Msg::Inspect(f, _) => f(&self.state, self.last_seq),
            Msg::Subscribe { conn, since, reply } => {
                let _ = reply.send(Ok(self.subscribe(conn, since)));
            }
            Msg::Unsubscribe { conn_id } => {
                self.subscribers.retain(|c| c.id != conn_id);
            }
        }
        Flow::Continue
    }

    /// Applies a command; returns whether the room is now deleted, and the stored events.
    async fn command(
        &mut self,
        caller: &room::Caller,
        command: room::Command,
    ) -> Result<(bool, Vec<(u64, Event)>), RoomError> {
        let now = self.rooms.clock.now_ms();
        let ctx = Ctx {
            now,
            message_id: MessageId::new(),
        };
        let events = room::apply(&self.state, caller, command, ctx)?;
        if events.is_empty() {
            return Ok((false, Vec::new()));
        }
        let numbered: Vec<(u64, Event)> = events
            .into_iter()
            .zip(self.last_seq + 1..)
            .map(|(e, s)| (s, e))
            .collect();
        self.rooms
            .store
            .commit(
                self.stream,
                &numbered,
                now,
                self.rooms.settings.replay as u64,
            )
            .await?;
        self.rooms.metrics.commands.inc();
        let mut deleted = false;
        for (seq, event) in numbered.iter().cloned() {
            self.last_seq = seq;
            self.state.fold(&event);
            if let Event::MemberAdded { member, .. } = &event {
                self.attach(member.person_id);
            }
            deleted |= matches!(event, Event::RoomDeleted { .. });
            let removed = match &event {
                Event::MemberRemoved { person_id, .. } => Some(*person_id),
                _ => None,
            };
            self.publish(publishable(self.stream, seq, event));
            if let Some(person) = removed.filter(|p| !self.state.has_access(*p)) {
                self.detach(|c| c.person == person);
            }
        }
        if deleted {
            self.detach(|_| true);
        }
        Ok((deleted, numbered))
    }

    /// Delivers an event to every subscriber that may see it and keeps it for replay.
    fn publish(&mut self, published: Published) {
        let stream = self.stream;
        let state = &self.state;
        let metrics = &self.rooms.metrics;
        self.subscribers.retain(|conn| {
            if !state.should_receive(&published.event, conn.person) {
                return true;
            }
            match conn.offer(&published.frame) {
                Offer::Queued => true,
                Offer::Full => {
                    metrics.resyncs.inc();
                    conn.mark_subscribed(stream, false);
                    conn.request_resync(stream);
                    false
                }
                Offer::Closed => false,
            }
        });
        if self.ring.len() >= self.rooms.settings.replay.max(1) {
            self.ring.pop_front();
        }
        self.ring.push_back(published);
    }

    /// Adds a connection, first replaying what it missed after `since`. Returns the current seq.
    fn subscribe(&mut self, conn: ConnHandle, since: Option<u64>) -> u64 {
        if !self.state.has_access(conn.person) || self.subscribers.iter().any(|c| c.id == conn.id) {
            return self.last_seq;
        }
        if let Some(since) = since.filter(|s| *s < self.last_seq) {
            let oldest = self.ring.front().map_or(self.last_seq + 1, |p| p.seq);
            if since + 1 < oldest {
                // Too far behind: the client must reload, then follow from now.
                if conn.offer(&resync_frame(self.stream, self.last_seq)) != Offer::Queued {
                    conn.request_resync(self.stream);
                    return self.last_seq;
                }
            } else {
                for p in self.ring.iter().filter(|p| p.seq > since) {
                    if !self.state.should_receive(&p.event, conn.person) {
                        continue;
                    }
                    if conn.offer(&p.frame) != Offer::Queued {
                        conn.request_resync(self.stream);
                        return self.last_seq;
                    }
                }
            }
        }
        conn.mark_subscribed(self.stream, true);
        self.subscribers.push(conn);
        self.last_seq
    }

    /// Subscribes the open connections of someone who just became a member.
    fn attach(&mut self, person: PersonId) {
        for conn in self.rooms.connections.of(person) {
            if !self.subscribers.iter().any(|c| c.id == conn.id) {
                conn.mark_subscribed(self.stream, true);
                self.subscribers.push(conn);
            }
        }
    }

    fn detach(&mut self, which: impl Fn(&ConnHandle) -> bool) {
        let stream = self.stream;
        self.subscribers.retain(|c| {
            let gone = which(c);
            if gone {
                c.mark_subscribed(stream, false);
            }
            !gone
        });
    }
}
