//! NATS between the nodes of a cluster: a command that arrives on a node which does not own its
//! room goes to the node that does, by request and reply; the owner's events go to every node
//! that follows the room (`huddle.ev.<stream>`, core NATS, in order; PostgreSQL is the log).
//!
//! Calls run on the owner's media server. A node that follows a room relays its clients' call
//! requests to the owner (`huddle.node.<owner>.relay`, the subject that also carries who
//! connected there, so that the owner hears of someone before their call), and the owner's call
//! frames for people connected elsewhere travel with its events (`huddle.ev.<stream>`).
//!
//! Each node answers requests on `huddle.node.<NODE>.cmd` (one subscription per node, taken
//! before the node's first heartbeat, so a node the others can see also answers), and pings on
//! `huddle.node.<NODE>.ping`, by which the others notice at once that its process is gone. The request
//! is `{"stream", "caller", "command", "id"}` (the id makes a retried command run once); the reply is `{"ok": Committed}` or `{"err": Refusal}`,
//! the refusal being what the owner would have answered over HTTP.
//!
//! NATS tells a requester at once when nobody subscribes to a subject ("no responders"): the
//! owner's process is gone (its connection closed). The requester then claims the room itself,
//! without waiting for the owner's heartbeat to age; should the owner still be alive (cut off from
//! NATS only), the fence refuses its next commit and it gives the room up.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::contract::{CommandId, Committed, Refusal, RoomError, Unavailable};
use crate::domain::room::{Caller, Command, Event};
use crate::ids::{PersonId, RoomId};
use crate::realtime::Connections;
use crate::store::StayRow;

use super::subjects::{
    ACCESS_SUBJECT, AnnouncedRef, Reply, Request, SIGNED_OUT_SUBJECT, events_subject, ping_subject,
    relay_subject, subject, under_way_subject,
};
pub use super::subjects::{
    Access, Announced, FromOwner, Presence, RelayedCall, RelayedSignal, SignedOut, ToOwner,
};

/// What this node's rooms do for the other nodes: the bus sits below the rooms and knows them
/// only through this (`rooms::Rooms` implements it).
#[async_trait::async_trait]
pub trait Host: Send + Sync + 'static {
    /// Runs a command another node forwarded, on a room this node owns.
    async fn command_here(
        self: Arc<Self>,
        stream: RoomId,
        caller: Caller,
        command: Command,
        id: CommandId,
    ) -> Result<Committed, RoomError>;
    /// The session report's stays not in the store yet, of a room this node owns.
    async fn under_way_here(self: Arc<Self>, stream: RoomId) -> Result<Vec<StayRow>, RoomError>;
    /// Subscribes the connections here of `people` to `stream` (they were given access).
    async fn attach_here(self: Arc<Self>, stream: RoomId, people: Vec<PersonId>);
    /// Someone connected to another node or left it.
    async fn presence(self: Arc<Self>, presence: Presence);
    /// A call request of someone connected to another node.
    async fn relayed_call(self: Arc<Self>, call: RelayedCall);
    /// Starts the actor of `stream` if it is not running (it claims the room if it may).
    fn wake(self: Arc<Self>, stream: RoomId);
    /// The connections to this node.
    fn connections(&self) -> &Connections;
}

/// How long each attempt to forward a command waits for the owner's answer. The first is short:
/// a request sent in the instant between the owner's death and NATS noticing it is lost, and the
/// second attempt then hears "no responders". A retry reaches the owner's actor after the first
/// (it serves one command at a time) and is answered from the first's outcome, so a slow command
/// is never run twice.
pub const ATTEMPT_TIMEOUTS: [Duration; 3] = [
    Duration::from_millis(300),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// The NATS connection of this node.
pub struct Bus {
    client: async_nats::Client,
    /// This node's id, in what it announces.
    node: String,
    /// Events to publish, in the order the actors published them (one task sends them all, so
    /// NATS keeps that order for every subscriber).
    outbox: Outbox,
    /// Counts the (re)connections to NATS and the messages it dropped for being slow: after
    /// either, followers may have missed events and read them from the store.
    links: Arc<watch::Sender<u64>>,
}

/// How many messages wait for NATS at most. While NATS is out of reach they pile up; past this,
/// new ones are dropped (and counted): followers fill the missed events from the store, and
/// call frames are sent again with the next change.
pub const OUTBOX: usize = 65_536;

/// The queue in front of the one task that publishes everything this node sends on NATS.
#[derive(Clone)]
struct Outbox {
    queue: tokio::sync::mpsc::Sender<(String, Vec<u8>)>,
    /// Messages dropped because the queue was full.
    dropped: prometheus_client::metrics::counter::Counter,
}

impl Outbox {
    /// Queues a message; drops it (counted) when the queue is full. Never waits.
    fn send(&self, subject: String, body: Vec<u8>) {
        if self.queue.try_send((subject, body)).is_err() {
            self.dropped.inc();
        }
    }
}

/// Publishes call frames for people connected to other nodes. Cheap to clone; never waits.
#[derive(Clone)]
pub struct SignalRelay {
    outbox: Outbox,
}

impl SignalRelay {
    /// Sends `frame` to `person`'s connections (everyone's, without a person) on the nodes that
    /// follow `stream`.
    pub fn send(&self, stream: RoomId, person: Option<PersonId>, frame: &str) {
        self.publish(stream, None, person, frame);
    }

    /// Sends `frame` to everyone who follows `stream` on other nodes, saying that this node
    /// (`node`) has just taken it over.
    pub fn taken_over(&self, stream: RoomId, node: &str, frame: &str) {
        self.publish(stream, Some(node.to_owned()), None, frame);
    }

    fn publish(
        &self,
        stream: RoomId,
        new_owner: Option<String>,
        person: Option<PersonId>,
        frame: &str,
    ) {
        let signal = FromOwner::Signal(RelayedSignal {
            new_owner,
            person,
            frame: frame.to_owned(),
        });
        if let Ok(body) = serde_json::to_vec(&signal) {
            self.outbox.send(events_subject(stream), body);
        }
    }
}

/// Events larger than this go by the store, not by NATS (whose messages are 1 MB at most).
const LARGEST_EVENT: usize = 512 * 1024;

/// The events of one stream arriving from its owner.
pub struct OwnerFeed {
    subscriber: async_nats::Subscriber,
}

impl OwnerFeed {
    /// The next event or call frame; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<FromOwner> {
        loop {
            let message = self.subscriber.next().await?;
            match serde_json::from_slice(&message.payload) {
                Ok(published) => return Some(published),
                Err(e) => warn!(error = %e, "an unreadable message from the owner"),
            }
        }
    }
}

/// What the requester learnt from forwarding a command.
pub enum Forwarded {
    /// The owner answered.
    Answered(Result<Committed, RoomError>),
    /// Nobody listens for that node: its process is gone.
    NoResponders,
    /// The owner did not answer in time, or NATS failed.
    Unreachable,
}

/// What probing another node found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// It answered.
    Answered,
    /// NATS has nobody subscribed for it: its process is gone (or cut off from NATS).
    NoResponders,
    /// No answer in time, or NATS failed: nothing is known.
    Unknown,
}

/// How long a follower waits for the owner's stays under way.
const UNDER_WAY_WITHIN: Duration = Duration::from_secs(5);

impl Bus {
    /// Connects to the NATS server (and keeps reconnecting in the background). Messages the
    /// outbox had to drop are counted in `dropped`.
    pub async fn connect(
        url: &str,
        node: &str,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Result<Bus, async_nats::ConnectError> {
        let links = Arc::new(watch::channel(0u64).0);
        let notify = links.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("huddle {node}"))
            .event_callback(move |event| {
                let notify = notify.clone();
                async move {
                    if matches!(
                        event,
                        async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                    ) {
                        notify.send_modify(|n| *n += 1);
                    }
                }
            })
            .connect(url)
            .await?;
        let (queue, mut queued) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(OUTBOX);
        let outbox = Outbox { queue, dropped };
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some((subject, body)) = queued.recv().await {
                if let Err(e) = publisher.publish(subject, body.into()).await {
                    // Followers notice the gap at the next event and read it from the store.
                    debug!(error = %e, "could not publish an event");
                }
            }
        });
        Ok(Bus {
            client,
            node: node.to_owned(),
            outbox,
            links,
        })
    }

    /// Publishes an event of a stream this node owns to the nodes that follow it. Never waits.
    pub fn announce(&self, stream: RoomId, seq: u64, stored: bool, event: &Event) {
        // A start of thousands is read from the store rather than serialised to be dropped.
        let huge = matches!(event, Event::BreakoutStarted { assignments, .. } if assignments.len() > 4_000);
        let body = (!huge)
            .then(|| {
                serde_json::to_vec(&AnnouncedRef {
                    kind: "event",
                    owner: &self.node,
                    seq,
                    stored,
                    event: Some(event),
                })
                .ok()
            })
            .flatten()
            .filter(|b| b.len() <= LARGEST_EVENT)
            .or_else(|| {
                serde_json::to_vec(&AnnouncedRef {
                    kind: "event",
                    owner: &self.node,
                    seq,
                    stored,
                    event: None,
                })
                .ok()
            });
        if let Some(body) = body {
            self.outbox.send(events_subject(stream), body);
        }
    }

    /// Tells the owner of a room who connected here or left. Never waits; a report lost on the
    /// way is sent again when the owner changes.
    pub fn report(&self, owner: &str, presence: Presence) {
        self.to_owner(owner, &ToOwner::Presence(presence));
    }

    /// Relays a call request of a client here to the owner of its room. Never waits.
    pub fn relay_call(&self, owner: &str, call: RelayedCall) {
        self.to_owner(owner, &ToOwner::Call(call));
    }

    fn to_owner(&self, owner: &str, message: &ToOwner) {
        if let Ok(body) = serde_json::to_vec(message) {
            self.outbox.send(relay_subject(owner), body);
        }
    }

    /// A handle that publishes call frames for people connected to other nodes, in order with
    /// this node's events (the media server's).
    pub fn signal_relay(&self) -> SignalRelay {
        SignalRelay {
            outbox: self.outbox.clone(),
        }
    }

    /// Tells every node that `people` gained access to `stream`. Never waits.
    pub fn announce_access(&self, stream: RoomId, people: Vec<PersonId>) {
        let access = Access {
            stream,
            people,
            node: self.node.clone(),
        };
        if let Ok(body) = serde_json::to_vec(&access) {
            self.outbox.send(ACCESS_SUBJECT.to_owned(), body);
        }
    }

    /// Tells every node that a session, or every session of a person, ended. Never waits.
    pub fn announce_signed_out(&self, session: Option<String>, person: PersonId) {
        let ended = SignedOut {
            session,
            person,
            node: self.node.clone(),
        };
        if let Ok(body) = serde_json::to_vec(&ended) {
            self.outbox.send(SIGNED_OUT_SUBJECT.to_owned(), body);
        }
    }

    /// Starts receiving the events of a stream another node owns.
    pub async fn follow(&self, stream: RoomId) -> Result<OwnerFeed, async_nats::SubscribeError> {
        let subscriber = self.client.subscribe(events_subject(stream)).await?;
        // Registered with the server before the follower loads the stream: nothing falls between.
        // (Cut off from NATS, the subscription is made when the connection comes back; what was
        // missed meanwhile is read from the store at the next event.)
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.flush()).await;
        Ok(OwnerFeed { subscriber })
    }

    /// Asks `node` whether it is there, waiting at most `timeout`.
    pub async fn probe(&self, node: &str, timeout: Duration) -> Probe {
        let request = self.client.request(ping_subject(node), Vec::new().into());
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(_)) => Probe::Answered,
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                Probe::NoResponders
            }
            _ => Probe::Unknown,
        }
    }

    /// Changes each time the connection to NATS comes back (or NATS dropped messages for this
    /// node): what was published meanwhile may be missed.
    pub fn reconnected(&self) -> watch::Receiver<u64> {
        self.links.subscribe()
    }

    /// Whether the connection to NATS is up.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// Answers the commands other nodes forward to `node`, until `stop` fires.
    pub async fn serve(
        &self,
        node: &str,
        rooms: Arc<dyn Host>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), async_nats::SubscribeError> {
        let mut requests = self.client.subscribe(subject(node)).await?;
        let mut relayed = self.client.subscribe(relay_subject(node)).await?;
        let mut pings = self.client.subscribe(ping_subject(node)).await?;
        let mut under_way = self.client.subscribe(under_way_subject(node)).await?;
        let (stays_client, stays_rooms, mut stays_stop) =
            (self.client.clone(), rooms.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = under_way.next() => match m { Some(m) => m, None => return },
                    _ = stays_stop.changed() => return,
                };
                let Some(reply_to) = message.reply.clone() else {
                    continue;
                };
                let (rooms, client) = (stays_rooms.clone(), stays_client.clone());
                tokio::spawn(async move {
                    // `None`: not the owner here (any more); the asking node says unavailable.
                    let rows = match serde_json::from_slice::<RoomId>(&message.payload) {
                        Ok(stream) => rooms.under_way_here(stream).await.ok(),
                        Err(_) => None,
                    };
                    let body = serde_json::to_vec(&rows).unwrap_or_default();
                    let _ = client.publish(reply_to, body.into()).await;
                });
            }
        });
        let (ponger, mut ping_stop) = (self.client.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = pings.next() => match m { Some(m) => m, None => return },
                    _ = ping_stop.changed() => return,
                };
                if let Some(reply_to) = message.reply {
                    let _ = ponger.publish(reply_to, Vec::new().into()).await;
                }
            }
        });
        let mut access = self.client.subscribe(ACCESS_SUBJECT).await?;
        let (access_rooms, me) = (rooms.clone(), node.to_owned());
        let mut access_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = access.next() => match m { Some(m) => m, None => return },
                    _ = access_stop.changed() => return,
                };
                match serde_json::from_slice::<Access>(&message.payload) {
                    Ok(granted) if granted.node != me => {
                        access_rooms
                            .clone()
                            .attach_here(granted.stream, granted.people)
                            .await
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "an unreadable access announcement"),
                }
            }
        });
        let mut signed_out = self.client.subscribe(SIGNED_OUT_SUBJECT).await?;
        let (signed_out_rooms, me) = (rooms.clone(), node.to_owned());
        let mut signed_out_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = signed_out.next() => match m { Some(m) => m, None => return },
                    _ = signed_out_stop.changed() => return,
                };
                match serde_json::from_slice::<SignedOut>(&message.payload) {
                    Ok(ended) if ended.node != me => {
                        let connections = signed_out_rooms.connections();
                        match &ended.session {
                            Some(session) => connections.close_session(session),
                            None => connections.close_person(ended.person),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "an unreadable sign-out announcement"),
                }
            }
        });
        let relay_rooms = rooms.clone();
        let mut relay_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = relayed.next() => match m { Some(m) => m, None => return },
                    _ = relay_stop.changed() => return,
                };
                match serde_json::from_slice::<ToOwner>(&message.payload) {
                    Ok(ToOwner::Presence(presence)) => relay_rooms.clone().presence(presence).await,
                    Ok(ToOwner::Call(call)) => relay_rooms.clone().relayed_call(call).await,
                    Err(e) => warn!(error = %e, "an unreadable message from another node"),
                }
            }
        });
        // The subscription is registered with the server before the node's first heartbeat.
        let _ = self.client.flush().await;
        let client = self.client.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = requests.next() => match m { Some(m) => m, None => return },
                    _ = stop.changed() => return,
                };
                let Some(reply_to) = message.reply.clone() else {
                    continue;
                };
                let (rooms, client) = (rooms.clone(), client.clone());
                tokio::spawn(async move {
                    let reply = match serde_json::from_slice::<Request>(&message.payload) {
                        Ok(r) => match rooms
                            .command_here(r.stream, r.caller, r.command, r.id)
                            .await
                        {
                            Ok(committed) => Reply::Ok(committed),
                            Err(e) => Reply::Err(Refusal::from(e)),
                        },
                        Err(e) => {
                            warn!(error = %e, "an unreadable command from another node");
                            Reply::Err(Refusal::from(RoomError::Unavailable(Unavailable::NoAnswer)))
                        }
                    };
                    let body = serde_json::to_vec(&reply).unwrap_or_default();
                    if let Err(e) = client.publish(reply_to, body.into()).await {
                        debug!(error = %e, "could not answer a forwarded command");
                    }
                });
            }
        });
        Ok(())
    }

    /// Asks `node`, the owner of `stream`, for the session report's stays not in the store yet.
    pub async fn under_way(&self, node: &str, stream: RoomId) -> Result<Vec<StayRow>, RoomError> {
        if !self.is_connected() {
            return Err(RoomError::Unavailable(Unavailable::NoAnswer));
        }
        let body = serde_json::to_vec(&stream)
            .map_err(|_| RoomError::Unavailable(Unavailable::NoAnswer))?;
        let request = self.client.request(under_way_subject(node), body.into());
        match tokio::time::timeout(UNDER_WAY_WITHIN, request).await {
            Ok(Ok(message)) => serde_json::from_slice::<Option<Vec<StayRow>>>(&message.payload)
                .ok()
                .flatten()
                .ok_or(RoomError::Unavailable(Unavailable::NoAnswer)),
            _ => Err(RoomError::Unavailable(Unavailable::NoAnswer)),
        }
    }

    /// Sends a command to the node that owns its room and waits for the answer.
    pub async fn forward(
        &self,
        node: &str,
        stream: RoomId,
        caller: Caller,
        command: Command,
        id: CommandId,
        timeout: Duration,
    ) -> Forwarded {
        // Cut off from NATS, a request would wait in the client and reach the owner after this
        // node gave up on it.
        if !self.is_connected() {
            return Forwarded::Unreachable;
        }
        let body = match serde_json::to_vec(&Request {
            stream,
            caller,
            command,
            id,
        }) {
            Ok(body) => body,
            Err(_) => return Forwarded::Unreachable,
        };
        let request = self.client.request(subject(node), body.into());
        let message = match tokio::time::timeout(timeout, request).await {
            Ok(Ok(message)) => message,
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Forwarded::NoResponders;
            }
            Ok(Err(e)) => {
                warn!(error = %e, node, "forwarding a command failed");
                return Forwarded::Unreachable;
            }
            Err(_) => return Forwarded::Unreachable,
        };
        match serde_json::from_slice::<Reply>(&message.payload) {
            Ok(Reply::Ok(committed)) => Forwarded::Answered(Ok(committed)),
            Ok(Reply::Err(refusal)) => Forwarded::Answered(Err(RoomError::Refused(refusal))),
            Err(e) => {
                warn!(error = %e, node, "an unreadable answer from another node");
                Forwarded::Unreachable
            }
        }
    }
}
