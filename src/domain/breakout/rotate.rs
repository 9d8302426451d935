//! A rotation round: the main room's participants placed by the rotation planner
//! (`domain::rotation`) so that they meet as few of the same people again as possible, between
//! rounds. The breakout rooms are used in creation order and more are made (`Room k`) when the
//! plan needs them; extra rooms stay, empty. The plan replaces the participants' assignments;
//! anyone else's assignment (a breakout-only member's) is kept.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Assignment, between_rounds, default_names, manager, new_rooms};
use crate::domain::DomainError;
use crate::domain::event::Event;
use crate::domain::room::{Caller, Ctx, Role, RoomInfo, RoomState};
use crate::domain::rotation::{self, Constraints, Met};
use crate::ids::{PersonId, RoomId};

/// Largest room size a rotation may ask for (as many as a main room's CSV file may name).
pub const MAX_SIZE: u32 = 10_000;

/// What a rotation round should respect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How many rooms; or give `size`.
    #[schema(minimum = 1, maximum = 300)]
    pub rooms: Option<u32>,
    /// At most this many people per room (as few rooms as that allows); or give `rooms`.
    #[schema(minimum = 1, maximum = 10_000)]
    pub size: Option<u32>,
    /// Only the participants connected now (else every participant of the main room).
    #[serde(default)]
    pub present_only: bool,
    /// Groups whose people share a room.
    #[serde(default)]
    pub together: Vec<Vec<PersonId>>,
    /// Groups whose people never share a room.
    #[serde(default)]
    pub apart: Vec<Vec<PersonId>>,
    /// A value per person to spread evenly over the rooms (a class, a team).
    #[serde(default)]
    pub attribute: HashMap<PersonId, String>,
    /// The same by email address (a column of a CSV file): the server turns it into `attribute`
    /// before planning (an address it does not know is refused).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attribute_by_email: std::collections::BTreeMap<String, String>,
}

/// Who a rotation places: the main room's participants (connected ones only if asked), sorted.
pub fn people(state: &RoomState, present_only: bool) -> Vec<PersonId> {
    let main = state.id();
    let mut people: Vec<PersonId> = state
        .members
        .get(&main)
        .map(|m| {
            m.values()
                .filter(|m| m.role == Role::Participant)
                .filter(|m| !present_only || state.locations.contains_key(&m.person_id))
                .map(|m| m.person_id)
                .collect()
        })
        .unwrap_or_default();
    people.sort();
    people
}

/// Plans a rotation round and makes it the assignment. `met` is who already met in this
/// session.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    rotation: &Rotation,
    met: &Met,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    manager(state, caller.person_id)?;
    between_rounds(state)?;
    plan(state, rotation, met, ctx)
}

/// The events of a rotation round, without the caller's checks (a schedule's timer plans too).
pub fn plan(
    state: &RoomState,
    rotation: &Rotation,
    met: &Met,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let people = people(state, rotation.present_only);
    let count = match (rotation.rooms, rotation.size) {
        (Some(0), None) => return Err(DomainError::invalid("rooms", "must be at least 1")),
        (Some(n), None) => n as usize,
        (None, Some(size)) if size == 0 || size > MAX_SIZE => {
            return Err(DomainError::invalid(
                "size",
                format!("must be between 1 and {MAX_SIZE} people"),
            ));
        }
        (None, Some(size)) => rotation::rooms_for_size(people.len(), size as usize),
        _ => {
            return Err(DomainError::invalid(
                "rooms",
                "give either rooms (how many) or size (people per room)",
            ));
        }
    };
    if count > ctx.max_breakout_rooms {
        return Err(DomainError::invalid(
            "rooms",
            format!(
                "a main room may have at most {} breakout rooms; this rotation needs {count}",
                ctx.max_breakout_rooms
            ),
        ));
    }
    // Constraints name people of the main room; those not placed this time (not connected, not
    // participants) are left out of them.
    let placed: HashSet<PersonId> = people.iter().copied().collect();
    let keep = |groups: &[Vec<PersonId>]| -> Vec<Vec<PersonId>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .copied()
                    .filter(|p| placed.contains(p))
                    .collect::<Vec<_>>()
            })
            .filter(|g| g.len() > 1)
            .collect()
    };
    let constraints = Constraints {
        together: keep(&rotation.together),
        apart: keep(&rotation.apart),
        attribute: rotation
            .attribute
            .iter()
            .filter(|(p, _)| placed.contains(p))
            .map(|(p, v)| (*p, v.clone()))
            .collect(),
    };
    let planned = rotation::plan(&people, count, met, &constraints, ctx.seed)?;

    let mut rooms: Vec<&RoomInfo> = state.breakouts.values().collect();
    rooms.sort_by_key(|r| (r.created_at, r.id));
    let mut ids: Vec<RoomId> = rooms.iter().map(|r| r.id).take(count).collect();
    let mut events = Vec::new();
    if ids.len() < count {
        let new = new_rooms(main, default_names(state, count - ids.len()), &ctx);
        ids.extend(new.iter().map(|r| r.id));
        events.push(Event::BreakoutRoomsCreated {
            room: main,
            rooms: new,
        });
    }
    let mut assignments: Vec<Assignment> = state
        .breakout
        .assignments
        .iter()
        .filter(|(p, _)| !placed.contains(p))
        .map(|(p, r)| Assignment {
            person_id: *p,
            breakout: *r,
        })
        .collect();
    for (room, members) in ids.iter().zip(&planned.rooms) {
        assignments.extend(members.iter().map(|p| Assignment {
            person_id: *p,
            breakout: *room,
        }));
    }
    assignments.sort_by_key(|a| a.person_id);
    events.push(Event::AssignmentsImported {
        room: main,
        assignments,
    });
    Ok(events)
}
