//! Replacing the pre-assignment from a CSV file's rows (already parsed by `roster` and matched to
//! people by the HTTP layer): rooms are made as needed, accounts join the main room, unknown
//! addresses are invited to their room, and the file becomes the whole assignment.

use std::collections::{HashMap, HashSet};

use super::{Assignment, between_rounds, manager};
use crate::domain::DomainError;
use crate::domain::event::Event;
use crate::domain::invitation::Invitation;
use crate::domain::room::{Caller, Ctx, Member, Role, RoomInfo, RoomState};
use crate::ids::{InvitationId, PersonId, RoomId};

/// Who a row names.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Who {
    /// An account or a guest known here.
    Person {
        /// Who.
        person_id: PersonId,
        /// Their display name.
        display_name: String,
        /// A guest: never added to the main room.
        guest: bool,
    },
    /// An address without an account: invited to the row's room.
    Unknown {
        /// Lower-cased email.
        email: String,
    },
}

/// A matched row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ImportRow {
    /// The breakout room's name, or `None` (unassigned).
    pub room: Option<String>,
    /// Who.
    pub who: Who,
}

/// Ids of new rooms are the command's uuids from 0, invitations' from this offset (at most 300
/// rooms and 10,000 rows fit well under `u16::MAX`).
const INVITATION_IDS: u16 = 1_000;

/// Decides what an import does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    rows: Vec<ImportRow>,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    manager(state, caller.person_id)?;
    between_rounds(state)?;
    // Existing rooms by name (the first, by id, if two share a name).
    let mut by_name: HashMap<String, RoomId> = HashMap::new();
    for room in state.breakouts.values() {
        by_name.entry(room.name.clone()).or_insert(room.id);
    }
    let mut new_rooms = Vec::new();
    for name in rows.iter().filter_map(|r| r.room.as_ref()) {
        if !by_name.contains_key(name) {
            let id = RoomId(ctx.uuid(new_rooms.len() as u16));
            by_name.insert(name.clone(), id);
            new_rooms.push(RoomInfo {
                id,
                parent_id: Some(main),
                name: name.clone(),
                created_at: ctx.now,
            });
        }
    }
    if state.breakouts.len() + new_rooms.len() > ctx.max_breakout_rooms {
        return Err(DomainError::invalid(
            "room_name",
            format!(
                "the file names {} new rooms; with the {} there are, that is more than the limit of {}",
                new_rooms.len(),
                state.breakouts.len(),
                ctx.max_breakout_rooms
            ),
        ));
    }
    let pending: HashSet<(&str, RoomId)> = state
        .invitations
        .values()
        .map(|i| (i.email.as_str(), i.room_id))
        .collect();
    let mut joining = Vec::new();
    let mut assignments = Vec::new();
    let mut invitations = Vec::new();
    for row in &rows {
        let room = row.room.as_ref().map(|name| by_name[name]);
        match &row.who {
            Who::Person {
                person_id,
                display_name,
                guest,
            } => {
                if !guest && state.role(main, *person_id).is_none() {
                    joining.push(Member {
                        person_id: *person_id,
                        display_name: display_name.clone(),
                        role: Role::Participant,
                    });
                }
                if let Some(breakout) = room {
                    assignments.push(Assignment {
                        person_id: *person_id,
                        breakout,
                    });
                }
            }
            Who::Unknown { email } => {
                let Some(room) = room else {
                    return Err(DomainError::invalid(
                        "room_name",
                        format!("{email} has no account: name the breakout room to invite them to"),
                    ));
                };
                if !pending.contains(&(email.as_str(), room)) {
                    invitations.push(Invitation {
                        id: InvitationId(ctx.uuid(INVITATION_IDS + invitations.len() as u16)),
                        room_id: room,
                        email: email.clone(),
                        role: Role::Participant,
                        external: true,
                        invited_by: caller.person_id,
                        invited_by_name: caller.display_name.clone(),
                        created_at: ctx.now,
                        expires_at: ctx.now + ctx.invitation_ttl_ms,
                    });
                }
            }
        }
    }
    assignments.sort_by_key(|a| a.person_id);
    let mut events = Vec::new();
    if !new_rooms.is_empty() {
        events.push(Event::BreakoutRoomsCreated {
            room: main,
            rooms: new_rooms,
        });
    }
    if !joining.is_empty() {
        events.push(Event::MembersAdded {
            room: main,
            members: joining,
        });
    }
    events.push(Event::AssignmentsImported {
        room: main,
        assignments,
    });
    if !invitations.is_empty() {
        events.push(Event::InvitationsCreated {
            room: main,
            invitations,
        });
    }
    Ok(events)
}
