//! A room actor's fan-out: each event goes, once and in order, to every subscribed connection
//! that may see it (as the frames of `wire`), or the connection is asked to resync; and the
//! subscriptions themselves: who is subscribed, who watches the dashboard, who connected or left.

use tracing::debug;

use super::{Actor, Published, Subscriber};
use crate::domain::breakout;
use crate::domain::room::{Audience, Event};
use crate::ids::{PersonId, RoomId};
use crate::realtime::frames::resync_frame;
use crate::realtime::{ConnHandle, Offer};
use crate::rooms::wire::frames;

impl Actor {
    /// Folds and sends an event that is not stored (who is connected where).
    pub(super) fn publish_ephemeral(&mut self, event: Event) {
        let was = self.state.places(&event);
        self.state.fold(&event);
        let movers = crate::domain::report::movers(&event);
        self.publish(self.last_seq, event, false, &was);
        if self.ownership.serves() {
            self.track_stays(movers, crate::domain::report::Note::Nothing);
        }
    }

    /// Delivers an event to every subscriber that may see it and, if `keep`, keeps it for replay;
    /// `was` is where the event's person was placed before it (`RoomState::places`).
    pub(super) fn publish(&mut self, seq: u64, event: Event, keep: bool, was: &[RoomId]) {
        if self.ownership.serves() {
            if let Some(node) = &self.rooms.settings.node {
                node.bus.announce(self.stream, seq, keep, &event);
            }
            self.sync_call(&event);
        }
        let stream = self.stream;
        let began = std::time::Instant::now();
        let published = Published {
            seq,
            frames: frames(stream, seq, &event, &self.state),
            event,
        };
        let framed = began.elapsed();
        let state = &self.state;
        let metrics = &self.rooms.metrics;
        let mut gone = Vec::new();
        let audience = state.audience(&published.event);
        let mut deliver = |person: PersonId, subs: &mut Vec<Subscriber>| {
            let to = state.recipient(person);
            subs.retain(|sub| {
                if !state.receives(&audience, &published.event, to, sub.dashboard, was) {
                    return true;
                }
                match sub.conn.offer(&published.frames.for_person(
                    (stream, published.seq, &published.event),
                    state,
                    to,
                )) {
                    Offer::Queued => true,
                    Offer::Full => {
                        metrics.resyncs.inc();
                        sub.conn.mark_subscribed(stream, false);
                        sub.conn.request_resync(stream);
                        false
                    }
                    Offer::Closed => false,
                }
            });
            if subs.is_empty() {
                gone.push(person);
            }
        };
        // Events only watchers (and perhaps one person) may receive cost O(watchers).
        let watchers_and = match &audience {
            Audience::Place(person) | Audience::Asker(person) => Some(Some(*person)),
            Audience::Watchers => Some(None),
            _ => None,
        };
        match watchers_and {
            Some(person) => {
                for p in self
                    .watchers
                    .iter()
                    .copied()
                    .chain(person.filter(|p| !self.watchers.contains(p)))
                {
                    if let Some(subs) = self.subscribers.get_mut(&p) {
                        deliver(p, subs);
                    }
                }
            }
            None => {
                for (p, subs) in self.subscribers.iter_mut() {
                    deliver(*p, subs);
                }
            }
        }
        if keep {
            debug!(
                target: "huddle::timing",
                frames_us = framed.as_micros() as u64,
                deliver_us = (began.elapsed() - framed).as_micros() as u64,
                "delivered"
            );
        }
        if self.ownership.serves()
            && (!self.state.recordings.is_empty() || !self.empty_since.is_empty())
        {
            self.track_empty(self.rooms.clock.now_ms());
        }
        if keep {
            if self.ring.len() >= self.rooms.settings.replay.max(1) {
                self.ring.pop_front();
            }
            self.ring.push_back(published);
        }
        for person in gone {
            self.connection_closed(person);
        }
    }

    pub(super) fn is_subscribed(&self, conn: &ConnHandle) -> bool {
        self.subscribers
            .get(&conn.person)
            .is_some_and(|subs| subs.iter().any(|s| s.conn.id == conn.id))
    }

    /// Adds a connection, first replaying what it missed after `since`. Returns the current seq.
    pub(super) fn subscribe(&mut self, conn: ConnHandle, since: Option<u64>) -> u64 {
        if !self.state.has_access(conn.person) || self.is_subscribed(&conn) {
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
                    // Without the dashboard, where someone was does not matter (`was` is empty).
                    if !self.state.should_receive(&p.event, conn.person, false, &[]) {
                        continue;
                    }
                    if conn.offer(&p.frames.for_person(
                        (self.stream, p.seq, &p.event),
                        &self.state,
                        self.state.recipient(conn.person),
                    )) != Offer::Queued
                    {
                        conn.request_resync(self.stream);
                        return self.last_seq;
                    }
                }
            }
        }
        self.add_subscriber(conn);
        self.last_seq
    }

    pub(super) fn add_subscriber(&mut self, conn: ConnHandle) {
        conn.mark_subscribed(self.stream, true);
        let person = conn.person;
        let subs = self.subscribers.entry(person).or_default();
        subs.push(Subscriber {
            conn,
            dashboard: false,
        });
        let first = subs.len() == 1;
        self.refresh_watcher(person);
        // Presence is the owner's: a follower tells the owner, whose event comes back to it.
        if first && !self.ownership.serves() {
            self.report(person, true);
        } else if first && !self.remote.contains_key(&person) {
            let name = self
                .state
                .display_name(person)
                .unwrap_or_default()
                .to_owned();
            if let Some(event) = breakout::connect(&self.state, person, name) {
                self.publish_ephemeral(event);
            }
        }
    }

    /// After one of a person's connections went: if it was the last, they are disconnected.
    pub(super) fn connection_closed(&mut self, person: PersonId) {
        if self
            .subscribers
            .get(&person)
            .is_some_and(|subs| !subs.is_empty())
        {
            self.refresh_watcher(person);
            return;
        }
        self.subscribers.remove(&person);
        self.watchers.remove(&person);
        if !self.ownership.serves() {
            self.report(person, false);
            return;
        }
        // Still connected through another node.
        if self.remote.contains_key(&person) {
            return;
        }
        if let Some(event) = breakout::disconnect(&self.state, person) {
            self.publish_ephemeral(event);
        }
    }

    /// Keeps `watchers` true: connected managers and people with the dashboard open.
    pub(super) fn refresh_watcher(&mut self, person: PersonId) {
        let watching = self.subscribers.get(&person).is_some_and(|subs| {
            !subs.is_empty() && (self.state.manages(person) || subs.iter().any(|s| s.dashboard))
        });
        if watching {
            self.watchers.insert(person);
        } else {
            self.watchers.remove(&person);
        }
    }

    /// Subscribes the open connections of someone who just became a member.
    pub(super) fn attach(&mut self, person: PersonId) {
        for conn in self.rooms.connections.of(person) {
            if !self.is_subscribed(&conn) {
                self.add_subscriber(conn);
            }
        }
    }

    pub(super) fn detach(&mut self, which: impl Fn(&ConnHandle) -> bool) {
        let stream = self.stream;
        let mut gone = Vec::new();
        for (person, subs) in self.subscribers.iter_mut() {
            let before = subs.len();
            subs.retain(|s| {
                let leaving = which(&s.conn);
                if leaving {
                    s.conn.mark_subscribed(stream, false);
                }
                !leaving
            });
            if subs.len() != before {
                gone.push(*person);
            }
        }
        for person in gone {
            self.connection_closed(person);
        }
    }
}
