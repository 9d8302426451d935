//! What the callers of the room actors send them and get back: the outcome of a command
//! ([`Committed`]), why one failed ([`RoomError`], and as an answer between nodes [`Refusal`],
//! which says what HTTP would answer), the id a command carries between nodes ([`CommandId`]), a
//! call request ([`CallRequest`]), and [`Commander`], the one operation the layers below the
//! rooms (recordings) need from them.
//!
//! It sits below `rooms`, `cluster` and `recording` so that each of them can use these types
//! without using the others.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::DomainError;
use crate::domain::room::{self, Caller, Command};
use crate::ids::{PersonId, RoomId};
use crate::store::StoreError;

/// Why a room operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The domain refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The room cannot answer now; why is said in the server's log (HTTP 503, "try again").
    #[error("the room is unavailable ({0})")]
    Unavailable(Unavailable),
    /// Another node of the cluster serves the room.
    #[error("the room is served by node {0}")]
    Elsewhere(String),
    /// The node that serves the room refused the command (cluster mode): its answer as is.
    #[error("{}", .0.message)]
    Refused(Refusal),
}

/// Why a room could not answer a request. Every 503 names one in the server's log, and
/// [`Unavailable::not_applied`] tells which ones are safe to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The request never reached an actor: the mailbox it was put in closed each time.
    #[error("not delivered")]
    NotDelivered,
    /// The request reached the actor, which stopped before answering: a command may or may not
    /// have been carried out.
    #[error("the actor stopped before answering")]
    ReplyLost,
    /// The room's actor could not load it from the store; nothing was applied.
    #[error("the room could not be loaded")]
    NotLoaded,
    /// The server is stopping.
    #[error("the server is stopping")]
    Stopping,
    /// Cluster: this node cannot reach the database, and serves no room.
    #[error("this node cannot reach the database")]
    NoDatabase,
    /// Cluster: this node's write was fenced (another node owns the room now).
    #[error("another node took the room over")]
    Fenced,
    /// Cluster: the command arrived after its sender had given up on it; not carried out.
    #[error("the command came too late")]
    Late,
    /// Cluster: another node asked this one as the room's owner, and it is not.
    #[error("this node does not own the room")]
    NotOwner,
    /// Cluster: the node asked did not answer, or answered something unreadable.
    #[error("no answer from the other node")]
    NoAnswer,
}

impl Unavailable {
    /// Nothing was carried out: the request may be sent again as is.
    pub fn not_applied(self) -> bool {
        matches!(self, Unavailable::NotDelivered | Unavailable::NotLoaded)
    }
}

/// A refusal as the node that owns a room answered it: status, code, message, field, details, as
/// that node would have answered over HTTP.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// Every problem, when there are many.
    pub details: Option<serde_json::Value>,
}

impl Refusal {
    fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            details: None,
        }
    }
}

impl From<DomainError> for Refusal {
    /// 422 for a field that breaks its rule, 403, 404 (the code is the thing's name in snake
    /// case: `breakout room` gives `breakout_room_not_found`), 409 with the rule's code.
    fn from(e: DomainError) -> Refusal {
        match e {
            DomainError::Invalid { field, message } => Refusal {
                field: Some(field.to_owned()),
                ..Refusal::new(422, "invalid_input", format!("{field}: {message}"))
            },
            DomainError::Forbidden(message) => Refusal::new(403, "forbidden", message),
            DomainError::NotFound(what) => Refusal::new(
                404,
                format!("{}_not_found", what.replace(' ', "_")),
                format!("{what} not found"),
            ),
            DomainError::Conflict { code, message } => Refusal::new(409, code, message),
        }
    }
}

impl From<StoreError> for Refusal {
    /// 409 for a conflict, 503 for a fenced write (another node owns the room now), otherwise 500:
    /// the detail is logged, not sent.
    fn from(e: StoreError) -> Refusal {
        match e {
            StoreError::Conflict("email") => Refusal {
                field: Some("email".to_owned()),
                ..Refusal::new(
                    409,
                    "email_taken",
                    "email: an account with this email exists",
                )
            },
            StoreError::Conflict("setup") => Refusal::new(
                409,
                "already_set_up",
                "an account exists already; sign in instead",
            ),
            StoreError::Conflict(what) => Refusal::new(
                409,
                "conflict",
                format!("{what} conflicts with existing data"),
            ),
            StoreError::Fenced => RoomError::Unavailable(Unavailable::Fenced).into(),
            other => {
                tracing::error!(error = %other, "internal error");
                Refusal::new(500, "internal", "internal server error")
            }
        }
    }
}

impl From<RoomError> for Refusal {
    /// What a node answers for a failed command: the HTTP answer it would give.
    fn from(e: RoomError) -> Refusal {
        match e {
            RoomError::Domain(d) => d.into(),
            RoomError::Store(s) => s.into(),
            RoomError::Unavailable(why) => {
                tracing::warn!(%why, "answered 503");
                Refusal::new(503, "unavailable", "the room is unavailable; try again")
            }
            RoomError::Elsewhere(node) => Refusal::new(
                503,
                "unavailable",
                format!(
                    "the room is served by node {node}, which this node could not reach; try again"
                ),
            ),
            RoomError::Refused(r) => r,
        }
    }
}

/// Commands on rooms, as the layers below the rooms (recordings) send them.
#[async_trait]
pub trait Commander: Send + Sync {
    /// Applies `command` to the main room `stream` as `caller`, wherever the room is served.
    async fn command(
        self: Arc<Self>,
        stream: RoomId,
        caller: Caller,
        command: Command,
    ) -> Result<Committed, RoomError>;
}

/// What a command did, once stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Committed {
    /// The stream's sequence number after the command.
    pub seq: u64,
    /// The events it produced (none for a no-op), with their sequence numbers.
    pub events: Vec<(u64, room::Event)>,
}

/// The id a command carries between nodes, so that a retry of it runs once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CommandId {
    /// Unique per command.
    pub id: String,
    /// Sent before: it may have been carried out already (perhaps by a node now gone).
    pub retry: bool,
    /// Not to be carried out after this instant (ms, the sender's clock): the sender has given
    /// up by then and answered that the room is unavailable. A request NATS held back while a
    /// node was cut off must not act after its client was told it failed.
    #[serde(default)]
    pub deadline: Option<i64>,
}

/// A call request from a client, checked by the room actor before the media server sees it. In a
/// cluster, a node that follows the room relays it to the owner, whose media server runs the call.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CallRequest {
    /// Join with an SDP offer, sending these sources from the start.
    Join {
        /// The offer.
        sdp: String,
        /// Microphone on.
        mic: bool,
        /// Camera on.
        camera: bool,
    },
    /// Restart ICE on the existing connection with a new offer of the same m-lines.
    Restart {
        /// The offer.
        sdp: String,
    },
    /// Leave the call.
    Leave,
    /// Turn sources on or off.
    Media {
        /// Microphone on.
        mic: bool,
        /// Camera on.
        camera: bool,
        /// Screen shared.
        screen: bool,
    },
    /// Mute someone's microphone (moderators).
    Mute {
        /// Whose.
        person_id: PersonId,
    },
    /// How large the client shows its video slots (mid, device pixels high).
    View {
        /// Each slot's mid and height.
        heights: Vec<(String, u32)>,
    },
    /// Keep someone's camera in view, or stop.
    Pin {
        /// Whom.
        person_id: Option<PersonId>,
    },
}
