//! Helpers shared by the domain's tests: people with predictable ids and names.

use super::room::Caller;
use crate::ids::PersonId;

/// Person number `n` (ids are `n + 1`, so none is the nil UUID).
pub fn person(n: u128) -> PersonId {
    PersonId(uuid::Uuid::from_u128(n + 1))
}

/// Person `n` as a caller, named `P{n}`.
pub fn caller(n: u128) -> Caller {
    Caller {
        person_id: person(n),
        display_name: format!("P{n}"),
    }
}

use super::room::{Ctx, Event, Member, Role, RoomInfo, RoomState};
use crate::ids::RoomId;

/// The main room of [`workshop`].
pub fn main_room() -> RoomId {
    RoomId(uuid::Uuid::from_u128(500))
}

/// Breakout room `n` (0 or 1) of [`workshop`].
pub fn breakout(n: u128) -> RoomId {
    RoomId(uuid::Uuid::from_u128(600 + n))
}

/// A context at time 1 with seed `seed`.
pub fn ctx(seed: u64) -> Ctx {
    Ctx::new(1, seed)
}

/// A main room "Main" owned by person 0, with moderator 1 and participant 2, two breakout rooms
/// ("A" and "B"), participant 2 assigned to A, and person 3 a direct (breakout-only) member of A.
pub fn workshop() -> RoomState {
    let (mut state, _) = RoomState::create(ctx(0), main_room(), "Main".into(), &caller(0));
    let rooms = ["A", "B"]
        .iter()
        .enumerate()
        .map(|(i, name)| RoomInfo {
            id: breakout(i as u128),
            parent_id: Some(main_room()),
            name: (*name).into(),
            created_at: 0,
        })
        .collect();
    let member = |n: u128, role| Member {
        person_id: person(n),
        display_name: format!("P{n}"),
        role,
    };
    for event in [
        Event::MemberAdded {
            room: main_room(),
            member: member(1, Role::Moderator),
        },
        Event::MemberAdded {
            room: main_room(),
            member: member(2, Role::Participant),
        },
        Event::BreakoutRoomsCreated {
            room: main_room(),
            rooms,
        },
        Event::MemberAdded {
            room: breakout(0),
            member: member(3, Role::Participant),
        },
        Event::Assigned {
            room: main_room(),
            person_id: person(2),
            breakout: Some(breakout(0)),
            by: None,
        },
    ] {
        state.fold(&event);
    }
    state
}
