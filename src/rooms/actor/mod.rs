//! The actor of one main room: its state, and the loop that takes one thing at a time (a message
//! from its mailbox, a timer, the owner's feed in a cluster) and hands it to the part that does it:
//!
//! - `commit`: a command applied, committed, folded in and published; the timers' own commands;
//! - `fanout`: events to the subscribed connections, and the subscriptions;
//! - `ownership`: claiming the room in a cluster, or following its owner, and taking it over;
//! - `call`: call requests checked and relayed, the media server told where everyone is;
//! - `stays`: the session report's stays, written in bursts and checkpointed;
//! - `timers`: what keeps the actor loaded, and the recordings' timers.
//!
//! Invariants: the state and `last_seq` only change after the store has committed the events
//! (except connection events, which are never stored: locations live in memory); every subscriber
//! gets each event it may see exactly once and in sequence order, or a `resync`.

mod call;
mod commit;
mod fanout;
mod ownership;
mod stays;
mod timers;

use call::CallFrom;
use ownership::{CATCH_UP_AFTER, OwnerNews, Ownership, claim, start_following};
use stays::{Writing, written};

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info_span, warn};

use super::idempotency::Answers;
use super::wire::{Frames, frames};
use super::{Inspector, Msg, Rooms, Subscribed};
use crate::cluster::bus::FromOwner;
use crate::contract::{RoomError, Unavailable};
use crate::domain::DomainError;
use crate::domain::room::{Event, RoomState};
use crate::ids::{PersonId, RoomId};
use crate::media::Command as MediaCommand;
use crate::realtime::frames::call_error;
use crate::realtime::{ConnHandle, Offer};

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
    /// Whose the room is: this node's alone, this node's under a fence, or another node's.
    ownership: Ownership,
    /// A commit was refused by the fence: the actor stops.
    fenced: bool,
    /// The owner's view of people connected to other nodes: by person, the nodes they are on.
    remote: HashMap<PersonId, HashSet<String>>,
    /// Just after this node took the room over: people the previous owner counted as connected,
    /// and until when their node may confirm them before they are counted as gone.
    unconfirmed: HashMap<PersonId, i64>,
    /// Answers of the latest commands that came with an id, for their retries.
    answers: Answers,
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
        let ownership = match claim(&rooms, stream).await {
            Ok(ownership) => ownership,
            // Another node serves the room: this node follows it, for its own clients.
            Err(RoomError::Elsewhere(owner)) => match start_following(&rooms, stream, owner).await {
                Ok(follow) => Ownership::Follower(follow),
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
            ownership,
            fenced: false,
            remote: HashMap::new(),
            unconfirmed: HashMap::new(),
            answers: Answers::default(),
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
        if actor.ownership.serves() {
            if matches!(actor.ownership, Ownership::Owner(_)) {
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
                _ if !actor.ownership.serves() => None,
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
                match actor.ownership.follow_mut() {
                    Some(follow) => {
                        tokio::select! {
                            published = follow.feed.next() => match published {
                                Some(FromOwner::Event(announced)) => OwnerNews::Event(Some(announced)),
                                Some(FromOwner::Signal(signal)) => OwnerNews::Signal(signal),
                                None => OwnerNews::Event(None),
                            },
                            _ = follow.check.tick() => OwnerNews::Check,
                            _ = follow.gone_news.changed() => OwnerNews::Check,
                            _ = follow.reconnected.changed() => OwnerNews::Reconnected,
                        }
                    }
                    None => {
                        presence_check.tick().await;
                        OwnerNews::Check
                    }
                }
            };
            tokio::select! {
                biased;
                () = rooms.stopping.cancelled() => break Exit::Stopping,
                () = gave_up => break Exit::GivenUp,
                () = timer => actor.on_timer().await,
                item = feed, if clustered => match item {
                    OwnerNews::Event(Some(announced)) => actor.on_announced(announced).await,
                    OwnerNews::Event(None) => break Exit::Unloaded,
                    OwnerNews::Signal(signal) => actor.on_signal(signal),
                    OwnerNews::Reconnected => actor.on_reconnected().await,
                    OwnerNews::Check if !actor.ownership.serves() => {
                        let gone = match (&rooms.settings.node, actor.ownership.follow()) {
                            (Some(node), Some(follow)) => node.is_presumed_gone(&follow.owner),
                            _ => false,
                        };
                        actor.try_promote(gone).await
                    }
                    OwnerNews::Check => actor.drop_gone_nodes(),
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
        if actor.ownership.serves() && !matches!(exit, Exit::Deleted | Exit::Fenced | Exit::GivenUp) {
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
        if let (Some(fence), Exit::Unloaded | Exit::Stopping) = (actor.ownership.fence(), exit) {
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
                    if let Err(msg) = rooms.deliver(stream, msg).await {
                        refuse(msg, &RoomError::Unavailable(Unavailable::NotDelivered), stream);
                    }
                }
                Exit::Deleted => refuse(
                    msg,
                    &RoomError::Domain(DomainError::NotFound("room")),
                    stream,
                ),
                Exit::Stopping => refuse(msg, &RoomError::Unavailable(Unavailable::Stopping), stream),
                Exit::GivenUp => refuse(msg, &RoomError::Unavailable(Unavailable::NoDatabase), stream),
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
        RoomError::Unavailable(why) => RoomError::Unavailable(*why),
        // The store failed as the room loaded (logged there): nothing was applied.
        RoomError::Store(_) => RoomError::Unavailable(Unavailable::NotLoaded),
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
            } => return self.on_command(caller, command, id, reply).await,
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
}
