//! Room actors: one task per active main room, the single writer of that room and its breakout
//! rooms.
//!
//! Every command on a room goes through its main room's actor, which applies it to the domain
//! state, stores the resulting events in one transaction, folds them in and only then publishes
//! them (commit, then publish). Two moderators' conflicting commands are therefore applied one
//! after the other, and a client never hears of something that a crash could undo.
//!
//! [`Rooms`] finds or starts actors. An actor loads its state from the store when it starts; until
//! then commands wait in its mailbox, so nobody sees a half-loaded room.

mod actor;
mod host;
pub mod idempotency;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tracing::instrument;

use crate::clock::SharedClock;
use crate::cluster::bus::Forwarded;
use crate::contract::{CallRequest, CommandId, Committed, RoomError, Unavailable};
use crate::domain::DomainError;
use crate::domain::room::{Caller, Command, Ctx, RoomState};
use crate::ids::{PersonId, RoomId};
use crate::media::Media;
use crate::metrics::Metrics;
use crate::realtime::frames::call_error;
use crate::realtime::{ConnHandle, Connections};
use crate::recording::Recordings;
use crate::store::{SharedStore, StoreError};

/// Tunables of the actors.
#[derive(Clone)]
pub struct ActorSettings {
    /// How many recent events each stream keeps for replay to reconnecting clients.
    pub replay: usize,
    /// Most breakout rooms per main room.
    pub max_breakout_rooms: usize,
    /// External guests may join main rooms with breakout rooms enabled.
    pub guests_with_breakouts: bool,
    /// How long invitation links work, in milliseconds.
    pub invitation_ttl_ms: i64,
    /// Most recordings under way at once per main room (with its breakout rooms).
    pub max_recordings: usize,
    /// How long the session report keeps stays, in milliseconds.
    pub report_retention_ms: i64,
    /// How often the stays under way are checkpointed (the most of them a crash loses).
    pub report_checkpoint: std::time::Duration,
    /// How long an actor nobody is connected to (no round running, no call) stays loaded.
    pub idle: std::time::Duration,
    /// This node, in cluster mode: actors claim their stream first and commit under its fence.
    pub node: Option<Arc<crate::cluster::Node>>,
}

pub(crate) type Inspector = Box<dyn FnOnce(&RoomState, u64) + Send + Sync>;

/// What a connection learns when it starts following a stream.
#[derive(Debug)]
pub struct Subscribed {
    /// The stream's last `seq`.
    pub seq: u64,
    /// In a cluster, the label of the node whose media server runs the room's call (the
    /// stream's owner; `cluster::call_label`).
    pub call_node: Option<String>,
}

pub(crate) enum Msg {
    Command {
        caller: Caller,
        command: Command,
        id: Option<CommandId>,
        reply: oneshot::Sender<Result<Committed, RoomError>>,
    },
    Inspect(Inspector, oneshot::Sender<RoomError>),
    /// As `Inspect`, once this node has applied the event numbered `.0` (a follower may be
    /// behind its owner for a few milliseconds).
    InspectAfter(u64, Inspector, oneshot::Sender<RoomError>),
    Subscribe {
        conn: ConnHandle,
        since: Option<u64>,
        reply: oneshot::Sender<Result<Subscribed, RoomError>>,
    },
    Unsubscribe {
        conn_id: u64,
    },
    /// Another node says someone connected there or left (cluster mode, to the owner).
    Presence(crate::cluster::bus::Presence),
    /// A call request of someone connected to another node (cluster mode, to the owner).
    RelayedCall(crate::cluster::bus::RelayedCall),
    /// The media server says someone joined the call, changed what they send, or left it.
    CallPresence(crate::media::sfu::CallPresence),
    /// The session report's stays not in the store yet; a follower asks the owner if `forward`.
    UnderWay {
        forward: bool,
        reply: oneshot::Sender<Result<Vec<crate::store::StayRow>, RoomError>>,
    },
    Dashboard {
        conn_id: u64,
        open: bool,
    },
    Call {
        conn: ConnHandle,
        request: CallRequest,
    },
}

/// Finds or starts the actor of each main room.
pub struct Rooms {
    store: SharedStore,
    clock: SharedClock,
    connections: Arc<Connections>,
    metrics: Arc<Metrics>,
    media: Media,
    /// Where recordings go when they stop.
    recordings: Arc<Recordings>,
    settings: ActorSettings,
    /// Held only to look up or insert a sender, never across an `.await`.
    actors: Mutex<HashMap<RoomId, (u64, mpsc::Sender<Msg>)>>,
    /// In a cluster, the streams this node's actors own (the others they follow).
    owned: Mutex<std::collections::BTreeSet<RoomId>>,
    next_generation: std::sync::atomic::AtomicU64,
    /// Every actor task, so that shutting down can wait for them.
    tasks: tokio_util::task::TaskTracker,
    /// Cancelled when the server stops: actors end without acting on their timers again.
    stopping: tokio_util::sync::CancellationToken,
}

/// The mailbox depth of an actor; senders wait (back-pressure on HTTP) when it is full.
const MAILBOX: usize = 1024;

/// How many actors a message is offered to before it is given up as not delivered: each attempt
/// after the first follows an actor that stopped as the message arrived.
const DELIVERY_ATTEMPTS: usize = 3;

impl Rooms {
    /// A registry with no actors running yet.
    pub fn new(
        store: SharedStore,
        clock: SharedClock,
        connections: Arc<Connections>,
        metrics: Arc<Metrics>,
        media: Media,
        recordings: Arc<Recordings>,
        settings: ActorSettings,
    ) -> Arc<Rooms> {
        Arc::new(Rooms {
            store,
            clock,
            connections,
            metrics,
            media,
            recordings,
            settings,
            actors: Mutex::new(HashMap::new()),
            owned: Mutex::new(Default::default()),
            next_generation: Default::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            stopping: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// The context of a command applied now: the time, fresh randomness, the limits.
    fn ctx(&self) -> Ctx {
        self.ctx_at(self.clock.now_ms())
    }

    /// The context of a command applied at `now`.
    pub(crate) fn ctx_at(&self, now: i64) -> Ctx {
        Ctx {
            now,
            seed: rand::random(),
            max_breakout_rooms: self.settings.max_breakout_rooms,
            guests_with_breakouts: self.settings.guests_with_breakouts,
            invitation_ttl_ms: self.settings.invitation_ttl_ms,
            max_recordings: self.settings.max_recordings,
        }
    }

    /// Stops every actor and waits until they have: after this nothing more is committed (a timer
    /// that comes due later is acted on by the next start, as after a crash).
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Starts the actor of a stream now (its timer must run even if nobody asks for it).
    pub fn wake(self: &Arc<Self>, stream: RoomId) {
        self.sender(stream);
    }

    /// Opens or closes the breakout dashboard for one connection.
    pub async fn dashboard(self: &Arc<Self>, stream: RoomId, conn_id: u64, open: bool) {
        let sender = self.actors_lock().get(&stream).map(|(_, tx)| tx.clone());
        if let Some(tx) = sender {
            let _ = tx.send(Msg::Dashboard { conn_id, open }).await;
        }
    }

    /// Passes a call request to the actor of `stream`; if the room has no live actor the person
    /// cannot be in it, and is told so.
    pub async fn call(self: &Arc<Self>, stream: RoomId, conn: ConnHandle, request: CallRequest) {
        let sender = self.actors_lock().get(&stream).map(|(_, tx)| tx.clone());
        let refused = match sender {
            Some(tx) => tx
                .send(Msg::Call {
                    conn: conn.clone(),
                    request,
                })
                .await
                .is_err(),
            None => true,
        };
        if refused {
            let _ = conn.offer(&call_error(
                stream,
                "not_in_room",
                "you are not in this room",
            ));
        }
    }

    /// The main rooms whose actors run on this node (in a cluster: owned or followed), sorted.
    pub fn loaded(&self) -> Vec<RoomId> {
        let mut rooms: Vec<RoomId> = self.actors_lock().keys().copied().collect();
        rooms.sort();
        rooms
    }

    /// In a cluster, the main rooms this node serves (owns), sorted.
    pub fn owned(&self) -> Vec<RoomId> {
        self.owned_lock().iter().copied().collect()
    }

    /// Notes that this node serves `stream` now, or no longer.
    fn set_owned(&self, stream: RoomId, owned: bool) {
        let mut set = self.owned_lock();
        if owned {
            set.insert(stream);
        } else {
            set.remove(&stream);
        }
    }

    fn owned_lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<RoomId>> {
        // Poisoning only means a panic elsewhere while inserting; the set is still consistent.
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store the actors write to.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// The connections open on this node.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Creates a main room owned by `owner`; returns its state.
    #[instrument(skip_all)]
    pub async fn create(
        self: &Arc<Self>,
        owner: &Caller,
        name: String,
    ) -> Result<RoomState, RoomError> {
        let id = RoomId::new();
        let ctx = self.ctx();
        let (state, events) = RoomState::create(ctx, id, name, owner);
        let numbered: Vec<_> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e))
            .collect();
        // In a cluster the new stream is claimed first, so that its first commit is fenced too.
        let fence = match &self.settings.node {
            Some(node) => match self
                .store
                .claim_stream(id, &node.id, node.alive_since(), None)
                .await?
            {
                crate::store::Claim::Won { fence, .. } => Some(fence),
                crate::store::Claim::Held { node } => return Err(RoomError::Elsewhere(node)),
            },
            None => None,
        };
        self.store
            .commit(
                id,
                &numbered,
                ctx.now,
                self.settings.replay as u64,
                fence.as_ref(),
                None,
            )
            .await?;
        // The actor loads the committed room and attaches the owner's open connections, which
        // then replay the creation events; in a cluster, other nodes do the same with theirs.
        self.attach_here(id, &[owner.person_id]).await;
        if let Some(node) = &self.settings.node {
            node.bus.announce_access(id, vec![owner.person_id]);
        }
        Ok(state)
    }

    /// Subscribes the connections open on this node of people who just gained access to `stream`
    /// (they replay it from the start).
    pub async fn attach_here(self: &Arc<Self>, stream: RoomId, people: &[PersonId]) {
        for person in people {
            for conn in self.connections.of(*person) {
                if !conn.subscribed_streams().contains(&stream) {
                    let _ = self.subscribe(stream, conn, Some(0)).await;
                }
            }
        }
    }

    /// Sends a command to the actor of the main room that `room` belongs to. Returns once its
    /// events are stored. In a cluster, a room another node serves gets the command from there
    /// (and a room whose node is gone is claimed here). Inside an HTTP request with an
    /// `Idempotency-Key` ([`idempotency`]), a command carried out already is answered as it was.
    #[instrument(skip_all, fields(room = %room))]
    pub async fn command(
        self: &Arc<Self>,
        room: RoomId,
        caller: Caller,
        command: Command,
    ) -> Result<Committed, RoomError> {
        // A request with an `Idempotency-Key` names its commands itself, and may be a retry.
        let keyed = idempotency::next_command_id(caller.person_id).map(|id| CommandId {
            id,
            retry: true,
            deadline: None,
        });
        let Some(node) = self.settings.node.clone() else {
            return self.command_here(room, caller, command, keyed).await;
        };
        // A few times at most, under one id so that the command runs once: the owner may turn out
        // to be gone (this node then claims the room), may not answer in time (perhaps it just
        // died, and NATS has not noticed yet), or this node may find it lost the room (its
        // commit was fenced: the command goes to the new owner).
        let mut id = keyed.unwrap_or_else(|| CommandId {
            id: uuid::Uuid::now_v7().to_string(),
            retry: false,
            deadline: None,
        });
        // This node gives up after the last attempt; another node refuses the command from a
        // little before that on (clocks differ by less than that margin, `docs/cluster.md`).
        // Attempts here wait for their answer, so they need no deadline.
        let attempts: std::time::Duration = crate::cluster::bus::ATTEMPT_TIMEOUTS.iter().sum();
        let give_up = self.clock.now_ms() + attempts.as_millis() as i64
            - crate::cluster::CLOCK_MARGIN.as_millis() as i64;
        let mut last = RoomError::Unavailable(Unavailable::Fenced);
        for timeout in crate::cluster::bus::ATTEMPT_TIMEOUTS {
            let result = self
                .command_here(room, caller.clone(), command.clone(), Some(id.clone()))
                .await;
            id.retry = true;
            match result {
                Err(RoomError::Store(StoreError::Fenced)) => {
                    last = RoomError::Unavailable(Unavailable::Fenced)
                }
                Err(RoomError::Elsewhere(owner)) => {
                    let stream = self.stream_of(room).await?;
                    self.metrics.cluster_commands_forwarded.inc();
                    match node
                        .bus
                        .forward(
                            &owner,
                            stream,
                            caller.clone(),
                            command.clone(),
                            CommandId {
                                deadline: Some(give_up),
                                ..id.clone()
                            },
                            timeout,
                        )
                        .await
                    {
                        Forwarded::Answered(result) => {
                            node.heard_from(&owner);
                            return result;
                        }
                        Forwarded::NoResponders => node.presume_gone(&owner),
                        Forwarded::Unreachable => {}
                    }
                    last = RoomError::Elsewhere(owner);
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// [`Rooms::command`] on this node only: the actor here, or `Elsewhere` if another node
    /// serves the room. A command with an `id` that was carried out already is answered as it
    /// was then.
    pub async fn command_here(
        self: &Arc<Self>,
        room: RoomId,
        caller: Caller,
        command: Command,
        id: Option<CommandId>,
    ) -> Result<Committed, RoomError> {
        let began = std::time::Instant::now();
        let stream = self.stream_of(room).await?;
        // Once more when nothing was carried out: the actor it reached could not load the room
        // (a passing store failure), or it stopped before taking the command.
        let mut again = true;
        loop {
            let (reply, rx) = oneshot::channel();
            let msg = Msg::Command {
                caller: caller.clone(),
                command: command.clone(),
                id: id.clone(),
                reply,
            };
            let result = match self.send(stream, msg).await {
                Ok(()) => rx
                    .await
                    .unwrap_or(Err(RoomError::Unavailable(Unavailable::ReplyLost))),
                Err(e) => Err(e),
            };
            match result {
                Err(RoomError::Unavailable(why)) if again && why.not_applied() => {
                    tracing::info!(%why, "sending the command again");
                    again = false;
                }
                result => {
                    tracing::debug!(target: "huddle::timing", command_us = began.elapsed().as_micros() as u64, "command answered");
                    return result;
                }
            }
        }
    }

    /// Runs `f` on the current state of the main room that `room` belongs to, inside its actor.
    pub async fn inspect<T: Send + 'static>(
        self: &Arc<Self>,
        room: RoomId,
        f: impl FnOnce(&RoomState, u64) -> T + Send + 'static,
    ) -> Result<T, RoomError> {
        self.inspect_at(room, None, f).await
    }

    /// As [`Rooms::inspect`], on a state that holds the event numbered `seq` at least: the
    /// answer of a command reflects it on any node of a cluster. A follower waits for the
    /// owner's event (reading the store after a short while), so a client never acts on the
    /// state from before its own command.
    pub async fn inspect_after<T: Send + 'static>(
        self: &Arc<Self>,
        room: RoomId,
        seq: u64,
        f: impl FnOnce(&RoomState, u64) -> T + Send + 'static,
    ) -> Result<T, RoomError> {
        self.inspect_at(room, Some(seq), f).await
    }

    async fn inspect_at<T: Send + 'static>(
        self: &Arc<Self>,
        room: RoomId,
        after: Option<u64>,
        f: impl FnOnce(&RoomState, u64) -> T + Send + 'static,
    ) -> Result<T, RoomError> {
        let stream = self.stream_of(room).await?;
        let f = Arc::new(std::sync::Mutex::new(Some(f)));
        let (tx, rx) = oneshot::channel();
        let (err_tx, err_rx) = oneshot::channel();
        let here = f.clone();
        let inspector: Inspector = Box::new(move |state, seq| {
            if let Some(f) = here.lock().ok().and_then(|mut f| f.take()) {
                let _ = tx.send(f(state, seq));
            }
        });
        let msg = match after {
            Some(seq) => Msg::InspectAfter(seq, inspector, err_tx),
            None => Msg::Inspect(inspector, err_tx),
        };
        self.send(stream, msg).await?;
        // The actor sends the value before it drops `err_tx`; a refusal is sent on `err_tx` before
        // the inspector (and its `tx`) is dropped.
        let answer = match rx.await {
            Ok(value) => Ok(value),
            Err(_) => Err(err_rx
                .await
                .unwrap_or(RoomError::Unavailable(Unavailable::ReplyLost))),
        };
        match answer {
            // Another node serves the room: what is stored is read here (without who is
            // connected where, which only the serving node knows).
            Err(RoomError::Elsewhere(node)) => {
                let loaded = self
                    .store
                    .load_stream(stream, 0)
                    .await?
                    .ok_or(RoomError::Domain(DomainError::NotFound("room")))?;
                let f = f.lock().ok().and_then(|mut f| f.take());
                f.map(|f| f(&loaded.state, loaded.last_seq))
                    .ok_or(RoomError::Elsewhere(node))
            }
            other => other,
        }
    }

    /// Subscribes a connection to a stream, replaying what it missed after `since` (or nothing,
    /// when `since` is `None`). Returns the stream's current sequence number.
    pub async fn subscribe(
        self: &Arc<Self>,
        stream: RoomId,
        conn: ConnHandle,
        since: Option<u64>,
    ) -> Result<Subscribed, RoomError> {
        let (reply, rx) = oneshot::channel();
        self.send(stream, Msg::Subscribe { conn, since, reply })
            .await?;
        rx.await
            .map_err(|_| RoomError::Unavailable(Unavailable::ReplyLost))?
    }

    /// Another node reports who connected there or left, for a stream this node serves.
    pub async fn presence(self: &Arc<Self>, presence: crate::cluster::bus::Presence) {
        let stream = presence.stream;
        let _ = self.send(stream, Msg::Presence(presence)).await;
    }

    /// Hands the media server's news of who is in a call, sending what, to the room's actor (for
    /// the session report); a room with no live actor has no call to report.
    pub async fn call_presence(self: &Arc<Self>, presence: crate::media::sfu::CallPresence) {
        let sender = self
            .actors_lock()
            .get(&presence.stream)
            .map(|(_, tx)| tx.clone());
        if let Some(tx) = sender {
            let _ = tx.send(Msg::CallPresence(presence)).await;
        }
    }

    /// The session report's stays of `stream` that are not in the store yet (ended and not
    /// written, or under way up to now), from the room's owner: here, or asked over the bus.
    pub async fn under_way(
        self: &Arc<Self>,
        stream: RoomId,
    ) -> Result<Vec<crate::store::StayRow>, RoomError> {
        let (reply, rx) = oneshot::channel();
        self.send(
            stream,
            Msg::UnderWay {
                forward: true,
                reply,
            },
        )
        .await?;
        rx.await
            .map_err(|_| RoomError::Unavailable(Unavailable::ReplyLost))?
    }

    /// [`Rooms::under_way`] for another node that takes this one for the owner: answered only
    /// by an owner's actor running here.
    pub async fn under_way_here(
        self: &Arc<Self>,
        stream: RoomId,
    ) -> Result<Vec<crate::store::StayRow>, RoomError> {
        let sender = self.actors_lock().get(&stream).map(|(_, tx)| tx.clone());
        let tx = sender.ok_or(RoomError::Unavailable(Unavailable::NotOwner))?;
        let (reply, rx) = oneshot::channel();
        tx.send(Msg::UnderWay {
            forward: false,
            reply,
        })
        .await
        .map_err(|_| RoomError::Unavailable(Unavailable::NotDelivered))?;
        rx.await
            .map_err(|_| RoomError::Unavailable(Unavailable::ReplyLost))?
    }

    /// Hands a call request relayed by another node to the room's actor here (the owner).
    pub async fn relayed_call(self: &Arc<Self>, call: crate::cluster::bus::RelayedCall) {
        let stream = call.stream;
        let _ = self.send(stream, Msg::RelayedCall(call)).await;
    }

    /// Stops delivering a stream to a connection.
    pub async fn unsubscribe(self: &Arc<Self>, stream: RoomId, conn_id: u64) {
        let sender = self.actors_lock().get(&stream).map(|(_, tx)| tx.clone());
        if let Some(tx) = sender {
            let _ = tx.send(Msg::Unsubscribe { conn_id }).await;
        }
    }

    async fn stream_of(&self, room: RoomId) -> Result<RoomId, RoomError> {
        if self.actors_lock().contains_key(&room) {
            return Ok(room);
        }
        self.store
            .stream_of(room)
            .await?
            .ok_or(RoomError::Domain(DomainError::NotFound("room")))
    }

    async fn send(self: &Arc<Self>, stream: RoomId, msg: Msg) -> Result<(), RoomError> {
        self.deliver(stream, msg)
            .await
            .map_err(|_| RoomError::Unavailable(Unavailable::NotDelivered))
    }

    /// Puts `msg` in the mailbox of `stream`'s actor, or hands it back if it could not: then
    /// nobody has seen it, and it is safe to send again.
    async fn deliver(self: &Arc<Self>, stream: RoomId, msg: Msg) -> Result<(), Msg> {
        let mut msg = msg;
        // An actor that has just stopped (unloaded, or its room deleted, or it could not load
        // it) closes its mailbox; the next attempt starts a fresh actor, which loads the room
        // again or finds it gone. A few attempts, each after the last actor closed its mailbox.
        for _ in 0..DELIVERY_ATTEMPTS {
            let tx = self.sender(stream);
            match tx.send(msg).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(returned)) => msg = returned,
            }
            tokio::task::yield_now().await;
        }
        tracing::warn!(room = %stream, "no actor took a message for the room");
        Err(msg)
    }

    fn sender(self: &Arc<Self>, stream: RoomId) -> mpsc::Sender<Msg> {
        let mut actors = self.actors_lock();
        if let Some((_, tx)) = actors.get(&stream).filter(|(_, tx)| !tx.is_closed()) {
            return tx.clone();
        }
        let generation = self
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(MAILBOX);
        actors.insert(stream, (generation, tx.clone()));
        self.metrics.room_actors.inc();
        let rooms = self.clone();
        self.tasks.spawn(async move {
            // A panic is a bug; it must not leave the room unreachable. The requests in the
            // mailbox are dropped (their senders hear `ReplyLost`), and the next one starts a
            // fresh actor, which loads the room from the store.
            let run =
                std::panic::AssertUnwindSafe(actor::run(rooms.clone(), stream, generation, rx));
            if let Err(panic) = futures_util::FutureExt::catch_unwind(run).await {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(room = %stream, panic = %what, "the room's actor panicked");
                rooms.forget(stream, generation);
            }
            rooms.metrics.room_actors.dec();
        });
        tx
    }

    /// Called by an actor as it stops: the next message for its room starts another.
    fn forget(&self, stream: RoomId, generation: u64) {
        let mut actors = self.actors_lock();
        if actors.get(&stream).is_some_and(|(g, _)| *g == generation) {
            actors.remove(&stream);
        }
    }

    fn actors_lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, (u64, mpsc::Sender<Msg>)>> {
        // Poisoning only means a panic elsewhere while inserting; the map is still consistent.
        self.actors.lock().unwrap_or_else(|p| p.into_inner())
    }
}
