//! What travels between the nodes on NATS: the subjects, and the bodies of the messages on them
//! (JSON). `bus` sends and receives them; this file is the wire format in one place.

use serde::{Deserialize, Serialize};

use crate::contract::{CallRequest, CommandId, Committed, Refusal};
use crate::domain::room::{Caller, Command, Event};
use crate::ids::{PersonId, RoomId};

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

/// What an owner publishes on `huddle.ev.<stream>`, in one order.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FromOwner {
    /// An event of the stream.
    Event(Announced),
    /// A call frame for people connected to the nodes that follow the stream.
    Signal(RelayedSignal),
}

/// A call frame from the media server that runs a room's call, for `person`'s connections on the
/// other nodes (for everyone who follows the stream there, without a person).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayedSignal {
    /// The node that has just taken the stream over and says so with this frame (the others'
    /// frames leave it out): followers relay their calls there from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_owner: Option<String>,
    /// Whose connections; `None`: every connection that follows the stream.
    pub person: Option<PersonId>,
    /// The JSON frame, as the media server wrote it.
    pub frame: String,
}

#[derive(Serialize)]
pub(super) struct AnnouncedRef<'a> {
    /// Always `"event"`: what [`FromOwner`] reads.
    pub(super) kind: &'static str,
    pub(super) owner: &'a str,
    pub(super) seq: u64,
    pub(super) stored: bool,
    pub(super) event: Option<&'a Event>,
}

pub(super) fn events_subject(stream: RoomId) -> String {
    format!("huddle.ev.{stream}")
}

#[derive(Serialize, Deserialize)]
pub(super) struct Request {
    pub(super) stream: RoomId,
    pub(super) caller: Caller,
    pub(super) command: Command,
    pub(super) id: CommandId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Reply {
    Ok(Committed),
    Err(Refusal),
}

pub(super) fn subject(node: &str) -> String {
    format!("huddle.node.{node}.cmd")
}

/// Where owners say who gained access to a stream, for every node to subscribe those people's
/// connections there.
pub(super) const ACCESS_SUBJECT: &str = "huddle.access";

/// People who gained access to a stream (a new room, new members), from its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Access {
    /// The main room.
    pub stream: RoomId,
    /// Who.
    pub people: Vec<PersonId>,
    /// The node that says so (it attached its own connections already).
    pub node: String,
}

/// Where a node says that sessions ended, for every node to close their connections.
pub(super) const SIGNED_OUT_SUBJECT: &str = "huddle.signed_out";

/// Sessions that ended on one node: one (signed out) or all of a person's (a new password).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedOut {
    /// The session's token hash, or `None` for every session of `person`.
    pub session: Option<String>,
    /// Whose.
    pub person: PersonId,
    /// The node that says so (it closed its own connections already).
    pub node: String,
}

pub(super) fn ping_subject(node: &str) -> String {
    format!("huddle.node.{node}.ping")
}

pub(super) fn relay_subject(node: &str) -> String {
    format!("huddle.node.{node}.relay")
}

/// Where a node is asked for the session report's stays under way of the rooms it owns.
pub(super) fn under_way_subject(node: &str) -> String {
    format!("huddle.node.{node}.stays")
}

/// What a node that follows a room tells its owner, on `huddle.node.<owner>.relay`: one subject,
/// handled in the order sent (someone connects, then joins the call).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToOwner {
    /// Someone connected to that node, or left it.
    Presence(Presence),
    /// A call request of someone connected to that node.
    Call(RelayedCall),
}

/// A client's call request, relayed by the node it is connected to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayedCall {
    /// The main room.
    pub stream: RoomId,
    /// Who asks.
    pub person: PersonId,
    /// What.
    pub request: CallRequest,
}

/// A node telling a room's owner that someone connected there (their first connection to the
/// room on that node) or left (their last).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// The main room.
    pub stream: RoomId,
    /// The node the person is connected to.
    pub node: String,
    /// Who.
    pub person: PersonId,
    /// Their display name.
    pub name: String,
    /// Connected, or left.
    pub connected: bool,
}
