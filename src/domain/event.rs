//! Events: what happened to a main room or its breakout rooms. Each is stored with a sequence
//! number before anyone hears of it (see `rooms`), then folded into the state.
//!
//! The serialised form (`type` tag, snake_case) is both the stored payload and, for most events,
//! what clients receive; `rooms::wire` projects the few that differ per recipient.

use serde::{Deserialize, Serialize};

use super::breakout::{Assignment, BreakoutConfig, CallToAction, HelpRequest, StopReason};
use super::content::ContentItem;
use super::invitation::Invitation;
use super::meeting::Meeting;
use super::recording::{Recording, RecordingEnd};
use super::room::{Member, Message, Role, RoomInfo};
use crate::ids::{ContentId, HelpId, InvitationId, MeetingId, PersonId, RoomId};

/// Something that happened. Stored, sequenced, then sent to everyone who may see `room`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A room came into being.
    RoomCreated {
        /// The room.
        room: RoomId,
        /// Its description.
        info: RoomInfo,
    },
    /// A room has a new name.
    RoomRenamed {
        /// The room.
        room: RoomId,
        /// The new name.
        name: String,
    },
    /// A main room and all it held are gone. The last event of its stream.
    RoomDeleted {
        /// The main room.
        room: RoomId,
    },
    /// Someone became a member.
    MemberAdded {
        /// The room.
        room: RoomId,
        /// The new member.
        member: Member,
    },
    /// Many people became members at once (a bulk import).
    MembersAdded {
        /// The room.
        room: RoomId,
        /// The new members.
        members: Vec<Member>,
    },
    /// A member's role changed.
    RoleChanged {
        /// The room.
        room: RoomId,
        /// Whose.
        person_id: PersonId,
        /// The new role.
        role: Role,
    },
    /// Someone stopped being a member.
    MemberRemoved {
        /// The room.
        room: RoomId,
        /// Who.
        person_id: PersonId,
    },
    /// A chat message, by a person or by Huddle.
    MessagePosted {
        /// The room.
        room: RoomId,
        /// The message.
        message: Message,
    },
    /// The breakout settings of a main room changed.
    BreakoutConfigured {
        /// The main room.
        room: RoomId,
        /// The settings.
        config: BreakoutConfig,
        /// When the running round's countdown starts, after the change.
        ends_at: Option<i64>,
    },
    /// Breakout rooms were created (one or many at once).
    BreakoutRoomsCreated {
        /// The main room.
        room: RoomId,
        /// The new rooms.
        rooms: Vec<RoomInfo>,
    },
    /// Breakout rooms were deleted with all they held; whoever was in them is back in the main room.
    BreakoutRoomsDeleted {
        /// The main room.
        room: RoomId,
        /// The deleted rooms.
        rooms: Vec<RoomId>,
    },
    /// A person's assignment changed (`breakout: null` unassigns). While a round runs, a connected
    /// person moves with it.
    Assigned {
        /// The main room.
        room: RoomId,
        /// Who.
        person_id: PersonId,
        /// Their breakout room, if any.
        breakout: Option<RoomId>,
        /// The moderator who placed them, by name (absent when people choose for themselves, and
        /// in events stored before it was recorded): "moved to Room 2 by Ms. Rivera".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Every assignment was cleared.
    AssignmentsReset {
        /// The main room.
        room: RoomId,
    },
    /// A round started: everyone connected and assigned is now in their breakout room.
    BreakoutStarted {
        /// The main room.
        room: RoomId,
        /// The round number, from 1.
        round: u32,
        /// Every assignment for this round (automatic mode has filled in the unassigned).
        assignments: Vec<Assignment>,
        /// When the countdown before closing starts, if the round has a duration.
        ends_at: Option<i64>,
        /// Start time, milliseconds since the Unix epoch.
        started_at: i64,
    },
    /// The round's time is up: the rooms close at `closes_at`.
    BreakoutClosing {
        /// The main room.
        room: RoomId,
        /// When the rooms close.
        closes_at: i64,
    },
    /// The round ended: everyone is back in the main room.
    BreakoutStopped {
        /// The main room.
        room: RoomId,
        /// Why.
        reason: StopReason,
    },
    /// Chosen breakout rooms were closed for this round: their people are back in the main room.
    RoomsBroughtBack {
        /// The main room.
        room: RoomId,
        /// The closed rooms.
        rooms: Vec<RoomId>,
    },
    /// A message to every breakout room: a chat message in each, and a banner for everyone.
    Broadcast {
        /// The main room.
        room: RoomId,
        /// Who sent it.
        from: PersonId,
        /// Their display name.
        from_name: String,
        /// The text.
        text: String,
        /// An optional call to action.
        cta: Option<CallToAction>,
        /// The chat message posted in each breakout room.
        messages: Vec<Message>,
    },
    /// A connected person moved (joined a room, went back to the main room, was moved).
    Located {
        /// The main room.
        room: RoomId,
        /// Who.
        person_id: PersonId,
        /// Where they are now.
        location: RoomId,
    },
    /// A person connected; not stored (locations live in memory).
    Connected {
        /// The main room.
        room: RoomId,
        /// Who.
        person_id: PersonId,
        /// Their display name.
        display_name: String,
        /// Where they are.
        location: RoomId,
    },
    /// A person's last connection closed; not stored.
    Disconnected {
        /// The main room.
        room: RoomId,
        /// Who.
        person_id: PersonId,
    },
    /// Someone in a breakout room asked for help.
    HelpRequested {
        /// The main room.
        room: RoomId,
        /// The request.
        request: HelpRequest,
    },
    /// A moderator accepted (and joined the room) or dismissed a help request.
    HelpAnswered {
        /// The main room.
        room: RoomId,
        /// Which request.
        id: HelpId,
        /// The breakout room it came from.
        breakout: RoomId,
        /// Who asked.
        person_id: PersonId,
        /// The moderator who answered.
        by: PersonId,
        /// Accepted (the moderator joins) or dismissed.
        accepted: bool,
    },
    /// A schedule of rotation rounds started, moved on (a round done, a break until `next_at`,
    /// or a round under way) or ended (`None`). Carries the whole schedule as it now is.
    ScheduleChanged {
        /// The main room.
        room: RoomId,
        /// The schedule, or none.
        schedule: Option<super::breakout::schedule::Schedule>,
    },
    /// A breakout room's task changed, or a result was handed in or handed over: its activity
    /// as it now is (`None`: no task).
    ActivitySet {
        /// The main room.
        room: RoomId,
        /// The breakout room.
        breakout: RoomId,
        /// Its activity.
        activity: Option<super::activity::Activity>,
    },
    /// Assignments were replaced as a whole (a CSV import): these are now all of them.
    AssignmentsImported {
        /// The main room.
        room: RoomId,
        /// Every assignment.
        assignments: Vec<Assignment>,
    },
    /// A content item was added to a room (or a promoted copy to the main room).
    ContentAdded {
        /// The room it lives in.
        room: RoomId,
        /// The item (boxed: it is by far the largest event).
        item: Box<ContentItem>,
    },
    /// A content item was deleted.
    ContentDeleted {
        /// The room it lived in.
        room: RoomId,
        /// Which.
        id: ContentId,
        /// The breakout rooms it was shared with (they lose it too).
        shared_with: Vec<RoomId>,
    },
    /// A main-room item is now shared with exactly these breakout rooms.
    ContentShared {
        /// The main room.
        room: RoomId,
        /// Which item.
        id: ContentId,
        /// The breakout rooms it is shared with now.
        rooms: Vec<RoomId>,
        /// Those it was shared with before.
        previous: Vec<RoomId>,
    },
    /// People were invited by email to one room.
    InvitationsCreated {
        /// The main room.
        room: RoomId,
        /// The invitations (all to the same room).
        invitations: Vec<Invitation>,
    },
    /// An invitation was accepted (by `accepted_by`) or revoked.
    InvitationClosed {
        /// The main room.
        room: RoomId,
        /// Which.
        id: InvitationId,
        /// The room it opened.
        target: RoomId,
        /// Who accepted it; `None` when revoked.
        accepted_by: Option<PersonId>,
    },
    /// A meeting was scheduled in a room.
    MeetingScheduled {
        /// The room.
        room: RoomId,
        /// The meeting.
        meeting: Meeting,
    },
    /// A meeting was cancelled.
    MeetingCancelled {
        /// The room.
        room: RoomId,
        /// Which.
        id: MeetingId,
    },
    /// A room's call is being recorded from now on.
    RecordingStarted {
        /// The recorded room.
        room: RoomId,
        /// The recording.
        recording: Recording,
    },
    /// A room's call is no longer being recorded.
    RecordingStopped {
        /// The recorded room.
        room: RoomId,
        /// The recording.
        recording: Recording,
        /// Why.
        reason: RecordingEnd,
        /// Who stopped it, when someone did.
        by: Option<PersonId>,
        /// Milliseconds since the Unix epoch.
        stopped_at: i64,
    },
}

impl Event {
    /// The room the event is about.
    pub fn room(&self) -> RoomId {
        match self {
            Event::RoomCreated { room, .. }
            | Event::RoomRenamed { room, .. }
            | Event::RoomDeleted { room }
            | Event::MemberAdded { room, .. }
            | Event::MembersAdded { room, .. }
            | Event::RoleChanged { room, .. }
            | Event::MemberRemoved { room, .. }
            | Event::MessagePosted { room, .. }
            | Event::BreakoutConfigured { room, .. }
            | Event::BreakoutRoomsCreated { room, .. }
            | Event::BreakoutRoomsDeleted { room, .. }
            | Event::Assigned { room, .. }
            | Event::AssignmentsReset { room }
            | Event::BreakoutStarted { room, .. }
            | Event::BreakoutClosing { room, .. }
            | Event::BreakoutStopped { room, .. }
            | Event::RoomsBroughtBack { room, .. }
            | Event::Broadcast { room, .. }
            | Event::Located { room, .. }
            | Event::Connected { room, .. }
            | Event::Disconnected { room, .. }
            | Event::HelpRequested { room, .. }
            | Event::HelpAnswered { room, .. }
            | Event::AssignmentsImported { room, .. }
            | Event::ScheduleChanged { room, .. }
            | Event::ActivitySet { room, .. }
            | Event::ContentAdded { room, .. }
            | Event::ContentDeleted { room, .. }
            | Event::ContentShared { room, .. }
            | Event::InvitationsCreated { room, .. }
            | Event::InvitationClosed { room, .. }
            | Event::MeetingScheduled { room, .. }
            | Event::MeetingCancelled { room, .. }
            | Event::RecordingStarted { room, .. }
            | Event::RecordingStopped { room, .. } => *room,
        }
    }

    /// Whether the event only describes who is connected where. Such events are sent but not
    /// stored: locations are rebuilt from connections after a restart.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Event::Connected { .. } | Event::Disconnected { .. })
    }

    /// The event's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RoomCreated { .. } => "room_created",
            Event::RoomRenamed { .. } => "room_renamed",
            Event::RoomDeleted { .. } => "room_deleted",
            Event::MemberAdded { .. } => "member_added",
            Event::MembersAdded { .. } => "members_added",
            Event::RoleChanged { .. } => "role_changed",
            Event::MemberRemoved { .. } => "member_removed",
            Event::MessagePosted { .. } => "message_posted",
            Event::BreakoutConfigured { .. } => "breakout_configured",
            Event::BreakoutRoomsCreated { .. } => "breakout_rooms_created",
            Event::BreakoutRoomsDeleted { .. } => "breakout_rooms_deleted",
            Event::Assigned { .. } => "assigned",
            Event::AssignmentsReset { .. } => "assignments_reset",
            Event::BreakoutStarted { .. } => "breakout_started",
            Event::BreakoutClosing { .. } => "breakout_closing",
            Event::BreakoutStopped { .. } => "breakout_stopped",
            Event::RoomsBroughtBack { .. } => "rooms_brought_back",
            Event::Broadcast { .. } => "broadcast",
            Event::Located { .. } => "located",
            Event::Connected { .. } => "connected",
            Event::Disconnected { .. } => "disconnected",
            Event::HelpRequested { .. } => "help_requested",
            Event::HelpAnswered { .. } => "help_answered",
            Event::AssignmentsImported { .. } => "assignments_imported",
            Event::ScheduleChanged { .. } => "schedule_changed",
            Event::ActivitySet { .. } => "activity_set",
            Event::ContentAdded { .. } => "content_added",
            Event::ContentDeleted { .. } => "content_deleted",
            Event::ContentShared { .. } => "content_shared",
            Event::InvitationsCreated { .. } => "invitations_created",
            Event::InvitationClosed { .. } => "invitation_closed",
            Event::MeetingScheduled { .. } => "meeting_scheduled",
            Event::MeetingCancelled { .. } => "meeting_cancelled",
            Event::RecordingStarted { .. } => "recording_started",
            Event::RecordingStopped { .. } => "recording_stopped",
        }
    }
}
