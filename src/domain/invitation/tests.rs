//! Invitation rules: who invites, the guest policy, expiry, one use.

use super::*;
use crate::domain::room::{Command, apply as apply_room};
use crate::domain::testkit::{breakout, caller, ctx, main_room, person, workshop};

fn run(
    state: &mut RoomState,
    who: u128,
    command: InvitationCommand,
    c: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let events = apply_room(state, &caller(who), Command::Invitation(command), c)?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

fn invite(room: RoomId, email: &str, has_account: bool) -> InvitationCommand {
    InvitationCommand::Invite {
        room,
        invitees: vec![Invitee {
            email: email.into(),
            has_account,
        }],
        role: Role::Participant,
    }
}

fn invited(events: &[Event]) -> Invitation {
    match &events[0] {
        Event::InvitationsCreated { invitations, .. } => invitations[0].clone(),
        other => panic!("{other:?}"),
    }
}

fn accept(id: InvitationId, who: u128, guest: bool) -> InvitationCommand {
    InvitationCommand::Accept {
        id,
        person_id: person(who),
        display_name: format!("P{who}"),
        guest,
    }
}

#[test]
fn managers_invite_and_an_invitation_is_used_once() {
    let mut state = workshop();
    let err = run(&mut state, 2, invite(breakout(0), "g@x.org", false), ctx(1));
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
    let inv = invited(&run(&mut state, 1, invite(breakout(0), "g@x.org", false), ctx(2)).unwrap());
    assert_eq!(inv.expires_at, 1 + Ctx::new(0, 0).invitation_ttl_ms);
    let events = run(&mut state, 9, accept(inv.id, 9, true), ctx(3)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(state.role(breakout(0), person(9)), Some(Role::Participant));
    assert!(
        !state.can_see(main_room(), person(9)),
        "a guest of a breakout room sees only it"
    );
    let again = run(&mut state, 10, accept(inv.id, 10, true), ctx(4));
    assert!(matches!(
        again,
        Err(DomainError::Conflict {
            code: "invitation_used",
            ..
        })
    ));
}

#[test]
fn expired_and_revoked_invitations_do_not_open_the_room() {
    let mut state = workshop();
    let inv = invited(&run(&mut state, 0, invite(breakout(1), "a@x.org", true), ctx(1)).unwrap());
    let late = Ctx::new(inv.expires_at, 5);
    let err = run(&mut state, 9, accept(inv.id, 9, false), late);
    assert!(matches!(
        err,
        Err(DomainError::Conflict {
            code: "invitation_expired",
            ..
        })
    ));
    run(
        &mut state,
        1,
        InvitationCommand::Revoke { id: inv.id },
        ctx(6),
    )
    .unwrap();
    let err = run(&mut state, 9, accept(inv.id, 9, false), ctx(7));
    assert!(matches!(
        err,
        Err(DomainError::Conflict {
            code: "invitation_used",
            ..
        })
    ));
    assert_eq!(state.role(breakout(1), person(9)), None);
}

#[test]
fn the_policy_keeps_guests_out_of_a_main_room_with_breakout_rooms() {
    let mut state = workshop();
    state.breakout.config.enabled = true;
    let err = run(&mut state, 0, invite(main_room(), "g@x.org", false), ctx(1));
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
    // Accounts may still be invited, and guests to a breakout room.
    run(&mut state, 0, invite(main_room(), "a@x.org", true), ctx(2)).unwrap();
    run(&mut state, 0, invite(breakout(0), "g@x.org", false), ctx(3)).unwrap();
    let allowed = Ctx {
        guests_with_breakouts: true,
        ..ctx(4)
    };
    let inv = invited(
        &run(
            &mut state,
            0,
            invite(main_room(), "g@x.org", false),
            allowed,
        )
        .unwrap(),
    );
    // The policy is checked again when the link is followed.
    let err = run(&mut state, 9, accept(inv.id, 9, true), ctx(5));
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
    run(&mut state, 9, accept(inv.id, 9, false), ctx(6)).unwrap();
}

#[test]
fn nobody_is_invited_as_owner() {
    let mut state = workshop();
    let cmd = InvitationCommand::Invite {
        room: main_room(),
        invitees: vec![Invitee {
            email: "a@x.org".into(),
            has_account: true,
        }],
        role: Role::Owner,
    };
    assert!(matches!(
        run(&mut state, 0, cmd, ctx(1)),
        Err(DomainError::Invalid { field: "role", .. })
    ));
}
