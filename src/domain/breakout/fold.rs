//! A breakout event folded into the room's state ([`fold`], called by `RoomState::fold`).

use std::collections::HashSet;

use super::{Status, own_room};
use crate::domain::event::Event;
use crate::domain::room::RoomState;
use crate::ids::{PersonId, RoomId};

/// Applies a breakout event to the state. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    let main = state.id();
    // Everyone in the rooms `from` picks out goes back: main-room members to the main room,
    // breakout-only members (guests) to their own room.
    let back_to_main = |state: &mut RoomState, from: &dyn Fn(RoomId) -> bool| {
        let movers: Vec<(PersonId, RoomId)> = state
            .locations
            .iter()
            .filter(|(_, loc)| **loc != main && from(**loc))
            .filter_map(|(p, loc)| {
                let to = if state.role(main, *p).is_some() {
                    Some(main)
                } else {
                    own_room(state, *p)
                };
                to.filter(|to| to != loc).map(|to| (*p, to))
            })
            .collect();
        for (p, to) in movers {
            state.locations.insert(p, to);
        }
    };
    match event {
        Event::BreakoutConfigured {
            config, ends_at, ..
        } => {
            state.breakout.config = config.clone();
            if state.breakout.status == Status::Running {
                state.breakout.ends_at = *ends_at;
            }
        }
        Event::BreakoutRoomsCreated { rooms, .. } => {
            for info in rooms {
                state.breakouts.insert(info.id, info.clone());
            }
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            let gone: HashSet<RoomId> = rooms.iter().copied().collect();
            back_to_main(state, &|r| gone.contains(&r));
            // Breakout-only members of a deleted room have nowhere left to be.
            state.locations.retain(|_, loc| !gone.contains(loc));
            for r in &gone {
                state.breakouts.remove(r);
                state.members.remove(r);
                state.breakout.closed.remove(r);
            }
            state.breakout.assignments.retain(|_, r| !gone.contains(r));
            state
                .breakout
                .help
                .retain(|_, h| !gone.contains(&h.breakout));
        }
        Event::Assigned {
            person_id,
            breakout,
            ..
        } => {
            match breakout {
                Some(b) => state.breakout.assignments.insert(*person_id, *b),
                None => state.breakout.assignments.remove(person_id),
            };
            // While a round runs a connected person moves with their assignment: unassigned, a
            // main-room member goes to the main room, a breakout-only member (a guest) back to
            // their own room.
            if state.breakout.is_live() && state.locations.contains_key(person_id) {
                let to = match breakout {
                    Some(b) => Some(*b),
                    None if state.role(main, *person_id).is_some() => Some(main),
                    None => own_room(state, *person_id),
                };
                if let Some(to) = to {
                    state.locations.insert(*person_id, to);
                }
            }
        }
        Event::AssignmentsReset { .. } => state.breakout.assignments.clear(),
        Event::AssignmentsImported { assignments, .. } => {
            state.breakout.assignments = assignments
                .iter()
                .map(|a| (a.person_id, a.breakout))
                .collect();
        }
        Event::BreakoutStarted {
            round,
            assignments,
            ends_at,
            started_at,
            ..
        } => {
            let s = &mut state.breakout;
            s.status = Status::Running;
            s.round = *round;
            s.started_at = Some(*started_at);
            s.ends_at = *ends_at;
            s.closes_at = None;
            s.closed.clear();
            s.answered.clear();
            s.assignments = assignments
                .iter()
                .map(|a| (a.person_id, a.breakout))
                .collect();
            for a in assignments {
                if let Some(loc) = state.locations.get_mut(&a.person_id) {
                    *loc = a.breakout;
                }
            }
        }
        Event::BreakoutClosing { closes_at, .. } => {
            state.breakout.status = Status::Closing;
            state.breakout.closes_at = Some(*closes_at);
        }
        Event::BreakoutStopped { .. } => {
            let s = &mut state.breakout;
            s.status = Status::Idle;
            s.started_at = None;
            s.ends_at = None;
            s.closes_at = None;
            s.closed.clear();
            s.help.clear();
            back_to_main(state, &|_| true);
        }
        Event::RoomsBroughtBack { rooms, .. } => {
            let rooms: HashSet<RoomId> = rooms.iter().copied().collect();
            state.breakout.closed.extend(rooms.iter().copied());
            state
                .breakout
                .help
                .retain(|_, h| !rooms.contains(&h.breakout));
            back_to_main(state, &|r| rooms.contains(&r));
        }
        Event::Located {
            person_id,
            location,
            ..
        } => {
            if let Some(loc) = state.locations.get_mut(person_id) {
                *loc = *location;
            }
        }
        Event::Connected {
            person_id,
            location,
            ..
        } => {
            state.locations.insert(*person_id, *location);
        }
        Event::Disconnected { person_id, .. } => {
            state.locations.remove(person_id);
        }
        Event::HelpRequested { request, .. } => {
            state.breakout.help.insert(request.id, request.clone());
        }
        Event::HelpAnswered { id, .. } => {
            state.breakout.help.remove(id);
            state.breakout.answered.insert(*id);
        }
        Event::ScheduleChanged { schedule, .. } => state.breakout.schedule = schedule.clone(),
        _ => {}
    }
}
