//! The actor loop of one main room: apply, commit, fold, publish; plus its timer and the
//! connections that give people their locations.
//!
//! Invariants: the state and `last_seq` only change after the store has committed the events
//! (except connection events, which are never stored: locations live in memory); every subscriber
//! gets each event it may see exactly once and in sequence order, or a `resync`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info_span, warn};

use super::wire::{Frames, frames};
use super::{Inspector, Msg, Rooms, Subscribed};
use crate::cluster::bus::{Announced, Feed, FromOwner};
use crate::contract::{CallRequest, CommandId, Committed, RoomError};
use crate::domain::DomainError;
use crate::domain::breakout;
use crate::domain::call::MediaState;
use crate::domain::recording::{self, RecordingEnd};
use crate::domain::room::{self, Audience, Event, RoomState};
use crate::ids::{PersonId, RoomId};
use crate::media::Command as MediaCommand;
use crate::realtime::frames::{call_error, resync_frame};
use crate::realtime::{ConnHandle, Offer};
use crate::store::{Claim, Fence, StayRow, StoreError};

struct Published {
    seq: u64,
    event: Event,
    frames: Frames,
}

struct Subscriber {
    conn: ConnHandle,
    /// The client opened the breakout dashboard: it receives rosters and locations.
    dashboard: bool,
}

struct Actor {
    rooms: Arc<Rooms>,
    stream: RoomId,
    /// This node's claim on the stream (cluster mode): every commit checks it.
    fence: Option<Fence>,
    /// A commit was refused by the fence: the actor stops.
    fenced: bool,
    /// Set while another node owns the stream: this actor then only follows it for the clients
    /// connected here (commands go to the owner).
    follow: Option<Follow>,
    /// The owner's view of people connected to other nodes: by person, the nodes they are on.
    remote: HashMap<PersonId, HashSet<String>>,
    /// Just after this node took the room over: people the previous owner counted as connected,
    /// and until when their node may confirm them before they are counted as gone.
    unconfirmed: HashMap<PersonId, i64>,
    /// Answers of the latest commands that came with an id, for their retries.
    answered: HashMap<String, Committed>,
    /// Their ids, oldest first.
    answered_order: VecDeque<String>,
    state: RoomState,
    last_seq: u64,
    ring: VecDeque<Published>,
    /// Subscribed connections, by person. A person is connected while they have one here.
    subscribers: HashMap<PersonId, Vec<Subscriber>>,
    /// People whose connections receive the events meant for moderators and open dashboards
    /// (connected owners and moderators, and people with the dashboard open): kept as a set so
    /// that such events cost O(watchers), not O(everyone).
    watchers: HashSet<PersonId>,
    /// Someone asked for this room's call: the media server follows its locations from then on.
    call_live: bool,
    /// The locations the media server was last told.
    call_synced: HashMap<PersonId, RoomId>,
    /// Recorded rooms nobody is in, since when (ms): their recording stops after a grace time.
    empty_since: HashMap<RoomId, i64>,
    /// When to write the stays that ended (the session report; `state.stays` keeps them): a
    /// second after the first, so that a burst is one write; or the next checkpoint.
    flush_at: Option<tokio::time::Instant>,
    /// When the next write also checkpoints the stays under way.
    checkpoint_at: tokio::time::Instant,
    /// Reads that wait for this node to have applied an event (a follower behind its owner):
    /// the `seq` each needs, the read, and where a refusal goes.
    waiting: Vec<(u64, Inspector, oneshot::Sender<RoomError>)>,
    /// When waiting reads stop waiting for the owner's feed and read the store.
    waiting_until: Option<tokio::time::Instant>,
}

/// How long a read after a command waits for the owner's event on the feed before this node
/// reads the events it misses from the store (NATS takes a few milliseconds).
const CATCH_UP_AFTER: Duration = Duration::from_millis(250);

/// A write of stays under way: how many, and whether it went through.
type Writing = (usize, tokio::sync::oneshot::Receiver<bool>);

/// Waits for a write of stays to end (forever without one).
async fn written(writing: &mut Option<Writing>) -> bool {
    match writing {
        Some((_, done)) => done.await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

pub(super) async fn run(
    rooms: Arc<Rooms>,
    stream: RoomId,
    generation: u64,
    mut rx: mpsc::Receiver<Msg>,
) {
    let span = info_span!("room_actor", room = %stream);
    async move {
        // In a cluster, the stream must be this node's before it is loaded: once claimed, no
        // other node can commit to it, so what is loaded is the whole of it.
        let (fence, follow) = match claim(&rooms, stream).await {
            Ok(fence) => (fence, None),
            // Another node serves the room: this node follows it, for its own clients.
            Err(RoomError::Elsewhere(owner)) => match follow(&rooms, stream, owner).await {
                Ok(follow) => (None, Some(follow)),
                Err(error) => return refuse_all(&rooms, stream, generation, rx, &error).await,
            },
            Err(error) => return refuse_all(&rooms, stream, generation, rx, &error).await,
        };
        let loaded = match rooms.store.load_stream(stream, rooms.settings.replay).await {
            Ok(Some(loaded)) => loaded,
            other => {
                let error = match other {
                    Err(e) => {
                        warn!(error = %e, "loading the room failed");
                        RoomError::Store(e)
                    }
                    _ => RoomError::Domain(DomainError::NotFound("room")),
                };
                return refuse_all(&rooms, stream, generation, rx, &error).await;
            }
        };
        let ring = loaded
            .recent
            .into_iter()
            .map(|(seq, event)| {
                let frames = frames(stream, seq, &event, &loaded.state);
                Published { seq, event, frames }
            })
            .collect();
        let mut actor = Actor {
            rooms: rooms.clone(),
            stream,
            fence,
            fenced: false,
            follow,
            remote: HashMap::new(),
            unconfirmed: HashMap::new(),
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
            state: loaded.state,
            last_seq: loaded.last_seq,
            ring,
            subscribers: HashMap::new(),
            watchers: HashSet::new(),
            call_live: false,
            call_synced: HashMap::new(),
            empty_since: HashMap::new(),
            flush_at: None,
            checkpoint_at: tokio::time::Instant::now() + rooms.settings.report_checkpoint,
            waiting: Vec::new(),
            waiting_until: None,
        };
        if actor.follow.is_none() {
            if actor.fence.is_some() {
                rooms.set_owned(stream, true);
            }
            actor.on_load().await;
        }
        let mut given_up = rooms.settings.node.as_ref().map(|n| n.given_up());
        let mut writing: Option<Writing> = None;
        let mut idle_since: Option<tokio::time::Instant> = None;
        let mut presence_check = tokio::time::interval(crate::cluster::BEAT);
        presence_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let exit = loop {
            if actor.fenced {
                break Exit::Fenced;
            }
            // Only the owner acts on timers; a follower hears of what they did.
            let deadline = match (actor.state.breakout.next_deadline(), actor.empty_deadline()) {
                _ if actor.follow.is_some() => None,
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timer = async {
                match deadline {
                    Some(at) => rooms.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // The timer goes first: a deadline that has passed (perhaps while Huddle was down)
            // is acted on before any request sees the room.
            // Idle since when: periodic wake-ups (a follower's check, the owner's presence
            // check) must not restart the count.
            let idle_at = if actor.is_idle() {
                Some(
                    *idle_since.get_or_insert_with(tokio::time::Instant::now) + rooms.settings.idle,
                )
            } else {
                idle_since = None;
                None
            };
            let gave_up = async {
                match given_up.as_mut() {
                    Some(watch) => {
                        let _ = watch.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let clustered = rooms.settings.node.is_some();
            let feed = async {
                match actor.follow.as_mut() {
                    Some(follow) => {
                        tokio::select! {
                            published = follow.feed.next() => match published {
                                Some(FromOwner::Event(announced)) => FeedItem::Event(Some(announced)),
                                Some(FromOwner::Signal(signal)) => FeedItem::Signal(signal),
                                None => FeedItem::Event(None),
                            },
                            _ = follow.check.tick() => FeedItem::Check,
                            _ = follow.gone_news.changed() => FeedItem::Check,
                            _ = follow.reconnected.changed() => FeedItem::Reconnected,
                        }
                    }
                    None => {
                        presence_check.tick().await;
                        FeedItem::Check
                    }
                }
            };
            tokio::select! {
                biased;
                () = rooms.stopping.cancelled() => break Exit::Stopping,
                () = gave_up => break Exit::GivenUp,
                () = timer => actor.on_timer().await,
                item = feed, if clustered => match item {
                    FeedItem::Event(Some(announced)) => actor.on_announced(announced).await,
                    FeedItem::Event(None) => break Exit::Unloaded,
                    FeedItem::Signal(signal) => actor.on_signal(signal),
                    FeedItem::Reconnected => actor.on_reconnected().await,
                    FeedItem::Check if actor.follow.is_some() => {
                        let gone = match (&rooms.settings.node, &actor.follow) {
                            (Some(node), Some(follow)) => node.is_presumed_gone(&follow.owner),
                            _ => false,
                        };
                        actor.try_promote(gone).await
                    }
                    FeedItem::Check => actor.drop_gone_nodes(),
                },
                msg = rx.recv() => match msg {
                    Some(msg) => if actor.handle(msg).await == Flow::Stop { break Exit::Deleted },
                    None => break Exit::Stopping,
                },
                () = sleep_until(idle_at), if idle_at.is_some() => break Exit::Unloaded,
                () = sleep_until(actor.waiting_until), if actor.waiting_until.is_some() => {
                    actor.catch_up_for_reads().await
                }
                () = sleep_until(actor.flush_at), if actor.flush_at.is_some() && writing.is_none() => {
                    writing = actor.flush_stays();
                }
                ok = written(&mut writing) => {
                    if let Some((n, _)) = writing.take() {
                        actor.stays_written(n, ok);
                    }
                }
            }
        };
        // A room that lost its owner here (fenced, given up) writes no more stays: the new owner
        // has settled this owner's last checkpoint, as after a crash, and what this one would add
        // would count that time twice.
        if actor.follow.is_none() && !matches!(exit, Exit::Deleted | Exit::Fenced | Exit::GivenUp) {
            // Whoever is still here ends their stay now (they start another with the next actor).
            if let Some((n, done)) = writing.take() {
                let ok = done.await.unwrap_or(false);
                actor.stays_written(n, ok);
            }
            let ended = actor.state.stays.close_all(rooms.clock.now_ms());
            actor.state.stays.note(ended);
            let rows = actor.stay_rows();
            let forget = rooms.clock.now_ms() - rooms.settings.report_retention_ms;
            // Nothing is under way any more: the checkpoint goes.
            if let Err(e) = rooms
                .store
                .record_stays(stream, &rows, Some(&[]), forget)
                .await
            {
                warn!(error = %e, "the report's last stays could not be written");
            }
        }
        if exit == Exit::Fenced {
            warn!("another node took this room over; this node gives it up");
        }
        if matches!(exit, Exit::Fenced | Exit::GivenUp) {
            // The clients here follow the room again from the next actor (a follower of the new
            // owner), after reloading it.
            for sub in actor.subscribers.values().flatten() {
                sub.conn.mark_subscribed(stream, false);
                sub.conn.request_resync(stream);
            }
            // The call goes on at the new owner's media server: the peers here end, and their
            // clients join again there.
            if actor.call_live {
                rooms.media.send(MediaCommand::Close {
                    stream,
                    reason: "moved",
                });
            }
        }
        rooms.set_owned(stream, false);
        if let (Some(fence), Exit::Unloaded | Exit::Stopping) = (&actor.fence, exit) {
            // Handed back, so that another node may serve the room at once.
            if let Err(e) = rooms.store.release_stream(stream, fence).await {
                warn!(error = %e, "could not give the room's stream back");
            }
        }
        rooms.forget(stream, generation);
        // Reads still waiting read the store, where the owner committed what they wait for.
        for (_, f, err) in actor.waiting.drain(..) {
            let _ = err.send(RoomError::Elsewhere(String::new()));
            drop(f);
        }
        rx.close();
        while let Some(msg) = rx.recv().await {
            match exit {
                // What arrived meanwhile goes to the next actor, which loads the room again from
                // the store (or finds that another node serves it now).
                Exit::Unloaded | Exit::Fenced => {
                    let _ = rooms.send(stream, msg).await;
                }
                Exit::Deleted => refuse(
                    msg,
                    &RoomError::Domain(DomainError::NotFound("room")),
                    stream,
                ),
                Exit::Stopping | Exit::GivenUp => refuse(msg, &RoomError::Unavailable, stream),
            }
        }
    }
    .instrument(span)
    .await
}

/// Sleeps until `at` (forever without one).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where a call request came from.
enum CallFrom {
    /// A connection to this node.
    Here(ConnHandle),
    /// Someone connected to another node, which relayed it (this node owns the room).
    Node(PersonId),
}

/// What a follower heard.
enum FeedItem {
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
struct Follow {
    owner: String,
    feed: Feed,
    check: tokio::time::Interval,
    /// Changes when this node hears that some node is gone (perhaps the owner).
    gone_news: tokio::sync::watch::Receiver<u64>,
    /// Changes when this node's NATS connection comes back: events may have been missed.
    reconnected: tokio::sync::watch::Receiver<u64>,
}

/// Starts following `stream`, whose owner is `owner`.
async fn follow(rooms: &Rooms, stream: RoomId, owner: String) -> Result<Follow, RoomError> {
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
const UNCONFIRMED_FOR: i64 = 3 * crate::cluster::GONE_AFTER;

/// How many answers of commands with an id an actor keeps.
const ANSWERS_KEPT: usize = 1024;

/// Why an actor stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Nothing kept it in memory.
    Unloaded,
    /// Its room was deleted.
    Deleted,
    /// The server is stopping.
    Stopping,
    /// Its commit was refused: another node owns the stream now.
    Fenced,
    /// This node cannot reach the database and gave up its rooms.
    GivenUp,
}

/// In cluster mode, claims the stream for this node: its fence from now on.
async fn claim(rooms: &Rooms, stream: RoomId) -> Result<Option<Fence>, RoomError> {
    let Some(node) = &rooms.settings.node else {
        return Ok(None);
    };
    if !node.is_healthy() {
        return Err(RoomError::Unavailable);
    }
    match rooms
        .store
        .claim_stream(stream, &node.id, node.alive_since(), None)
        .await
    {
        Ok(Claim::Won { fence, .. }) => Ok(Some(fence)),
        // A node NATS says is gone (nobody answers for it) is not waited for.
        Ok(Claim::Held { node: holder }) if node.is_presumed_gone(&holder) => {
            let claim =
                rooms
                    .store
                    .claim_stream(stream, &node.id, node.alive_since(), Some(&holder));
            match claim.await {
                Ok(Claim::Won { fence, .. }) => Ok(Some(fence)),
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

/// An actor that could not start answers everything sent to it with `error`.
async fn refuse_all(
    rooms: &Rooms,
    stream: RoomId,
    generation: u64,
    mut rx: mpsc::Receiver<Msg>,
    error: &RoomError,
) {
    rooms.forget(stream, generation);
    rx.close();
    while let Some(msg) = rx.recv().await {
        refuse(msg, error, stream);
    }
}

fn refuse(msg: Msg, error: &RoomError, stream: RoomId) {
    let copy = || match error {
        RoomError::Domain(e) => RoomError::Domain(e.clone()),
        RoomError::Elsewhere(node) => RoomError::Elsewhere(node.clone()),
        RoomError::Refused(r) => RoomError::Refused(r.clone()),
        _ => RoomError::Unavailable,
    };
    match msg {
        Msg::Command { reply, .. } => {
            let _ = reply.send(Err(copy()));
        }
        Msg::Subscribe { reply, .. } => {
            let _ = reply.send(Err(copy()));
        }
        Msg::Inspect(_, reply) | Msg::InspectAfter(_, _, reply) => {
            let _ = reply.send(copy());
        }
        Msg::UnderWay { reply, .. } => {
            let _ = reply.send(Err(copy()));
        }
        Msg::Call { conn, .. } => {
            let _ = conn.offer(&call_error(
                stream,
                "not_in_room",
                "you are not in this room",
            ));
        }
        // The node that relayed it hears nothing: its client's request times out and is sent again.
        Msg::Unsubscribe { .. }
        | Msg::Dashboard { .. }
        | Msg::Presence(_)
        | Msg::CallPresence(_)
        | Msg::RelayedCall(_) => {}
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
                id,
                reply,
            } => {
                if let Some(owner) = self.follow.as_ref().map(|f| f.owner.clone()) {
                    // The owner may be gone: then this node serves the room from now on.
                    let gone = self
                        .rooms
                        .settings
                        .node
                        .as_ref()
                        .is_some_and(|n| n.is_presumed_gone(&owner));
                    self.try_promote(gone).await;
                    if let Some(owner) = self.follow.as_ref().map(|f| f.owner.clone()) {
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
                    let _ = reply.send(Err(RoomError::Unavailable));
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
                    self.remember(id.id, committed.clone());
                }
                let _ = reply.send(result);
                if deleted {
                    return Flow::Stop;
                }
            }
            Msg::Inspect(f, _) => f(&self.state, self.last_seq),
            Msg::InspectAfter(seq, f, _) if seq <= self.last_seq => {
                f(&self.state, self.last_seq);
            }
            Msg::InspectAfter(seq, f, err) => {
                self.waiting.push((seq, f, err));
                self.waiting_until
                    .get_or_insert_with(|| tokio::time::Instant::now() + CATCH_UP_AFTER);
            }
            Msg::Subscribe { conn, since, reply } => {
                let seq = self.subscribe(conn, since);
                let call_node = self.call_node();
                let _ = reply.send(Ok(Subscribed { seq, call_node }));
            }
            Msg::Unsubscribe { conn_id } => self.detach(|c| c.id == conn_id),
            Msg::Presence(presence) => self.on_presence(presence),
            Msg::CallPresence(p) => self.call_presence(p.person, p.state),
            Msg::UnderWay { forward, reply } => self.under_way(forward, reply),
            Msg::Call { conn, request } => self.call(CallFrom::Here(conn), request),
            Msg::RelayedCall(call) => self.call(CallFrom::Node(call.person), call.request),
            Msg::Dashboard { conn_id, open } => {
                let stream = self.stream;
                let confirmation: Utf8Bytes = serde_json::json!({
                    "type": "dashboard", "room": stream, "stream": stream, "seq": self.last_seq, "open": open,
                })
                .to_string()
                .into();
                let mut person = None;
                for sub in self
                    .subscribers
                    .values_mut()
                    .flatten()
                    .filter(|s| s.conn.id == conn_id)
                {
                    sub.dashboard = open;
                    person = Some(sub.conn.person);
                    // Tells the client from which event on it receives (or no longer receives)
                    // rosters and locations.
                    if sub.conn.offer(&confirmation) == Offer::Full {
                        sub.conn.request_resync(stream);
                    }
                }
                if let Some(person) = person {
                    self.refresh_watcher(person);
                }
            }
        }
        Flow::Continue
    }

    /// The answer of a command with this id that was carried out already: remembered here, or
    /// (for a retry) found in the store, where another node may have stored it before it died.
    async fn already_done(&self, id: Option<&CommandId>) -> Option<Result<Committed, RoomError>> {
        let id = id?;
        if let Some(done) = self.answered.get(&id.id) {
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

    /// Keeps the answer of a command with an id, for its retries.
    fn remember(&mut self, id: String, committed: Committed) {
        if self.answered.len() >= ANSWERS_KEPT
            && let Some(oldest) = self.answered_order.pop_front()
        {
            self.answered.remove(&oldest);
        }
        self.answered_order.push_back(id.clone());
        self.answered.insert(id, committed);
    }

    /// Whether nothing keeps the room in memory: nobody connected to it, no round whose timer
    /// must run, no call.
    fn is_idle(&self) -> bool {
        if !self.waiting.is_empty() {
            return false;
        }
        if self.follow.is_some() {
            return self.subscribers.is_empty();
        }
        self.subscribers.is_empty()
            && self.remote.is_empty()
            && !self.state.breakout.is_live()
            && !self.call_live
            && self.state.recordings.is_empty()
    }

    /// When the first recorded room that is empty has been so for the grace time.
    fn empty_deadline(&self) -> Option<i64> {
        self.empty_since
            .values()
            .min()
            .map(|since| since + recording::EMPTY_GRACE_MS)
    }

    /// Notes which recorded rooms are empty now (after anything that moves people).
    fn track_empty(&mut self, now: i64) {
        let empty = recording::emptied(&self.state);
        self.empty_since.retain(|room, _| empty.contains(room));
        for room in empty {
            self.empty_since.entry(room).or_insert(now);
        }
    }

    /// Just loaded: a round whose deadline passed while Huddle was down ends now, and recordings
    /// that were running when Huddle stopped end (what was written is composed).
    async fn on_load(&mut self) {
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
    async fn on_timer(&mut self) {
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
    async fn commit_and_publish(
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
                self.fence.as_ref(),
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
    fn after_commit(&mut self, numbered: &[(u64, Event)]) {
        let owner = self.follow.is_none();
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

    /// Runs the waiting reads whose event this node has applied.
    fn release_waiting(&mut self) {
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
    async fn catch_up_for_reads(&mut self) {
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
    async fn on_announced(&mut self, announced: Announced) {
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
    async fn catch_up(&mut self) {
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
    async fn on_reconnected(&mut self) {
        self.catch_up().await;
        let here: Vec<PersonId> = self.subscribers.keys().copied().collect();
        for person in here {
            self.report(person, true);
        }
    }

    /// In a cluster, the label of the node whose media server runs this room's call: the owner.
    fn call_node(&self) -> Option<String> {
        let node = match &self.follow {
            Some(follow) => &follow.owner,
            None => &self.rooms.settings.node.as_ref()?.id,
        };
        Some(crate::cluster::call_label(node))
    }

    /// Learns who owns the followed stream; a new owner hears again who is connected here.
    fn owner_is(&mut self, owner: String) {
        let Some(follow) = self.follow.as_mut() else {
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
    fn announce_access(&self, people: Vec<PersonId>) {
        if let (Some(node), None) = (&self.rooms.settings.node, &self.follow) {
            node.bus.announce_access(self.stream, people);
        }
    }

    /// Tells the owner this node follows that `person` connected here (first connection) or left
    /// (last).
    fn report(&self, person: PersonId, connected: bool) {
        let (Some(node), Some(follow)) = (&self.rooms.settings.node, &self.follow) else {
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
    fn on_presence(&mut self, presence: crate::cluster::bus::Presence) {
        if self.follow.is_some() {
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
    fn gone_everywhere(&mut self, person: PersonId) {
        if self.subscribers.contains_key(&person) || self.remote.contains_key(&person) {
            return;
        }
        if let Some(event) = breakout::disconnect(&self.state, person) {
            self.publish_ephemeral(event);
        }
    }

    /// Every beat, on the owner: people connected only through nodes that are gone leave the
    /// roster, as do those the previous owner counted that nobody confirmed in time.
    fn drop_gone_nodes(&mut self) {
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
    async fn reload(&mut self) {
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
    async fn try_promote(&mut self, gone: bool) {
        let (Some(node), Some(follow)) = (self.rooms.settings.node.clone(), self.follow.as_ref())
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
                self.follow = None;
                self.fence = Some(fence);
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

    /// Tells the media server to start or stop recording, and hands a stopped recording to the
    /// composer.
    fn follow_recording(&mut self, event: &Event) {
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

    /// Notes the stays that the event just folded and published ended (`movers`: whom it may
    /// have moved; `note`: what else it means), for the session report.
    fn track_stays(
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
    fn schedule_flush(&mut self, after: Duration) {
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
    fn call_presence(&mut self, person: PersonId, state: Option<crate::domain::call::MediaState>) {
        if self.follow.is_some() {
            return;
        }
        let now = self.rooms.clock.now_ms();
        let ended = self.state.stays.media(self.stream, person, state, now);
        self.state.stays.note(ended);
        self.schedule_flush(Duration::from_secs(1));
    }

    /// The stays that ended and are not written yet, with their rooms' names.
    fn stay_rows(&self) -> Vec<StayRow> {
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
    fn under_way(
        &self,
        forward: bool,
        reply: tokio::sync::oneshot::Sender<Result<Vec<StayRow>, RoomError>>,
    ) {
        let (follow, node) = match (&self.follow, &self.rooms.settings.node) {
            (None, _) => {
                let mut rows = self.stay_rows();
                rows.extend(self.open_stay_rows(true));
                let _ = reply.send(Ok(rows));
                return;
            }
            (Some(follow), Some(node)) if forward => (follow, node),
            _ => {
                let _ = reply.send(Err(RoomError::Unavailable));
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
    fn open_stay_rows(&self, with_help: bool) -> Vec<StayRow> {
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
    fn flush_stays(&mut self) -> Option<Writing> {
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
    fn stays_written(&mut self, n: usize, ok: bool) {
        if ok {
            self.state.stays.written(n);
        } else {
            self.checkpoint_at = tokio::time::Instant::now();
        }
        self.schedule_flush(Duration::from_secs(if ok { 1 } else { 5 }));
    }

    /// Folds and sends an event that is not stored (who is connected where).
    fn publish_ephemeral(&mut self, event: Event) {
        let was = self.state.places(&event);
        self.state.fold(&event);
        let movers = crate::domain::report::movers(&event);
        self.publish(self.last_seq, event, false, &was);
        if self.follow.is_none() {
            self.track_stays(movers, crate::domain::report::Note::Nothing);
        }
    }

    /// Delivers an event to every subscriber that may see it and, if `keep`, keeps it for replay;
    /// `was` is where the event's person was placed before it (`RoomState::places`).
    fn publish(&mut self, seq: u64, event: Event, keep: bool, was: &[RoomId]) {
        if self.follow.is_none() {
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
        if self.follow.is_none()
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

    /// A call request: only someone who is in one of this stream's rooms may make one; the media
    /// server learns the stream's locations before its first request.
    fn call(&mut self, from: CallFrom, request: CallRequest) {
        let stream = self.stream;
        let person = match &from {
            CallFrom::Here(conn) => conn.person,
            CallFrom::Node(person) => *person,
        };
        // In a cluster, the call runs on the owner's media server: a node that follows the room
        // passes its clients' requests on (their answers come back with the owner's events).
        if let (Some(follow), Some(node)) = (&self.follow, &self.rooms.settings.node) {
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
    fn call_reply(&self, from: &CallFrom, frame: &Utf8Bytes) {
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
    fn call_moved(&self) {
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
    fn on_signal(&mut self, signal: crate::cluster::bus::RelayedSignal) {
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
    fn sync_call(&mut self, event: &Event) {
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

    fn send_locations(&mut self, people: Vec<PersonId>) {
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

    fn is_subscribed(&self, conn: &ConnHandle) -> bool {
        self.subscribers
            .get(&conn.person)
            .is_some_and(|subs| subs.iter().any(|s| s.conn.id == conn.id))
    }

    /// Adds a connection, first replaying what it missed after `since`. Returns the current seq.
    fn subscribe(&mut self, conn: ConnHandle, since: Option<u64>) -> u64 {
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

    fn add_subscriber(&mut self, conn: ConnHandle) {
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
        if first && self.follow.is_some() {
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
    fn connection_closed(&mut self, person: PersonId) {
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
        if self.follow.is_some() {
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
    fn refresh_watcher(&mut self, person: PersonId) {
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
    fn attach(&mut self, person: PersonId) {
        for conn in self.rooms.connections.of(person) {
            if !self.is_subscribed(&conn) {
                self.add_subscriber(conn);
            }
        }
    }

    fn detach(&mut self, which: impl Fn(&ConnHandle) -> bool) {
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
