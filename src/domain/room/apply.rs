//! What a room command does: [`apply`] checks the caller's place and role and answers the
//! events, or refuses and changes nothing; breakout, content, invitation, meeting, recording and
//! activity commands go to their own modules.

use super::{Caller, Command, Ctx, Event, Member, Message, MessageKind, Role, RoomState};
use crate::domain::DomainError;
use crate::domain::breakout;
use crate::domain::content;
use crate::domain::invitation;
use crate::domain::meeting;
use crate::domain::recording;
use crate::ids::{PersonId, RoomId};

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
        Command::Activity(command) => crate::domain::activity::apply(state, caller, command, ctx),
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
pub(super) fn may_add(
    state: &RoomState,
    room: RoomId,
    me: PersonId,
    role: Role,
) -> Result<(), DomainError> {
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

pub(super) fn not_yet_member(
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
pub(super) fn visible_role(
    state: &RoomState,
    room: RoomId,
    person: PersonId,
) -> Result<Role, DomainError> {
    state
        .room(room)
        .and(state.effective_role(room, person))
        .ok_or(DomainError::NotFound("room"))
}

pub(super) fn member(
    state: &RoomState,
    room: RoomId,
    person: PersonId,
) -> Result<&Member, DomainError> {
    state
        .members
        .get(&room)
        .and_then(|m| m.get(&person))
        .ok_or(DomainError::NotFound("member"))
}
