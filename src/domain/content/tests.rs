//! Content rules: who adds, sees, deletes, shares and promotes.

use super::*;
use crate::domain::room::{Command, apply as apply_room};
use crate::domain::testkit::{breakout, caller, ctx, main_room, person, workshop};

fn run(
    state: &mut RoomState,
    who: u128,
    command: ContentCommand,
) -> Result<Vec<Event>, DomainError> {
    let events = apply_room(
        state,
        &caller(who),
        Command::Content(command),
        ctx(state.content.len() as u64 + 7),
    )?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

fn link(title: &str) -> NewContent {
    NewContent {
        kind: ContentKind::Link,
        title: title.into(),
        file: None,
        url: Some("https://example.org".into()),
    }
}

fn add(state: &mut RoomState, who: u128, room: RoomId, title: &str) -> ContentId {
    let events = run(
        state,
        who,
        ContentCommand::Add {
            room,
            item: link(title),
        },
    )
    .unwrap();
    match &events[0] {
        Event::ContentAdded { item, .. } => item.id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn breakout_only_members_never_see_main_room_content() {
    let mut state = workshop();
    let doc = add(&mut state, 0, main_room(), "Agenda");
    assert!(state.item_in(main_room(), doc, person(2)).is_some());
    assert!(state.item_in(main_room(), doc, person(3)).is_none());
    assert!(state.items_in(main_room(), person(3)).is_empty());
    assert!(state.items_in(breakout(0), person(3)).is_empty());
    let err = run(
        &mut state,
        3,
        ContentCommand::Delete {
            room: main_room(),
            id: doc,
        },
    );
    assert_eq!(err, Err(DomainError::NotFound("content item")));
}

#[test]
fn sharing_shows_a_main_room_item_in_the_chosen_breakout_rooms_only() {
    let mut state = workshop();
    let doc = add(&mut state, 0, main_room(), "Worksheet");
    let share = ContentCommand::Share {
        id: doc,
        rooms: Some(vec![breakout(0)]),
    };
    assert!(matches!(
        run(&mut state, 2, share.clone()),
        Err(DomainError::Forbidden(_))
    ));
    run(&mut state, 1, share).unwrap();
    assert!(state.item_in(breakout(0), doc, person(3)).is_some());
    assert!(state.item_in(breakout(1), doc, person(0)).is_none());
    // Still not in the main room's list for a breakout-only member.
    assert!(state.item_in(main_room(), doc, person(3)).is_none());
    // All rooms, then none.
    run(
        &mut state,
        1,
        ContentCommand::Share {
            id: doc,
            rooms: None,
        },
    )
    .unwrap();
    assert_eq!(state.content[&doc].shared_with.len(), 2);
    run(
        &mut state,
        1,
        ContentCommand::Share {
            id: doc,
            rooms: Some(vec![]),
        },
    )
    .unwrap();
    assert!(state.item_in(breakout(0), doc, person(3)).is_none());
    // Only main-room items can be shared.
    let own = add(&mut state, 3, breakout(0), "Notes");
    let err = run(
        &mut state,
        0,
        ContentCommand::Share {
            id: own,
            rooms: None,
        },
    );
    assert!(
        matches!(err, Err(DomainError::NotFound(_))),
        "not in the main room: {err:?}"
    );
    // A shared item is deleted where it lives, not from a room it is shared with.
    run(
        &mut state,
        1,
        ContentCommand::Share {
            id: doc,
            rooms: None,
        },
    )
    .unwrap();
    let err = run(
        &mut state,
        0,
        ContentCommand::Delete {
            room: breakout(0),
            id: doc,
        },
    );
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
}

#[test]
fn promoting_copies_a_breakout_item_into_the_main_room_once() {
    let mut state = workshop();
    let notes = add(&mut state, 3, breakout(0), "Group notes");
    let events = run(
        &mut state,
        3,
        ContentCommand::Promote {
            room: breakout(0),
            id: notes,
        },
    )
    .unwrap();
    let Event::ContentAdded { item: copy, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(copy.room_id, main_room());
    let from = copy.promoted_from.as_ref().unwrap();
    assert_eq!(
        (from.room, from.room_name.as_str(), from.item),
        (breakout(0), "A", notes)
    );
    assert!(
        state.item_in(breakout(0), notes, person(3)).is_some(),
        "the original stays"
    );
    assert!(state.item_in(main_room(), copy.id, person(2)).is_some());
    let again = run(
        &mut state,
        0,
        ContentCommand::Promote {
            room: breakout(0),
            id: notes,
        },
    );
    assert!(matches!(
        again,
        Err(DomainError::Conflict {
            code: "already_promoted",
            ..
        })
    ));
    // Main-room items cannot be promoted.
    let doc = add(&mut state, 0, main_room(), "Agenda");
    let err = run(
        &mut state,
        0,
        ContentCommand::Promote {
            room: main_room(),
            id: doc,
        },
    );
    assert!(matches!(
        err,
        Err(DomainError::Conflict {
            code: "not_in_breakout_room",
            ..
        })
    ));
    // Deleting the breakout room keeps the copy.
    state.fold(&Event::BreakoutRoomsDeleted {
        room: main_room(),
        rooms: vec![breakout(0)],
    });
    assert!(state.content.contains_key(&copy.id));
    assert!(!state.content.contains_key(&notes));
}

#[test]
fn a_room_setting_can_stop_participants_promoting() {
    let mut state = workshop();
    let notes = add(&mut state, 2, breakout(0), "Notes");
    state.breakout.config.participants_promote = false;
    let err = run(
        &mut state,
        2,
        ContentCommand::Promote {
            room: breakout(0),
            id: notes,
        },
    );
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
    run(
        &mut state,
        1,
        ContentCommand::Promote {
            room: breakout(0),
            id: notes,
        },
    )
    .unwrap();
}

#[test]
fn authors_and_managers_delete_others_do_not() {
    let mut state = workshop();
    let doc = add(&mut state, 2, main_room(), "Mine");
    let other = add(&mut state, 0, main_room(), "Owner's");
    let err = run(
        &mut state,
        2,
        ContentCommand::Delete {
            room: main_room(),
            id: other,
        },
    );
    assert!(matches!(err, Err(DomainError::Forbidden(_))));
    run(
        &mut state,
        2,
        ContentCommand::Delete {
            room: main_room(),
            id: doc,
        },
    )
    .unwrap();
    run(
        &mut state,
        1,
        ContentCommand::Delete {
            room: main_room(),
            id: other,
        },
    )
    .unwrap();
    assert!(state.content.is_empty());
}

#[test]
fn a_file_item_needs_a_file_and_a_link_a_url() {
    let mut state = workshop();
    let bad = NewContent {
        kind: ContentKind::File,
        title: "x".into(),
        file: None,
        url: Some("https://x".into()),
    };
    let err = run(
        &mut state,
        0,
        ContentCommand::Add {
            room: main_room(),
            item: bad,
        },
    );
    assert!(matches!(
        err,
        Err(DomainError::Invalid { field: "kind", .. })
    ));
}
