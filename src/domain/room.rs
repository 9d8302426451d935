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

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::breakout::{self, Session};
use super::content::{self, ContentCommand, ContentItem};
pub use super::event::Event;
use super::invitation::{self, Invitation, InvitationCommand};
use super::meeting::{self, Meeting, MeetingCommand};
use super::recording::{self, Recording, RecordingCommand};
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

    /// Applies one event. Events come from [`apply`] or from the store, so they are trusted.
    pub fn fold(&mut self, event: &Event) {
        match event {
            Event::RoomCreated { room, info } => {
                if info.parent_id.is_some() {
                    self.breakouts.insert(*room, info.clone());
                } else {
                    self.main = info.clone();
                }
            }
            Event::RoomRenamed { room, name } => {
                if *room == self.main.id {
                    self.main.name.clone_from(name);
                } else if let Some(info) = self.breakouts.get_mut(room) {
                    info.name.clone_from(name);
                }
            }
            Event::RoomDeleted { .. } => {
                self.breakouts.clear();
                self.members.clear();
                self.locations.clear();
                self.content.clear();
                self.invitations.clear();
                self.meetings.clear();
                self.recordings.clear();
            }
            Event::MemberAdded { room, member } => {
                self.members
                    .entry(*room)
                    .or_default()
                    .insert(member.person_id, member.clone());
            }
            Event::MembersAdded { room, members } => {
                let room = self.members.entry(*room).or_default();
                for member in members {
                    room.insert(member.person_id, member.clone());
                }
            }
            Event::RoleChanged {
                room,
                person_id,
                role,
            } => {
                if let Some(m) = self
                    .members
                    .get_mut(room)
                    .and_then(|m| m.get_mut(person_id))
                {
                    m.role = *role;
                }
            }
            Event::MemberRemoved { room, person_id } => {
                if let Some(members) = self.members.get_mut(room) {
                    members.remove(person_id);
                }
            }
            Event::MessagePosted { .. } => {}
            // Listed one by one (no catch-all), so a new event cannot be silently ignored here.
            Event::BreakoutConfigured { .. }
            | Event::BreakoutRoomsCreated { .. }
            | Event::Assigned { .. }
            | Event::AssignmentsImported { .. }
            | Event::AssignmentsReset { .. }
            | Event::BreakoutStarted { .. }
            | Event::BreakoutClosing { .. }
            | Event::BreakoutStopped { .. }
            | Event::RoomsBroughtBack { .. }
            | Event::Broadcast { .. }
            | Event::Located { .. }
            | Event::Connected { .. }
            | Event::Disconnected { .. }
            | Event::HelpRequested { .. }
            | Event::HelpAnswered { .. }
            | Event::ScheduleChanged { .. } => breakout::fold(self, event),
            Event::ContentAdded { .. }
            | Event::ContentDeleted { .. }
            | Event::ContentShared { .. } => content::fold(self, event),
            Event::InvitationsCreated { .. } | Event::InvitationClosed { .. } => {
                invitation::fold(self, event)
            }
            Event::MeetingScheduled { .. } | Event::MeetingCancelled { .. } => {
                meeting::fold(self, event)
            }
            Event::RecordingStarted { .. } | Event::RecordingStopped { .. } => {
                recording::fold(self, event)
            }
            Event::ActivitySet { .. } => super::activity::fold(self, event),
            // What was in deleted breakout rooms goes with them.
            Event::BreakoutRoomsDeleted { .. } => {
                recording::fold(self, event);
                content::fold(self, event);
                invitation::fold(self, event);
                meeting::fold(self, event);
                super::activity::fold(self, event);
                breakout::fold(self, event);
            }
        }
        if let Event::MemberRemoved { room, person_id } = event {
            // Leaving the main room ends the assignment (the store does the same); leaving
            // everything ends the location too.
            if *room == self.main.id {
                self.breakout.assignments.remove(person_id);
                // Still a member of a breakout room: they go there, not to the main room.
                if self.locations.get(person_id) == Some(&self.main.id) {
                    match breakout::home(self, *person_id) {
                        Some(home) => self.locations.insert(*person_id, home),
                        None => self.locations.remove(person_id),
                    };
                }
            }
            if !self.has_access(*person_id) {
                self.locations.remove(person_id);
            }
        }
    }

    /// Who an event is for.
    pub fn audience(&self, event: &Event) -> Audience {
        match event {
            Event::MemberRemoved { room, person_id } => Audience::RoomAnd(*room, *person_id),
            Event::RoomCreated { room, .. }
            | Event::MemberAdded { room, .. }
            | Event::MembersAdded { room, .. }
            | Event::RoleChanged { room, .. }
            | Event::MessagePosted { room, .. } => Audience::Room(*room),
            Event::Assigned { person_id, .. }
            | Event::Located { person_id, .. }
            | Event::Connected { person_id, .. }
            | Event::Disconnected { person_id, .. } => Audience::Place(*person_id),
            Event::HelpAnswered { person_id, .. } => Audience::Asker(*person_id),
            Event::HelpRequested { request, .. } => Audience::Asker(request.person_id),
            Event::ContentAdded { room, .. }
            | Event::MeetingScheduled { room, .. }
            | Event::MeetingCancelled { room, .. }
            | Event::RecordingStarted { room, .. }
            | Event::RecordingStopped { room, .. } => Audience::Room(*room),
            Event::ContentDeleted {
                room, shared_with, ..
            } => Audience::Rooms(
                std::iter::once(*room)
                    .chain(shared_with.iter().copied())
                    .collect(),
            ),
            Event::ContentShared {
                room,
                rooms,
                previous,
                ..
            } => Audience::Rooms(
                std::iter::once(*room)
                    .chain(rooms.iter().copied())
                    .chain(previous.iter().copied())
                    .collect(),
            ),
            Event::InvitationsCreated { room, invitations } => {
                Audience::Moderators(invitations.first().map_or(*room, |i| i.room_id))
            }
            Event::InvitationClosed { target, .. } => Audience::Moderators(*target),
            Event::AssignmentsImported { .. } => Audience::Watchers,
            Event::RoomRenamed { room, .. } if *room != self.main.id => {
                Audience::Known(vec![*room])
            }
            Event::BreakoutRoomsCreated { rooms, .. } => {
                Audience::Known(rooms.iter().map(|r| r.id).collect())
            }
            Event::BreakoutRoomsDeleted { rooms, .. } | Event::RoomsBroughtBack { rooms, .. } => {
                Audience::Known(rooms.clone())
            }
            Event::RoomDeleted { .. }
            | Event::RoomRenamed { .. }
            | Event::BreakoutConfigured { .. }
            | Event::AssignmentsReset { .. }
            | Event::BreakoutStarted { .. }
            | Event::BreakoutClosing { .. }
            | Event::BreakoutStopped { .. }
            | Event::Broadcast { .. } => Audience::Stream,
            // Its rotation names who is kept apart and each person's class or team.
            Event::ScheduleChanged { room, .. } => Audience::Moderators(*room),
            // A task is the room's to see while a round runs; before, it is being prepared.
            Event::ActivitySet { breakout, .. } if self.breakout.is_live() => {
                Audience::Room(*breakout)
            }
            Event::ActivitySet { breakout, .. } => Audience::Moderators(*breakout),
        }
    }

    /// Where the person an event is about is placed now (their breakout assignment and their
    /// location); taken before the event is folded, it is the `was` of `should_receive`.
    pub fn places(&self, event: &Event) -> Vec<RoomId> {
        match event {
            Event::Assigned { person_id, .. }
            | Event::Located { person_id, .. }
            | Event::Connected { person_id, .. }
            | Event::Disconnected { person_id, .. } => self.places_of(*person_id).collect(),
            _ => Vec::new(),
        }
    }

    fn places_of(&self, person: PersonId) -> impl Iterator<Item = RoomId> + '_ {
        self.breakout
            .assignments
            .get(&person)
            .into_iter()
            .chain(self.locations.get(&person))
            .copied()
    }

    /// Whether `person` (who has the dashboard open or not) should receive `event`, judged on the
    /// state *after* the event was folded; `was` is where the event's person was placed before it
    /// (`places`), so that a breakout-only member also hears who left their room.
    pub fn should_receive(
        &self,
        event: &Event,
        person: PersonId,
        dashboard: bool,
        was: &[RoomId],
    ) -> bool {
        self.receives(
            &self.audience(event),
            event,
            self.recipient(person),
            dashboard,
            was,
        )
    }

    /// A person as the recipient of events: their main-room role, looked up once for all the
    /// checks of one event (the fan-out makes them for every subscriber).
    pub fn recipient(&self, person: PersonId) -> Recipient {
        Recipient {
            person,
            main_role: self.role(self.main.id, person),
        }
    }

    /// [`RoomState::has_access`] for a recipient whose main-room role is known. Most people are
    /// members of the main room: that is looked at before every breakout room.
    fn reaches(&self, to: Recipient) -> bool {
        to.main_role.is_some()
            || self
                .members
                .values()
                .any(|members| members.contains_key(&to.person))
    }

    /// [`RoomState::should_receive`] with the event's audience worked out once, for a fan-out to
    /// every subscriber.
    pub fn receives(
        &self,
        audience: &Audience,
        event: &Event,
        to: Recipient,
        dashboard: bool,
        was: &[RoomId],
    ) -> bool {
        let person = to.person;
        match *audience {
            Audience::Room(room) => self.can_see(room, person),
            Audience::RoomAnd(room, p) => p == person || self.can_see(room, person),
            Audience::Stream => matches!(event, Event::RoomDeleted { .. }) || self.reaches(to),
            Audience::Place(p) => {
                p == person
                    || to.manages()
                    || (dashboard
                        && (to.main_role.is_some()
                            || self
                                .places_of(p)
                                .chain(was.iter().copied())
                                .any(|room| self.can_see(room, person))))
            }
            Audience::Asker(p) => p == person || to.manages(),
            Audience::Rooms(ref rooms) => rooms.iter().any(|r| self.can_see(*r, person)),
            Audience::Known(ref rooms) => {
                to.main_role.is_some() || rooms.iter().any(|r| self.can_see(*r, person))
            }
            Audience::Moderators(room) => {
                self.effective_role(room, person).is_some_and(Role::manages)
            }
            Audience::Watchers => (self.reaches(to) && dashboard) || to.manages(),
        }
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

/// Decides what a command does. Refused commands return an error and change nothing; the caller
/// folds the returned events into the state after storing them.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: Command,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let me = caller.person_id;
    let system = |room: RoomId, text: String| Event::MessagePosted {
        room,
        message: Message {
            id: ctx.message_id(0),
            room_id: room,
            author_id: None,
            author_name: None,
            kind: MessageKind::System,
            text,
            created_at: ctx.now,
        },
    };
    match command {
        Command::Rename { room, name } => {
            let role = visible_role(state, room, me)?;
            if !role.manages() {
                return Err(DomainError::Forbidden(
                    "only owners and moderators may rename a room",
                ));
            }
            if state.room(room).is_some_and(|r| r.name == name) {
                return Ok(vec![]);
            }
            let text = format!("{} renamed the room to {}", caller.display_name, name);
            Ok(vec![Event::RoomRenamed { room, name }, system(room, text)])
        }
        Command::AddMember {
            room,
            person_id,
            display_name,
            role,
        } => {
            may_add(state, room, me, role)?;
            not_yet_member(state, room, person_id, &display_name)?;
            let text = format!("{display_name} joined as {}", role.as_str());
            Ok(vec![
                Event::MemberAdded {
                    room,
                    member: Member {
                        person_id,
                        display_name,
                        role,
                    },
                },
                system(room, text),
            ])
        }
        Command::AddMembers { room, people, role } => {
            may_add(state, room, me, role)?;
            let mut seen = std::collections::HashSet::new();
            let mut members = Vec::with_capacity(people.len());
            for (person_id, display_name) in people {
                not_yet_member(state, room, person_id, &display_name)?;
                if seen.insert(person_id) {
                    members.push(Member {
                        person_id,
                        display_name,
                        role,
                    });
                }
            }
            if members.is_empty() {
                return Err(DomainError::invalid(
                    "person_ids",
                    "name at least one person",
                ));
            }
            let text = format!("{} people joined as {}", members.len(), role.as_str());
            Ok(vec![
                Event::MembersAdded { room, members },
                system(room, text),
            ])
        }
        Command::ChangeRole {
            room,
            person_id,
            role,
        } => {
            let my_role = visible_role(state, room, me)?;
            if !my_role.manages() {
                return Err(DomainError::Forbidden(
                    "only owners and moderators may change roles",
                ));
            }
            let member = member(state, room, person_id)?;
            if member.role == role {
                return Ok(vec![]);
            }
            if (role == Role::Owner || member.role == Role::Owner) && my_role != Role::Owner {
                return Err(DomainError::Forbidden(
                    "only owners may grant or take the owner role",
                ));
            }
            if member.role == Role::Owner && state.owners(room) == 1 {
                return Err(DomainError::conflict(
                    "last_owner",
                    "the room's last owner cannot give up the owner role; make someone else owner first",
                ));
            }
            let text = format!("{} is now {}", member.display_name, role.as_str());
            Ok(vec![
                Event::RoleChanged {
                    room,
                    person_id,
                    role,
                },
                system(room, text),
            ])
        }
        Command::RemoveMember { room, person_id } => {
            let my_role = visible_role(state, room, me)?;
            let member = member(state, room, person_id)?;
            if person_id != me {
                if !my_role.manages() {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators may remove other members",
                    ));
                }
                if member.role == Role::Owner && my_role != Role::Owner {
                    return Err(DomainError::Forbidden("only owners may remove an owner"));
                }
            }
            if member.role == Role::Owner && state.owners(room) == 1 {
                return Err(DomainError::conflict(
                    "last_owner",
                    "the room's last owner cannot leave; make someone else owner first",
                ));
            }
            let text = if person_id == me {
                format!("{} left", member.display_name)
            } else {
                format!("{} removed {}", caller.display_name, member.display_name)
            };
            Ok(vec![
                Event::MemberRemoved { room, person_id },
                system(room, text),
            ])
        }
        Command::PostMessage { room, text } => {
            visible_role(state, room, me)?;
            Ok(vec![Event::MessagePosted {
                room,
                message: Message {
                    id: ctx.message_id(0),
                    room_id: room,
                    author_id: Some(me),
                    author_name: Some(caller.display_name.clone()),
                    kind: MessageKind::User,
                    text,
                    created_at: ctx.now,
                },
            }])
        }
        Command::Breakout(command) => breakout::apply(state, caller, command, ctx),
        Command::Activity(command) => super::activity::apply(state, caller, command, ctx),
        Command::Content(command) => content::apply(state, caller, command, ctx),
        Command::Invitation(command) => invitation::apply(state, caller, command, ctx),
        Command::Meeting(command) => meeting::apply(state, caller, command, ctx),
        Command::Recording(command) => recording::apply(state, caller, command, ctx),
        Command::DeleteRoom => {
            let role = visible_role(state, state.id(), me)?;
            if role != Role::Owner {
                return Err(DomainError::Forbidden("only owners may delete a room"));
            }
            Ok(vec![Event::RoomDeleted { room: state.id() }])
        }
    }
}

/// Whether `me` may add members with `role` to `room`: managers may, and only owners add owners.
fn may_add(state: &RoomState, room: RoomId, me: PersonId, role: Role) -> Result<(), DomainError> {
    let my_role = visible_role(state, room, me)?;
    if !my_role.manages() {
        return Err(DomainError::Forbidden(
            "only owners and moderators may add members",
        ));
    }
    if role == Role::Owner && my_role != Role::Owner {
        return Err(DomainError::Forbidden(
            "only owners may make someone an owner",
        ));
    }
    Ok(())
}

fn not_yet_member(
    state: &RoomState,
    room: RoomId,
    person: PersonId,
    name: &str,
) -> Result<(), DomainError> {
    match state.role(room, person) {
        Some(_) => Err(DomainError::conflict(
            "already_member",
            format!("{name} is already a member of this room"),
        )),
        None => Ok(()),
    }
}

/// The caller's effective role in a room they may see; `NotFound` otherwise.
fn visible_role(state: &RoomState, room: RoomId, person: PersonId) -> Result<Role, DomainError> {
    state
        .room(room)
        .and(state.effective_role(room, person))
        .ok_or(DomainError::NotFound("room"))
}

fn member(state: &RoomState, room: RoomId, person: PersonId) -> Result<&Member, DomainError> {
    state
        .members
        .get(&room)
        .and_then(|m| m.get(&person))
        .ok_or(DomainError::NotFound("member"))
}

#[cfg(test)]
mod tests;
