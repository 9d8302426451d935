//! A room actor in a cluster: claiming the room for this node, or following the node that owns
//! it (its events on the feed, reads that wait for them, catching up from the store after a gap),
//! taking the room over when its owner is gone, and the owner's view of who is connected to the
//! other nodes.

use std::time::Duration;

use tracing::{debug, warn};

use super::{Actor, Published};
use crate::cluster::bus::{Announced, OwnerFeed};
use crate::contract::{RoomError, Unavailable};
use crate::domain::breakout;
use crate::ids::{PersonId, RoomId};
use crate::rooms::Rooms;
use crate::rooms::wire::frames;
use crate::store::{Claim, Fence};

/// Whose the room is, for its actor on this node. Set when the actor starts, and changed only
/// when a follower takes the room over (a fenced owner stops instead).
pub(super) enum Ownership {
    /// No cluster: this node is the only one, and nothing fences its commits.
    Alone,
    /// This node owns the room in a cluster: every commit is checked against this fence.
    Owner(Fence),
    /// Another node owns the room: this actor follows it for the clients connected here, and
    /// commands, calls and timers are the owner's.
    Follower(Follow),
}

impl Ownership {
    /// Whether this actor serves the room (commits, timers, stays, the call), as opposed to
    /// following another node's actor.
    pub(super) fn serves(&self) -> bool {
        !matches!(self, Ownership::Follower(_))
    }

    /// The owner's fence, on the owner.
    pub(super) fn fence(&self) -> Option<&Fence> {
        match self {
            Ownership::Owner(fence) => Some(fence),
            _ => None,
        }
    }

    /// What a follower follows.
    pub(super) fn follow(&self) -> Option<&Follow> {
        match self {
            Ownership::Follower(follow) => Some(follow),
            _ => None,
        }
    }

    /// What a follower follows, to read from.
    pub(super) fn follow_mut(&mut self) -> Option<&mut Follow> {
        match self {
            Ownership::Follower(follow) => Some(follow),
            _ => None,
        }
    }
}

/// Claims the stream for this node: alone without a cluster, its owner in one (under a new
/// fence), or `Elsewhere` when another node holds it.
pub(super) async fn claim(rooms: &Rooms, stream: RoomId) -> Result<Ownership, RoomError> {
    let Some(node) = &rooms.settings.node else {
        return Ok(Ownership::Alone);
    };
    if !node.is_healthy() {
        return Err(RoomError::Unavailable(Unavailable::NoDatabase));
    }
    match rooms
        .store
        .claim_stream(stream, &node.id, node.alive_since(), None)
        .await
    {
        Ok(Claim::Won { fence, .. }) => Ok(Ownership::Owner(fence)),
        // A node NATS says is gone (nobody answers for it) is not waited for.
        Ok(Claim::Held { node: holder }) if node.is_presumed_gone(&holder) => {
            let claim =
                rooms
                    .store
                    .claim_stream(stream, &node.id, node.alive_since(), Some(&holder));
            match claim.await {
                Ok(Claim::Won { fence, .. }) => Ok(Ownership::Owner(fence)),
                Ok(Claim::Held { node }) => Err(RoomError::Elsewhere(node)),
                Err(e) => Err(RoomError::Store(e)),
            }
        }
        Ok(Claim::Held { node }) => Err(RoomError::Elsewhere(node)),
        Err(e) => {
            warn!(error = %e, "claiming the room failed");
            Err(RoomError::Store(e))
        }
    }
}

/// What a follower heard.
pub(super) enum OwnerNews {
    /// An event from the owner (`None`: the subscription ended).
    Event(Option<Announced>),
    /// A call frame from the owner's media server for people connected here.
    Signal(crate::cluster::bus::RelayedSignal),
    /// This node's NATS connection came back.
    Reconnected,
    /// Time to see whether the owner is still there.
    Check,
}

/// A node following a stream another node owns: the owner's events, and a periodic look at
/// whether the owner is gone (then this node claims the stream).
pub(super) struct Follow {
    pub(super) owner: String,
    pub(super) feed: OwnerFeed,
    pub(super) check: tokio::time::Interval,
    /// Changes when this node hears that some node is gone (perhaps the owner).
    pub(super) gone_news: tokio::sync::watch::Receiver<u64>,
    /// Changes when this node's NATS connection comes back: events may have been missed.
    pub(super) reconnected: tokio::sync::watch::Receiver<u64>,
}

/// Starts following `stream`, whose owner is `owner`.
pub(super) async fn start_following(
    rooms: &Rooms,
    stream: RoomId,
    owner: String,
) -> Result<Follow, RoomError> {
    let node = rooms
        .settings
        .node
        .as_ref()
        .ok_or(RoomError::Elsewhere(owner.clone()))?;
    let feed = node.bus.follow(stream).await.map_err(|e| {
        warn!(error = %e, "cannot follow the room on NATS");
        RoomError::Elsewhere(owner.clone())
    })?;
    let mut check = tokio::time::interval(crate::cluster::BEAT);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.reset();
    Ok(Follow {
        owner,
        feed,
        check,
        gone_news: node.gone_news(),
        reconnected: node.bus.reconnected(),
    })
}

/// After a takeover, how long people the previous owner counted as connected elsewhere stay so
/// without their node confirming them (ms). Followers confirm at the new owner's first event, or
/// within a few seconds when they notice the old owner is gone.
pub(super) const UNCONFIRMED_FOR: i64 = 3 * crate::cluster::GONE_AFTER;

/// How long a read after a command waits for the owner's event on the feed before this node
/// reads the events it misses from the store (NATS takes a few milliseconds).
pub(super) const CATCH_UP_AFTER: Duration = Duration::from_millis(250);

impl Actor {
    /// Runs the waiting reads whose event this node has applied.
    pub(super) fn release_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let last = self.last_seq;
        let (ready, still): (Vec<_>, Vec<_>) =
            self.waiting.drain(..).partition(|(seq, _, _)| *seq <= last);
        self.waiting = still;
        if self.waiting.is_empty() {
            self.waiting_until = None;
        }
        for (_, f, _) in ready {
            f(&self.state, last);
        }
    }

    /// Reads have waited long enough for the owner's feed: what this node misses is read from
    /// the store; a read still behind then (the store failed) reads the store itself.
    pub(super) async fn catch_up_for_reads(&mut self) {
        self.waiting_until = None;
        self.catch_up().await;
        self.release_waiting();
        for (_, f, err) in self.waiting.drain(..) {
            // The refusal first, then the read is dropped: see `Rooms::inspect_after`.
            let _ = err.send(RoomError::Elsewhere(String::new()));
            drop(f);
        }
    }

    /// An event from the owner this node follows: applied in seq order; a gap (an event missed,
    /// or one too large for NATS) is filled from the store first.
    pub(super) async fn on_announced(&mut self, announced: Announced) {
        self.owner_is(announced.owner.clone());
        if announced.stored && announced.seq <= self.last_seq {
            return;
        }
        let next = announced.stored && announced.seq == self.last_seq + 1;
        match announced.event {
            Some(event) if next => self.after_commit(&[(announced.seq, event)]),
            event => {
                if announced.seq > self.last_seq {
                    self.catch_up().await;
                }
                if let (false, Some(event)) = (announced.stored, event) {
                    self.publish_ephemeral(event);
                }
            }
        }
    }

    /// Reads what this node missed of the stream from the store and publishes it; when the store
    /// no longer has it all, reloads the room and tells the clients here to reload too.
    pub(super) async fn catch_up(&mut self) {
        let began = std::time::Instant::now();
        match self
            .rooms
            .store
            .events_after(self.stream, self.last_seq)
            .await
        {
            Ok(events)
                if events
                    .first()
                    .is_none_or(|(seq, _)| *seq == self.last_seq + 1) =>
            {
                let read = began.elapsed();
                self.after_commit(&events);
                debug!(
                    target: "huddle::timing",
                    read_us = read.as_micros() as u64,
                    publish_us = (began.elapsed() - read).as_micros() as u64,
                    "caught up from the store"
                );
            }
            Ok(_) => self.reload().await,
            Err(e) => warn!(error = %e, "cannot read the events this node missed"),
        }
    }

    /// This node's NATS connection came back (or NATS dropped messages for it): what the owner
    /// announced meanwhile is read from the store, and the owner hears again who is connected
    /// here (reports may have been lost too).
    pub(super) async fn on_reconnected(&mut self) {
        self.catch_up().await;
        let here: Vec<PersonId> = self.subscribers.keys().copied().collect();
        for person in here {
            self.report(person, true);
        }
    }

    /// In a cluster, the label of the node whose media server runs this room's call: the owner.
    pub(super) fn call_node(&self) -> Option<String> {
        let node = match self.ownership.follow() {
            Some(follow) => &follow.owner,
            None => &self.rooms.settings.node.as_ref()?.id,
        };
        Some(crate::cluster::call_label(node))
    }

    /// Learns who owns the followed stream; a new owner hears again who is connected here.
    pub(super) fn owner_is(&mut self, owner: String) {
        let Some(follow) = self.ownership.follow_mut() else {
            return;
        };
        if follow.owner == owner {
            return;
        }
        follow.owner = owner;
        let here: Vec<PersonId> = self.subscribers.keys().copied().collect();
        for person in here {
            self.report(person, true);
        }
    }

    /// On the owner of a cluster: tells every node that `people` may now see this stream, so that
    /// their connections there follow it.
    pub(super) fn announce_access(&self, people: Vec<PersonId>) {
        if let (Some(node), None) = (&self.rooms.settings.node, self.ownership.follow()) {
            node.bus.announce_access(self.stream, people);
        }
    }

    /// Tells the owner this node follows that `person` connected here (first connection) or left
    /// (last).
    pub(super) fn report(&self, person: PersonId, connected: bool) {
        let (Some(node), Some(follow)) = (&self.rooms.settings.node, self.ownership.follow())
        else {
            return;
        };
        let presence = crate::cluster::bus::Presence {
            stream: self.stream,
            node: node.id.clone(),
            person,
            name: self
                .state
                .display_name(person)
                .unwrap_or_default()
                .to_owned(),
            connected,
        };
        node.bus.report(&follow.owner, presence);
    }

    /// Another node reports someone connected there or left: the owner's roster follows.
    pub(super) fn on_presence(&mut self, presence: crate::cluster::bus::Presence) {
        if !self.ownership.serves() {
            // Not the owner (any more): the reporting node re-reports to the new owner.
            return;
        }
        let person = presence.person;
        if presence.connected {
            if !self.state.has_access(person) {
                return;
            }
            self.unconfirmed.remove(&person);
            self.remote.entry(person).or_default().insert(presence.node);
            if let Some(event) = breakout::connect(&self.state, person, presence.name) {
                self.publish_ephemeral(event);
            }
        } else {
            let left = match self.remote.get_mut(&person) {
                Some(nodes) => {
                    nodes.remove(&presence.node);
                    nodes.is_empty()
                }
                None => false,
            };
            if left {
                self.remote.remove(&person);
                self.gone_everywhere(person);
            }
        }
    }

    /// `person` has no connection left on any node: they leave the roster (unless connected here).
    pub(super) fn gone_everywhere(&mut self, person: PersonId) {
        if self.subscribers.contains_key(&person) || self.remote.contains_key(&person) {
            return;
        }
        if let Some(event) = breakout::disconnect(&self.state, person) {
            self.publish_ephemeral(event);
        }
    }

    /// Every beat, on the owner: people connected only through nodes that are gone leave the
    /// roster, as do those the previous owner counted that nobody confirmed in time.
    pub(super) fn drop_gone_nodes(&mut self) {
        let Some(node) = self.rooms.settings.node.clone() else {
            return;
        };
        let mut left = Vec::new();
        for (person, nodes) in self.remote.iter_mut() {
            nodes.retain(|n| node.is_alive(n));
            if nodes.is_empty() {
                left.push(*person);
            }
        }
        let now = self.rooms.clock.now_ms();
        let expired: Vec<PersonId> = self
            .unconfirmed
            .iter()
            .filter(|(_, until)| now >= **until)
            .map(|(p, _)| *p)
            .collect();
        for person in &expired {
            self.unconfirmed.remove(person);
        }
        for person in left.into_iter().chain(expired) {
            self.remote.remove(&person);
            self.gone_everywhere(person);
        }
    }

    /// Loads the room again and asks every client here to reload it.
    pub(super) async fn reload(&mut self) {
        match self
            .rooms
            .store
            .load_stream(self.stream, self.rooms.settings.replay)
            .await
        {
            Ok(Some(loaded)) => {
                let stream = self.stream;
                let locations = std::mem::take(&mut self.state.locations);
                self.state = loaded.state;
                self.state.locations = locations;
                self.last_seq = loaded.last_seq;
                self.ring = loaded
                    .recent
                    .into_iter()
                    .map(|(seq, event)| {
                        let frames = frames(stream, seq, &event, &self.state);
                        Published { seq, event, frames }
                    })
                    .collect();
                for sub in self.subscribers.values().flatten() {
                    sub.conn.mark_subscribed(stream, false);
                    sub.conn.request_resync(stream);
                }
                self.subscribers.clear();
                self.watchers.clear();
                self.release_waiting();
            }
            Ok(None) => self.detach(|_| true),
            Err(e) => warn!(error = %e, "cannot reload the room"),
        }
    }

    /// A follower claims the stream when its owner is gone (its heartbeat aged, or `gone`: NATS
    /// has nobody answering for it), then serves the room with the clients it already has.
    pub(super) async fn try_promote(&mut self, gone: bool) {
        let (Some(node), Some(follow)) =
            (self.rooms.settings.node.clone(), self.ownership.follow())
        else {
            return;
        };
        // Only a claim that may succeed goes to the database (the owner's liveness is known from
        // this node's last heartbeat).
        if !gone && node.is_alive(&follow.owner) {
            return;
        }
        // Taken from the owner this node presumes gone, and from nobody else (another follower
        // may have taken it over already).
        let gone = gone.then_some(follow.owner.as_str());
        match self
            .rooms
            .store
            .claim_stream(self.stream, &node.id, node.alive_since(), gone)
            .await
        {
            Ok(Claim::Won { fence, .. }) => {
                tracing::info!(previous = %follow.owner, "serving the room from now on");
                self.rooms.metrics.cluster_takeovers.inc();
                self.ownership = Ownership::Owner(fence);
                self.rooms.set_owned(self.stream, true);
                // Who the previous owner counted as connected elsewhere stays so while their node
                // confirms them (it reports them again on noticing the new owner).
                let grace = self.rooms.clock.now_ms() + UNCONFIRMED_FOR;
                self.unconfirmed = self
                    .state
                    .locations
                    .keys()
                    .filter(|p| !self.subscribers.contains_key(p))
                    .map(|p| (*p, grace))
                    .collect();
                // Whatever the previous owner stored that did not reach this node.
                self.catch_up().await;
                self.on_load().await;
                // The previous owner's media server ran the call: whoever was in it joins again
                // here (a client not in the call ignores this).
                self.call_moved();
            }
            Ok(Claim::Held { node: owner }) => self.owner_is(owner),
            Err(e) => warn!(error = %e, "cannot see whether the room's owner is gone"),
        }
    }
}
