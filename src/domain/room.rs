//! A main room and its breakout rooms as one state machine.
//!
//! One [`RoomState`] covers a main room, its breakout rooms (one level only) and every direct
//! member of each. [`apply`] checks a [`Command`] against the rules and returns the [`Event`]s that
//! follow; [`RoomState::fold`] applies an event. Nothing here touches a clock or a database: time
//! and fresh ids come in through [`Ctx`].
//!
//! Visibility rule: a person sees a room if they are a direct member of it, or if it is a breakout
//! room and they own or moderate its main room. Anyone who may not see a room is told it does not
//! exist, so room ids cannot be probed.
//!
//! Here: the state, its types and its reads. `apply`: what a command does; `fold`: an event folded
//! in; `audience`: who an event reaches.

mod apply;
mod audience;
mod fold;

pub use apply::apply;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::breakout::{self, Session};
use super::content::{ContentCommand, ContentItem};
pub use super::event::Event;
use super::invitation::{Invitation, InvitationCommand};
use super::meeting::{Meeting, MeetingCommand};
use super::recording::{Recording, RecordingCommand};
use crate::ids::{ContentId, InvitationId, MeetingId, MessageId, PersonId, RoomId};

/// A member's role in one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control, including deleting the room and naming other owners.
    Owner,
    /// Co-moderator: manages members (but not owners) and runs breakout sessions.
    Moderator,
    /// Takes part.
    Participant,
}

impl Role {
    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Moderator => "moderator",
            Role::Participant => "participant",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "moderator" => Some(Role::Moderator),
            "participant" => Some(Role::Participant),
            _ => None,
        }
    }

    /// Owners and moderators manage a room.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Moderator)
    }
}

/// A room as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomInfo {
    /// The room's id.
    pub id: RoomId,
    /// The main room, for a breakout room; absent for a main room.
    pub parent_id: Option<RoomId>,
    /// The room's own name.
    pub name: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A member as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Who.
    pub person_id: PersonId,
    /// Their display name.
    pub display_name: String,
    /// Their role in this room.
    pub role: Role,
}

/// Whether a chat message was written by a person or by Huddle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by a person.
    User,
    /// Written by Huddle: someone joined, a role changed…
    System,
    /// A moderator's message to breakout rooms (a broadcast, or a message to one room).
    Broadcast,
}

impl MessageKind {
    /// The kind's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::User => "user",
            MessageKind::System => "system",
            MessageKind::Broadcast => "broadcast",
        }
    }
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The room it was posted in.
    pub room_id: RoomId,
    /// The author; absent for system messages.
    pub author_id: Option<PersonId>,
    /// The author's display name when they wrote it.
    pub author_name: Option<String>,
    /// `user` or `system`.
    pub kind: MessageKind,
    /// The text (plain text, never HTML).
    pub text: String,
    /// Posting time, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Who is asking.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Caller {
    /// The person.
    pub person_id: PersonId,
    /// Their display name, for messages they write.
    pub display_name: String,
}

/// What the outside world passes in: the time, randomness (for ids and automatic assignment) and
/// the limits the administrator set. Everything a command decides follows from these and the state.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Now, milliseconds since the Unix epoch.
    pub now: i64,
    /// Fresh randomness for this command.
    pub seed: u64,
    /// Most breakout rooms one main room may have.
    pub max_breakout_rooms: usize,
    /// The administrator allows external guests in main rooms with breakout rooms enabled.
    pub guests_with_breakouts: bool,
    /// How long an invitation link works, in milliseconds.
    pub invitation_ttl_ms: i64,
    /// Most recordings under way at once in the main room and its breakout rooms.
    pub max_recordings: usize,
}

impl Ctx {
    /// A context at `now` with `seed` and the default limits and policies.
    pub fn new(now: i64, seed: u64) -> Ctx {
        Ctx {
            now,
            seed,
            max_breakout_rooms: 300,
            guests_with_breakouts: false,
            invitation_ttl_ms: 14 * 86_400_000,
            max_recordings: 10,
        }
    }
}

impl Ctx {
    /// The `n`th fresh UUIDv7 of this command: time-ordered, unique given a random seed.
    pub fn uuid(&self, n: u16) -> uuid::Uuid {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.seed.to_le_bytes());
        random[8..].copy_from_slice(&n.to_le_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.now.max(0) as u64, &random).into_uuid()
    }

    /// The `n`th fresh message id.
    pub fn message_id(&self, n: u16) -> MessageId {
        MessageId(self.uuid(n))
    }
}

/// Something a person asks to do to a main room or one of its breakout rooms.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// Give a room a new name.
    Rename {
        /// Which room.
        room: RoomId,
        /// Already validated.
        name: String,
    },
    /// Make a person a member.
    AddMember {
        /// Which room.
        room: RoomId,
        /// The person to add.
        person_id: PersonId,
        /// Their display name.
        display_name: String,
        /// Their role.
        role: Role,
    },
    /// Make many people members at once, all with one role.
    AddMembers {
        /// Which room.
        room: RoomId,
        /// The people to add, with their display names.
        people: Vec<(PersonId, String)>,
        /// Their role.
        role: Role,
    },
    /// Change a member's role.
    ChangeRole {
        /// Which room.
        room: RoomId,
        /// Whose role.
        person_id: PersonId,
        /// The new role.
        role: Role,
    },
    /// Remove a member (or leave, when the caller removes themselves).
    RemoveMember {
        /// Which room.
        room: RoomId,
        /// Who goes.
        person_id: PersonId,
    },
    /// Post a chat message.
    PostMessage {
        /// Which room.
        room: RoomId,
        /// Already validated.
        text: String,
    },
    /// Delete the main room with its breakout rooms and everything they hold.
    DeleteRoom,
    /// A breakout-session command.
    Breakout(breakout::BreakoutCommand),
    /// A command about breakout rooms' tasks and results.
    Activity(super::activity::ActivityCommand),
    /// A content command.
    Content(ContentCommand),
    /// An invitation command.
    Invitation(InvitationCommand),
    /// A meeting command.
    Meeting(MeetingCommand),
    /// A recording command.
    Recording(RecordingCommand),
}

/// A main room, its breakout rooms and their members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    /// The main room.
    pub main: RoomInfo,
    /// Its breakout rooms, by id.
    pub breakouts: BTreeMap<RoomId, RoomInfo>,
    /// Direct members of each room (main and breakout), by room.
    pub members: HashMap<RoomId, HashMap<PersonId, Member>>,
    /// The breakout session.
    pub breakout: Session,
    /// Where each connected person is now (main room or a breakout room). Only connected people
    /// have a location; it lives in memory and is rebuilt from connections after a restart.
    pub locations: HashMap<PersonId, RoomId>,
    /// Content items of every room here, by id.
    pub content: BTreeMap<ContentId, ContentItem>,
    /// Pending invitations to any room here, by id.
    pub invitations: BTreeMap<InvitationId, Invitation>,
    /// Scheduled meetings of every room here, by id.
    pub meetings: BTreeMap<MeetingId, Meeting>,
    /// Recordings in progress, by recorded room.
    pub recordings: BTreeMap<RoomId, Recording>,
    /// Breakout rooms' tasks and results, by breakout room.
    pub activities: BTreeMap<RoomId, super::activity::Activity>,
    /// Since when each connected person is where they are, for the session report. Kept by the
    /// room's actor after each event, not by `fold` (it needs the time); in memory only, like
    /// the locations it follows.
    pub stays: super::report::Stays,
}

/// Someone an event may be delivered to: see [`RoomState::recipient`].
#[derive(Clone, Copy, Debug)]
pub struct Recipient {
    /// The person.
    pub person: PersonId,
    /// Their role in the main room, if they are a member of it.
    pub main_role: Option<Role>,
}

impl Recipient {
    /// Whether they own or moderate the main room.
    pub fn manages(self) -> bool {
        self.main_role.is_some_and(Role::manages)
    }
}

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Whoever may see this room.
    Room(RoomId),
    /// Whoever may see this room, and this person (told of their own removal).
    RoomAnd(RoomId, PersonId),
    /// Everyone with anything to see in the stream.
    Stream,
    /// Where this person is or goes: the person, owners and moderators of the main room, main-room
    /// members with the dashboard open, and breakout-only members with the dashboard open who may
    /// see a room the person was or is placed in (their own room's comings and goings, no more).
    Place(PersonId),
    /// A help request: owners and moderators of the main room, and the person who asked.
    Asker(PersonId),
    /// Whoever may see any of these rooms.
    Rooms(Vec<RoomId>),
    /// Main-room members (who may know of every breakout room), and whoever may see any of these
    /// breakout rooms: the same rule as the REST views. What such an event lists is cut to the
    /// rooms each recipient may see (`rooms::wire`).
    Known(Vec<RoomId>),
    /// Owners and moderators of this room (for a breakout room, also of the main room).
    Moderators(RoomId),
    /// Owners and moderators of the main room and clients that opened the dashboard.
    Watchers,
}

impl RoomState {
    /// A new main room with its first owner, and the events that say so.
    pub fn create(ctx: Ctx, id: RoomId, name: String, owner: &Caller) -> (RoomState, Vec<Event>) {
        let info = RoomInfo {
            id,
            parent_id: None,
            name,
            created_at: ctx.now,
        };
        let mut state = RoomState {
            main: info.clone(),
            breakouts: BTreeMap::new(),
            members: HashMap::new(),
            breakout: Session::default(),
            locations: HashMap::new(),
            content: BTreeMap::new(),
            invitations: BTreeMap::new(),
            meetings: BTreeMap::new(),
            recordings: BTreeMap::new(),
            activities: BTreeMap::new(),
            stays: Default::default(),
        };
        let events = vec![
            Event::RoomCreated { room: id, info },
            Event::MemberAdded {
                room: id,
                member: Member {
                    person_id: owner.person_id,
                    display_name: owner.display_name.clone(),
                    role: Role::Owner,
                },
            },
        ];
        for event in &events {
            state.fold(event);
        }
        (state, events)
    }

    /// The main room's id, which is also the id of the event stream.
    pub fn id(&self) -> RoomId {
        self.main.id
    }

    /// The room with this id, if it belongs here.
    pub fn room(&self, room: RoomId) -> Option<&RoomInfo> {
        if room == self.main.id {
            Some(&self.main)
        } else {
            self.breakouts.get(&room)
        }
    }

    /// The title clients show: `Main : Breakout` for a breakout room, the name for a main room.
    pub fn title(&self, room: RoomId) -> Option<String> {
        let info = self.room(room)?;
        Some(match info.parent_id {
            Some(_) => format!("{} : {}", self.main.name, info.name),
            None => info.name.clone(),
        })
    }

    /// A person's direct role in a room.
    pub fn role(&self, room: RoomId, person: PersonId) -> Option<Role> {
        self.members.get(&room)?.get(&person).map(|m| m.role)
    }

    /// The role that decides what a person may do in a room: their direct role, or for a breakout
    /// room the main room's owner/moderator role when that is stronger, or `participant` for
    /// whoever is assigned to it or is in it.
    pub fn effective_role(&self, room: RoomId, person: PersonId) -> Option<Role> {
        let direct = self.role(room, person);
        if room == self.main.id {
            return direct;
        }
        match (self.role(self.main.id, person), direct) {
            (_, Some(Role::Owner)) => Some(Role::Owner),
            (Some(main), _) if main.manages() => Some(Role::Moderator),
            (_, Some(direct)) => Some(direct),
            // Whoever is assigned to a breakout room, or is in it now, takes part in it.
            _ if self.breakout.assignments.get(&person) == Some(&room)
                || self.locations.get(&person) == Some(&room) =>
            {
                Some(Role::Participant)
            }
            _ => None,
        }
    }

    /// Whether a person may see a room (see the module docs): for a breakout room, also whoever is
    /// assigned to it or is in it now.
    pub fn can_see(&self, room: RoomId, person: PersonId) -> bool {
        self.room(room).is_some() && self.effective_role(room, person).is_some()
    }

    /// Whether a person has anything in this stream they may see.
    pub fn has_access(&self, person: PersonId) -> bool {
        self.reaches(self.recipient(person))
    }

    /// Number of direct owners of a room.
    fn owners(&self, room: RoomId) -> usize {
        self.members
            .get(&room)
            .map_or(0, |m| m.values().filter(|m| m.role == Role::Owner).count())
    }

    /// A person's display name, from any of their memberships here.
    pub fn display_name(&self, person: PersonId) -> Option<&str> {
        self.members
            .values()
            .find_map(|m| m.get(&person))
            .map(|m| m.display_name.as_str())
    }

    /// Whether a person owns or moderates the main room.
    pub fn manages(&self, person: PersonId) -> bool {
        self.role(self.main.id, person).is_some_and(Role::manages)
    }
}

#[cfg(test)]
mod tests;
