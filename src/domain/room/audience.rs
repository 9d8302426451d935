//! Who an event reaches: its [`Audience`], the rooms it places people in, and whether a given
//! recipient receives it (the same rule as the REST views: nobody hears of what they may not see).

use super::{Audience, Recipient, Role, RoomState};
use crate::domain::event::Event;
use crate::ids::{PersonId, RoomId};

impl RoomState {
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

    pub(super) fn places_of(&self, person: PersonId) -> impl Iterator<Item = RoomId> + '_ {
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
    pub(super) fn reaches(&self, to: Recipient) -> bool {
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
}
