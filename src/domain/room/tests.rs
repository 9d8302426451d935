//! Rules of the room state machine, one test per rule, and a property test over random command
//! sequences from random callers.

use proptest::prelude::*;

use super::*;
use crate::domain::DomainError;

use crate::domain::testkit::{caller, person};

fn ctx(now: i64) -> Ctx {
    Ctx {
        now,
        seed: now as u64 + 1_000,
        max_breakout_rooms: 300,
        ..Ctx::new(0, 0)
    }
}

fn room_id() -> RoomId {
    RoomId(uuid::Uuid::from_u128(99))
}

/// A room owned by person 0 with person 1 moderator and person 2 participant.
fn workshop() -> RoomState {
    let (mut state, _) = RoomState::create(ctx(0), room_id(), "Workshop".into(), &caller(0));
    for (n, role) in [(1, Role::Moderator), (2, Role::Participant)] {
        let cmd = Command::AddMember {
            room: room_id(),
            person_id: person(n),
            display_name: format!("P{n}"),
            role,
        };
        run(&mut state, 0, cmd).unwrap();
    }
    state
}

fn run(state: &mut RoomState, who: u128, command: Command) -> Result<Vec<Event>, DomainError> {
    let events = apply(state, &caller(who), command, ctx(1))?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

#[test]
fn creating_a_room_makes_the_creator_its_owner() {
    let (state, events) = RoomState::create(ctx(5), room_id(), "Maths".into(), &caller(0));
    assert_eq!(events.len(), 2);
    assert_eq!(state.role(room_id(), person(0)), Some(Role::Owner));
    assert_eq!(state.title(room_id()).unwrap(), "Maths");
    assert_eq!(state.main.created_at, 5);
}

#[test]
fn strangers_are_told_the_room_does_not_exist() {
    let mut state = workshop();
    let before = state.clone();
    let stranger = 7;
    for cmd in [
        Command::PostMessage {
            room: room_id(),
            text: "hi".into(),
        },
        Command::Rename {
            room: room_id(),
            name: "Mine".into(),
        },
        Command::DeleteRoom,
        Command::RemoveMember {
            room: room_id(),
            person_id: person(2),
        },
    ] {
        assert_eq!(
            run(&mut state, stranger, cmd),
            Err(DomainError::NotFound("room"))
        );
    }
    assert_eq!(state, before);
}

#[test]
fn participants_post_but_do_not_manage() {
    let mut state = workshop();
    assert!(
        run(
            &mut state,
            2,
            Command::PostMessage {
                room: room_id(),
                text: "hi".into()
            }
        )
        .is_ok()
    );
    let refused = [
        Command::Rename {
            room: room_id(),
            name: "x".into(),
        },
        Command::AddMember {
            room: room_id(),
            person_id: person(5),
            display_name: "P5".into(),
            role: Role::Participant,
        },
        Command::ChangeRole {
            room: room_id(),
            person_id: person(1),
            role: Role::Participant,
        },
        Command::RemoveMember {
            room: room_id(),
            person_id: person(1),
        },
        Command::DeleteRoom,
    ];
    for cmd in refused {
        assert!(matches!(
            run(&mut state, 2, cmd),
            Err(DomainError::Forbidden(_))
        ));
    }
}

#[test]
fn moderators_manage_everyone_but_owners() {
    let mut state = workshop();
    let add = Command::AddMember {
        room: room_id(),
        person_id: person(5),
        display_name: "P5".into(),
        role: Role::Owner,
    };
    assert!(matches!(
        run(&mut state, 1, add),
        Err(DomainError::Forbidden(_))
    ));
    let demote_owner = Command::ChangeRole {
        room: room_id(),
        person_id: person(0),
        role: Role::Moderator,
    };
    assert!(matches!(
        run(&mut state, 1, demote_owner),
        Err(DomainError::Forbidden(_))
    ));
    let promote = Command::ChangeRole {
        room: room_id(),
        person_id: person(2),
        role: Role::Moderator,
    };
    assert_eq!(run(&mut state, 1, promote).unwrap().len(), 2);
    assert!(matches!(
        run(&mut state, 1, Command::DeleteRoom),
        Err(DomainError::Forbidden(_))
    ));
    let kick = Command::RemoveMember {
        room: room_id(),
        person_id: person(2),
    };
    assert!(run(&mut state, 1, kick).is_ok());
    assert_eq!(state.role(room_id(), person(2)), None);
}

#[test]
fn the_last_owner_stays() {
    let mut state = workshop();
    let leave = Command::RemoveMember {
        room: room_id(),
        person_id: person(0),
    };
    assert!(matches!(
        run(&mut state, 0, leave.clone()),
        Err(DomainError::Conflict {
            code: "last_owner",
            ..
        })
    ));
    let step_down = Command::ChangeRole {
        room: room_id(),
        person_id: person(0),
        role: Role::Participant,
    };
    assert!(matches!(
        run(&mut state, 0, step_down),
        Err(DomainError::Conflict {
            code: "last_owner",
            ..
        })
    ));
    run(
        &mut state,
        0,
        Command::ChangeRole {
            room: room_id(),
            person_id: person(1),
            role: Role::Owner,
        },
    )
    .unwrap();
    assert!(run(&mut state, 0, leave).is_ok());
}

#[test]
fn no_op_commands_produce_no_events() {
    let mut state = workshop();
    assert!(
        run(
            &mut state,
            0,
            Command::Rename {
                room: room_id(),
                name: "Workshop".into()
            }
        )
        .unwrap()
        .is_empty()
    );
    let same = Command::ChangeRole {
        room: room_id(),
        person_id: person(2),
        role: Role::Participant,
    };
    assert!(run(&mut state, 0, same).unwrap().is_empty());
}

#[test]
fn breakout_rooms_are_seen_by_their_members_and_the_main_rooms_moderators() {
    let mut state = workshop();
    let breakout = RoomId(uuid::Uuid::from_u128(500));
    state.fold(&Event::RoomCreated {
        room: breakout,
        info: RoomInfo {
            id: breakout,
            parent_id: Some(room_id()),
            name: "Group A".into(),
            created_at: 1,
        },
    });
    state.fold(&Event::MemberAdded {
        room: breakout,
        member: Member {
            person_id: person(8),
            display_name: "Guest".into(),
            role: Role::Participant,
        },
    });
    assert_eq!(state.title(breakout).unwrap(), "Workshop : Group A");
    assert!(state.can_see(breakout, person(8)), "a direct member");
    assert!(
        !state.can_see(room_id(), person(8)),
        "breakout-only members do not see the main room"
    );
    assert_eq!(
        state.effective_role(breakout, person(1)),
        Some(Role::Moderator)
    );
    assert_eq!(
        state.effective_role(breakout, person(0)),
        Some(Role::Moderator)
    );
    assert!(
        !state.can_see(breakout, person(2)),
        "main-room participants are not in the breakout yet"
    );
    let msg = Event::MessagePosted {
        room: breakout,
        message: Message {
            id: MessageId::new(),
            room_id: breakout,
            author_id: None,
            author_name: None,
            kind: MessageKind::System,
            text: "x".into(),
            created_at: 0,
        },
    };
    assert!(state.should_receive(&msg, person(8), false, &[]));
    assert!(state.should_receive(&msg, person(1), false, &[]));
    assert!(!state.should_receive(&msg, person(2), false, &[]));
}

#[derive(Debug, Clone)]
enum Op {
    Add(u128, Role),
    Change(u128, Role),
    Remove(u128),
    Post,
    Rename(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let role = prop_oneof![
        Just(Role::Owner),
        Just(Role::Moderator),
        Just(Role::Participant)
    ];
    prop_oneof![
        (0u128..6, role.clone()).prop_map(|(p, r)| Op::Add(p, r)),
        (0u128..6, role).prop_map(|(p, r)| Op::Change(p, r)),
        (0u128..6).prop_map(Op::Remove),
        Just(Op::Post),
        any::<bool>().prop_map(Op::Rename),
    ]
}

proptest! {
    /// Whatever random people ask in whatever order: refused commands change nothing, the room
    /// always keeps an owner, and only managers ever changed membership.
    #[test]
    fn invariants_hold_under_random_commands(steps in proptest::collection::vec((0u128..6, op()), 1..60)) {
        let mut state = workshop();
        for (who, op) in steps {
            let command = match op {
                Op::Add(p, role) => Command::AddMember { room: room_id(), person_id: person(p), display_name: format!("P{p}"), role },
                Op::Change(p, role) => Command::ChangeRole { room: room_id(), person_id: person(p), role },
                Op::Remove(p) => Command::RemoveMember { room: room_id(), person_id: person(p) },
                Op::Post => Command::PostMessage { room: room_id(), text: "hi".into() },
                Op::Rename(flip) => Command::Rename { room: room_id(), name: if flip { "A".into() } else { "B".into() } },
            };
            let before = state.clone();
            let caller_role = before.role(room_id(), person(who));
            let is_self_removal = matches!(&command, Command::RemoveMember { person_id, .. } if *person_id == person(who));
            let changes_members = matches!(command, Command::AddMember { .. } | Command::ChangeRole { .. } | Command::RemoveMember { .. });
            match apply(&state, &caller(who), command, ctx(1)) {
                Ok(events) => {
                    prop_assert!(caller_role.is_some(), "a non-member's command was accepted");
                    if changes_members && !events.is_empty() && !is_self_removal {
                        prop_assert!(caller_role.is_some_and(Role::manages));
                    }
                    for e in &events {
                        state.fold(e);
                    }
                }
                Err(_) => prop_assert_eq!(&state, &before, "a refused command changed the state"),
            }
            prop_assert!(state.owners(room_id()) >= 1, "the room lost its last owner");
        }
    }
}
