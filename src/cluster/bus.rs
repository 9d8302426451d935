//! NATS between the nodes of a cluster: a command that arrives on a node which does not own its
//! room goes to the node that does, by request and reply; the owner's events go to every node
//! that follows the room (`huddle.ev.<stream>`, core NATS, in order; PostgreSQL is the log).
//!
//! Each node answers requests on `huddle.node.<NODE>.cmd` (one subscription per node, taken
//! before the node's first heartbeat, so a node the others can see also answers). The request
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
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::domain::room::{Caller, Command, Event};
use crate::ids::RoomId;
use crate::rooms::{CommandId, Committed, Refusal, RoomError, Rooms};

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
    outbox: tokio::sync::mpsc::UnboundedSender<(String, Vec<u8>)>,
}

/// One event of a stream as its owner publishes it to the other nodes, on `huddle.ev.<stream>`.
#[derive(Serialize, Deserialize)]
pub struct Announced {
    /// The node that owns the stream and announced this.
    pub owner: String,
    /// Its seq (for an event that is not stored, the seq it follows).
    pub seq: u64,
    /// Stored (a command's or a timer's event), or not (who connected or left).
    pub stored: bool,
    /// The event; `None` when it is too large for a NATS message (a start of many thousands):
    /// followers then read it from the store.
    pub event: Option<Event>,
}

#[derive(Serialize)]
struct AnnouncedRef<'a> {
    owner: &'a str,
    seq: u64,
    stored: bool,
    event: Option<&'a Event>,
}

/// Events larger than this go by the store, not by NATS (whose messages are 1 MB at most).
const LARGEST_EVENT: usize = 512 * 1024;

/// The events of one stream arriving from its owner.
pub struct Feed {
    subscriber: async_nats::Subscriber,
}

impl Feed {
    /// The next event; `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Announced> {
        loop {
            let message = self.subscriber.next().await?;
            match serde_json::from_slice(&message.payload) {
                Ok(announced) => return Some(announced),
                Err(e) => warn!(error = %e, "an unreadable event from the owner"),
            }
        }
    }
}

fn events_subject(stream: RoomId) -> String {
    format!("huddle.ev.{stream}")
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

#[derive(Serialize, Deserialize)]
struct Request {
    stream: RoomId,
    caller: Caller,
    command: Command,
    id: CommandId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Committed),
    Err(Refusal),
}

fn subject(node: &str) -> String {
    format!("huddle.node.{node}.cmd")
}

/// Where owners say who gained access to a stream, for every node to subscribe those people's
/// connections there.
const ACCESS_SUBJECT: &str = "huddle.access";

/// People who gained access to a stream (a new room, new members), from its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Access {
    /// The main room.
    pub stream: RoomId,
    /// Who.
    pub people: Vec<crate::ids::PersonId>,
    /// The node that says so (it attached its own connections already).
    pub node: String,
}

fn presence_subject(node: &str) -> String {
    format!("huddle.node.{node}.presence")
}

/// A node telling a room's owner that someone connected there (their first connection to the
/// room on that node) or left (their last), on `huddle.node.<owner>.presence`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// The main room.
    pub stream: RoomId,
    /// The node the person is connected to.
    pub node: String,
    /// Who.
    pub person: crate::ids::PersonId,
    /// Their display name.
    pub name: String,
    /// Connected, or left.
    pub connected: bool,
}

impl Bus {
    /// Connects to the NATS server (and keeps reconnecting in the background).
    pub async fn connect(url: &str, node: &str) -> Result<Bus, async_nats::ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("huddle {node}"))
            .connect(url)
            .await?;
        let (outbox, mut queued) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
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
        })
    }

    /// Publishes an event of a stream this node owns to the nodes that follow it. Never waits.
    pub fn announce(&self, stream: RoomId, seq: u64, stored: bool, event: &Event) {
        // A start of thousands is read from the store rather than serialised to be dropped.
        let huge = matches!(event, Event::BreakoutStarted { assignments, .. } if assignments.len() > 4_000);
        let body = (!huge)
            .then(|| {
                serde_json::to_vec(&AnnouncedRef {
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
                    owner: &self.node,
                    seq,
                    stored,
                    event: None,
                })
                .ok()
            });
        if let Some(body) = body {
            let _ = self.outbox.send((events_subject(stream), body));
        }
    }

    /// Tells the owner of a room who connected here or left. Never waits; a report lost on the
    /// way is sent again when the owner changes.
    pub fn report(&self, owner: &str, presence: &Presence) {
        if let Ok(body) = serde_json::to_vec(presence) {
            let _ = self.outbox.send((presence_subject(owner), body));
        }
    }

    /// Tells every node that `people` gained access to `stream`. Never waits.
    pub fn announce_access(&self, stream: RoomId, people: Vec<crate::ids::PersonId>) {
        let access = Access {
            stream,
            people,
            node: self.node.clone(),
        };
        if let Ok(body) = serde_json::to_vec(&access) {
            let _ = self.outbox.send((ACCESS_SUBJECT.to_owned(), body));
        }
    }

    /// Starts receiving the events of a stream another node owns.
    pub async fn follow(&self, stream: RoomId) -> Result<Feed, async_nats::SubscribeError> {
        let subscriber = self.client.subscribe(events_subject(stream)).await?;
        // Registered with the server before the follower loads the stream: nothing falls between.
        let _ = self.client.flush().await;
        Ok(Feed { subscriber })
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
        rooms: Arc<Rooms>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), async_nats::SubscribeError> {
        let mut requests = self.client.subscribe(subject(node)).await?;
        let mut reports = self.client.subscribe(presence_subject(node)).await?;
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
                            .attach_here(granted.stream, &granted.people)
                            .await
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "an unreadable access announcement"),
                }
            }
        });
        let presence_rooms = rooms.clone();
        let mut presence_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = reports.next() => match m { Some(m) => m, None => return },
                    _ = presence_stop.changed() => return,
                };
                match serde_json::from_slice::<Presence>(&message.payload) {
                    Ok(presence) => presence_rooms.presence(presence).await,
                    Err(e) => warn!(error = %e, "an unreadable presence report"),
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
                            .command_here(r.stream, r.caller, r.command, Some(r.id))
                            .await
                        {
                            Ok(committed) => Reply::Ok(committed),
                            Err(e) => Reply::Err(Refusal::from(e)),
                        },
                        Err(e) => {
                            warn!(error = %e, "an unreadable command from another node");
                            Reply::Err(Refusal::from(RoomError::Unavailable))
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
