//! An event folded into the room's state ([`RoomState::fold`]); breakout, content, invitation,
//! meeting, recording and activity events go on to their own modules' folds.

use super::RoomState;
use crate::domain::breakout;
use crate::domain::content;
use crate::domain::event::Event;
use crate::domain::invitation;
use crate::domain::meeting;
use crate::domain::recording;

impl RoomState {
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
            Event::ActivitySet { .. } => crate::domain::activity::fold(self, event),
            // What was in deleted breakout rooms goes with them.
            Event::BreakoutRoomsDeleted { .. } => {
                recording::fold(self, event);
                content::fold(self, event);
                invitation::fold(self, event);
                meeting::fold(self, event);
                crate::domain::activity::fold(self, event);
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
}
