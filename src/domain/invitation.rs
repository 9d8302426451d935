//! Invitations by email to a main or a breakout room: who may invite, the guest policy, expiry,
//! revocation and acceptance.
//!
//! The token in the emailed link is not part of the domain: the mailer makes it when it sends the
//! email and the store keeps only its hash. Here an invitation is pending until it is accepted
//! (once), revoked, or expires. Accepting adds the person (an account, or a guest made for the
//! occasion) as a direct member of the invited room only.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DomainError;
use super::event::Event;
use super::room::{Caller, Ctx, Member, Role, RoomState};
use crate::ids::{InvitationId, PersonId, RoomId};

/// A pending invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The room it opens (main or breakout).
    pub room_id: RoomId,
    /// Where the email goes (lower-cased).
    pub email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// Whether the email had no account when the invitation was made (an external guest).
    pub external: bool,
    /// Who invited.
    pub invited_by: PersonId,
    /// Their display name.
    pub invited_by_name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// After this the link no longer works.
    pub expires_at: i64,
}

/// One person to invite, as the HTTP layer found them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Invitee {
    /// Validated, lower-cased email.
    pub email: String,
    /// Whether an account has this email (otherwise the invitee is an external guest).
    pub has_account: bool,
}

/// An invitation command.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum InvitationCommand {
    /// Invite people to a room.
    Invite {
        /// The room.
        room: RoomId,
        /// Who.
        invitees: Vec<Invitee>,
        /// With which role.
        role: Role,
    },
    /// Withdraw a pending invitation.
    Revoke {
        /// Which.
        id: InvitationId,
    },
    /// Someone followed the link: add them to the invited room.
    Accept {
        /// Which invitation.
        id: InvitationId,
        /// The account, or the guest just made.
        person_id: PersonId,
        /// Their display name.
        display_name: String,
        /// A guest (no account).
        guest: bool,
    },
}

/// Whether the policy refuses external guests in `room`: a main room with breakout rooms enabled,
/// unless the administrator allowed it (seed 004: enabling breakout rooms limits inviting
/// external users).
fn guest_refused(state: &RoomState, room: RoomId, ctx: &Ctx) -> bool {
    room == state.id() && state.breakout.config.enabled && !ctx.guests_with_breakouts
}

/// Decides what an invitation command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: InvitationCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let me = caller.person_id;
    let main = state.id();
    match command {
        InvitationCommand::Invite {
            room,
            invitees,
            role,
        } => {
            let my_role = state
                .room(room)
                .and(state.effective_role(room, me))
                .ok_or(DomainError::NotFound("room"))?;
            if !my_role.manages() {
                return Err(DomainError::Forbidden(
                    "only owners and moderators may invite people",
                ));
            }
            if role == Role::Owner {
                return Err(DomainError::invalid(
                    "role",
                    "an invitation gives participant or moderator; make an owner from the members list",
                ));
            }
            if invitees.is_empty() {
                return Err(DomainError::invalid("emails", "name at least one email"));
            }
            if invitees.iter().any(|i| !i.has_account) && guest_refused(state, room, &ctx) {
                return Err(DomainError::Forbidden(
                    "external guests cannot be invited to a main room with breakout rooms enabled; invite them to a breakout room",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            let invitations = invitees
                .into_iter()
                .filter(|i| seen.insert(i.email.clone()))
                .enumerate()
                .map(|(n, i)| Invitation {
                    id: InvitationId(ctx.uuid(n as u16)),
                    room_id: room,
                    email: i.email,
                    role,
                    external: !i.has_account,
                    invited_by: me,
                    invited_by_name: caller.display_name.clone(),
                    created_at: ctx.now,
                    expires_at: ctx.now + ctx.invitation_ttl_ms,
                })
                .collect();
            Ok(vec![Event::InvitationsCreated {
                room: main,
                invitations,
            }])
        }
        InvitationCommand::Revoke { id } => {
            let invitation = state
                .invitations
                .get(&id)
                .filter(|i| state.can_see(i.room_id, me))
                .ok_or(DomainError::NotFound("invitation"))?;
            if !state
                .effective_role(invitation.room_id, me)
                .is_some_and(Role::manages)
            {
                return Err(DomainError::Forbidden(
                    "only owners and moderators may revoke invitations",
                ));
            }
            Ok(vec![Event::InvitationClosed {
                room: main,
                id,
                target: invitation.room_id,
                accepted_by: None,
            }])
        }
        InvitationCommand::Accept {
            id,
            person_id,
            display_name,
            guest,
        } => {
            let invitation = state.invitations.get(&id).ok_or_else(|| {
                DomainError::conflict("invitation_used", "this invitation was already used")
            })?;
            if ctx.now >= invitation.expires_at {
                return Err(DomainError::conflict(
                    "invitation_expired",
                    "this invitation has expired; ask for a new one",
                ));
            }
            let room = invitation.room_id;
            if guest && guest_refused(state, room, &ctx) {
                return Err(DomainError::Forbidden(
                    "guests cannot join a main room with breakout rooms enabled; sign in with an account",
                ));
            }
            let mut events = vec![Event::InvitationClosed {
                room: main,
                id,
                target: room,
                accepted_by: Some(person_id),
            }];
            if state.role(room, person_id).is_none() {
                events.push(Event::MemberAdded {
                    room,
                    member: Member {
                        person_id,
                        display_name,
                        role: if guest {
                            Role::Participant
                        } else {
                            invitation.role
                        },
                    },
                });
            }
            Ok(events)
        }
    }
}

/// Applies an invitation event. Called by [`RoomState::fold`].
pub fn fold(state: &mut RoomState, event: &Event) {
    match event {
        Event::InvitationsCreated { invitations, .. } => {
            for i in invitations {
                state.invitations.insert(i.id, i.clone());
            }
        }
        Event::InvitationClosed { id, .. } => {
            state.invitations.remove(id);
        }
        Event::BreakoutRoomsDeleted { rooms, .. } => {
            state.invitations.retain(|_, i| !rooms.contains(&i.room_id));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
