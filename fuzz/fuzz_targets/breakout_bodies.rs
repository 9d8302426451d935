//! The JSON bodies of breakout commands: parsed, and when they parse, applied to a room with
//! breakout rooms by its owner. The rules refuse or accept; nothing panics, and an accepted
//! change of settings always leaves valid settings.
#![no_main]

use huddle::domain::breakout::{BreakoutCommand, BreakoutConfig, CallToAction, ConfigChanges};
use huddle::domain::room::{Caller, Command, Ctx, RoomState, apply};
use huddle::http::breakout::{BroadcastBody, CreateRoomsBody, MoveBody, StopBody};
use huddle::ids::{PersonId, RoomId};
use libfuzzer_sys::fuzz_target;

fn owner() -> Caller {
    Caller {
        person_id: PersonId(uuid_from(1)),
        display_name: "Owner".into(),
    }
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

/// A main room with two breakout rooms, owned by `owner()`.
fn room() -> RoomState {
    let (mut state, _) = RoomState::create(Ctx::new(1, 0), RoomId(uuid_from(100)), "Main".into(), &owner());
    let create = Command::Breakout(BreakoutCommand::CreateRooms { count: Some(2), names: None });
    for event in apply(&state, &owner(), create, Ctx::new(2, 0)).expect("two rooms") {
        state.fold(&event);
    }
    state
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, json)) = bytes.split_first() else { return };
    let state = room();
    let command = match kind % 6 {
        0 => serde_json::from_slice::<ConfigChanges>(json)
            .ok()
            .map(|changes| BreakoutCommand::Change { changes }),
        1 => serde_json::from_slice::<BreakoutConfig>(json)
            .ok()
            .map(|config| BreakoutCommand::Configure { config }),
        // As the handlers turn bodies into commands: exactly one of count, names and name; a
        // call to action validated first.
        2 => match serde_json::from_slice::<CreateRoomsBody>(json) {
            Ok(b) => match (b.count, b.names, b.name) {
                (Some(n), None, None) => Some(BreakoutCommand::CreateRooms { count: Some(n), names: None }),
                (None, Some(names), None) => Some(BreakoutCommand::CreateRooms { count: None, names: Some(names) }),
                (None, None, Some(name)) => Some(BreakoutCommand::CreateRooms { count: None, names: Some(vec![name]) }),
                _ => None,
            },
            Err(_) => None,
        },
        3 => serde_json::from_slice::<MoveBody>(json).ok().map(|b| BreakoutCommand::Assign {
            person_id: b.person_id,
            breakout: b.breakout,
        }),
        4 => serde_json::from_slice::<BroadcastBody>(json).ok().and_then(|b| {
            let cta = b.cta.map(CallToAction::validate).transpose().ok()?;
            Some(match (b.breakout, &cta) {
                (Some(breakout), None) => BreakoutCommand::MessageRoom { breakout, text: b.text },
                _ => BreakoutCommand::Broadcast { text: b.text, cta },
            })
        }),
        _ => serde_json::from_slice::<StopBody>(json).ok().map(|b| match b.rooms {
            Some(rooms) => BreakoutCommand::BringBack { rooms },
            None => BreakoutCommand::Stop,
        }),
    };
    let Some(command) = command else { return };
    if let Ok(events) = apply(&state, &owner(), Command::Breakout(command), Ctx::new(3, 7)) {
        let mut after = state.clone();
        for event in &events {
            after.fold(event);
        }
        after.breakout.config.validate().expect("accepted settings are valid");
    }
});
