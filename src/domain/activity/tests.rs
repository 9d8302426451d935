//! Activity rules: who sets tasks, who sees them when, handing in, and the hand-over at the end
//! of a round.

use super::*;
use crate::domain::breakout::{BreakoutCommand, BreakoutConfig};
use crate::domain::content::{ContentCommand, ContentKind, FileInfo};
use crate::domain::room::{Audience, Command, apply as apply_room};
use crate::domain::testkit::{breakout, caller, main_room, person, workshop};

fn seed() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn run(state: &mut RoomState, who: u128, command: Command) -> Result<Vec<Event>, DomainError> {
    let events = apply_room(state, &caller(who), command, Ctx::new(1_000, seed()))?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

fn set(rooms: Vec<RoomId>, task: &str, documents: Vec<ContentId>) -> Command {
    Command::Activity(ActivityCommand::Set {
        rooms,
        task: task.into(),
        documents,
    })
}

fn hand_in(result: Submission) -> Command {
    Command::Activity(ActivityCommand::HandIn { result })
}

fn file(name: &str) -> NewContent {
    NewContent {
        kind: ContentKind::File,
        title: name.into(),
        file: Some(FileInfo {
            name: name.into(),
            content_type: "text/plain".into(),
            size: 5,
            sha256: "ab".repeat(32),
            duration_ms: None,
        }),
        url: None,
    }
}

/// Adds a file to `room` as `who`; its id.
fn add(state: &mut RoomState, who: u128, room: RoomId, name: &str) -> ContentId {
    let add = ContentCommand::Add {
        room,
        item: file(name),
    };
    match &run(state, who, Command::Content(add)).unwrap()[0] {
        Event::ContentAdded { item, .. } => item.id,
        other => panic!("{other:?}"),
    }
}

/// The workshop with breakout rooms on and person 2 connected (assigned to A).
fn ready() -> RoomState {
    let mut state = workshop();
    let on = BreakoutCommand::Configure {
        config: BreakoutConfig {
            enabled: true,
            ..BreakoutConfig::default()
        },
    };
    run(&mut state, 0, Command::Breakout(on)).unwrap();
    state.fold(&Event::Connected {
        room: main_room(),
        person_id: person(2),
        display_name: "P2".into(),
        location: main_room(),
    });
    state
}

fn start(state: &mut RoomState) {
    run(state, 0, Command::Breakout(BreakoutCommand::Start)).unwrap();
    assert_eq!(state.locations[&person(2)], breakout(0));
}

#[test]
fn only_moderators_set_tasks_and_their_documents_are_shared_with_the_rooms() {
    let mut state = ready();
    let sheet = add(&mut state, 0, main_room(), "Worksheet");
    assert_eq!(
        run(&mut state, 2, set(vec![], "Read it", vec![])),
        Err(DomainError::Forbidden(
            "only owners and moderators may do this"
        ))
    );
    assert_eq!(
        run(&mut state, 9, set(vec![], "Read it", vec![])),
        Err(DomainError::NotFound("room"))
    );
    // No rooms named: all of them; the worksheet is shared with both.
    let events = run(
        &mut state,
        1,
        set(vec![], "  Read it  ", vec![sheet, sheet]),
    )
    .unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        state.content[&sheet].shared_with,
        vec![breakout(0), breakout(1)]
    );
    assert_eq!(state.activities[&breakout(1)].task, "Read it");
    assert_eq!(state.activities[&breakout(1)].documents, vec![sheet]);
    // The same again changes nothing; a room's own item is no document; an unknown room.
    assert!(
        run(&mut state, 1, set(vec![], "Read it", vec![sheet]))
            .unwrap()
            .is_empty()
    );
    let own = add(&mut state, 0, breakout(0), "Notes");
    assert_eq!(
        run(&mut state, 1, set(vec![], "Read it", vec![own])),
        Err(DomainError::NotFound("content item"))
    );
    let nowhere = RoomId(uuid::Uuid::from_u128(77));
    assert_eq!(
        run(&mut state, 1, set(vec![nowhere], "x", vec![])),
        Err(DomainError::NotFound("breakout room"))
    );
    let long = "x".repeat(MAX_TASK_CHARS + 1);
    assert!(matches!(
        run(&mut state, 1, set(vec![], &long, vec![])),
        Err(DomainError::Invalid { field: "task", .. })
    ));
    // An empty task with no documents clears it, for the rooms named.
    run(&mut state, 1, set(vec![breakout(1)], " ", vec![])).unwrap();
    assert!(!state.activities.contains_key(&breakout(1)));
    assert!(state.activities.contains_key(&breakout(0)));
}

#[test]
fn a_task_reaches_its_room_only_while_a_round_runs() {
    let mut state = ready();
    let events = run(&mut state, 0, set(vec![breakout(0)], "Plan a trip", vec![])).unwrap();
    let event = &events[0];
    assert_eq!(state.audience(event), Audience::Moderators(breakout(0)));
    assert!(!state.should_receive(event, person(2), false, &[]));
    assert!(state.should_receive(event, person(1), false, &[]));
    start(&mut state);
    let events = run(&mut state, 0, set(vec![breakout(0)], "Plan a day", vec![])).unwrap();
    assert_eq!(state.audience(&events[0]), Audience::Room(breakout(0)));
    assert!(state.should_receive(&events[0], person(2), false, &[]));
    assert!(
        state.should_receive(&events[0], person(3), false, &[]),
        "breakout-only members of A"
    );
}

#[test]
fn a_room_hands_in_its_result_and_the_round_end_copies_it_into_the_main_room() {
    let mut state = ready();
    run(&mut state, 0, set(vec![breakout(0)], "Draw a map", vec![])).unwrap();
    let early = hand_in(Submission::New(file("map.txt")));
    assert!(matches!(
        run(&mut state, 2, early),
        Err(DomainError::Conflict {
            code: "not_running",
            ..
        })
    ));
    start(&mut state);
    // An item of another room is not this room's result.
    let elsewhere = add(&mut state, 0, breakout(1), "Other");
    assert_eq!(
        run(&mut state, 2, hand_in(Submission::Item(elsewhere))),
        Err(DomainError::NotFound("content item"))
    );
    // A text (stored as a file) becomes an item of the room and its result; a later one
    // replaces it.
    let events = run(&mut state, 2, hand_in(Submission::New(file("draft.txt")))).unwrap();
    assert!(matches!(&events[0], Event::ContentAdded { room, .. } if *room == breakout(0)));
    let map = add(&mut state, 2, breakout(0), "Map");
    run(&mut state, 2, hand_in(Submission::Item(map))).unwrap();
    let result = state.activities[&breakout(0)].result.clone().unwrap();
    assert_eq!((result.item, result.by), (map, person(2)));
    // The main room is not a breakout room; a room without a task hands in nothing.
    state.fold(&Event::Located {
        room: main_room(),
        person_id: person(2),
        location: breakout(1),
    });
    assert!(matches!(
        run(&mut state, 2, hand_in(Submission::Item(map))),
        Err(DomainError::Conflict {
            code: "no_activity",
            ..
        })
    ));

    // The round ends: the map lands in the main room, named by its room; the task stays.
    let events = run(&mut state, 0, Command::Breakout(BreakoutCommand::Stop)).unwrap();
    let copy = events
        .iter()
        .find_map(|e| match e {
            Event::ContentAdded { room, item } if *room == main_room() => Some(item.clone()),
            _ => None,
        })
        .expect("the result copied into the main room");
    assert_eq!(copy.title, "A: Map");
    assert_eq!(copy.promoted_from.as_ref().unwrap().item, map);
    assert_eq!(copy.promoted_from.as_ref().unwrap().by, person(2));
    assert_ne!(copy.id, map);
    let activity = &state.activities[&breakout(0)];
    assert_eq!(
        (activity.task.as_str(), &activity.result),
        ("Draw a map", &None)
    );

    // Handed in again next round: already in the main room, it is not copied twice.
    state.fold(&Event::Located {
        room: main_room(),
        person_id: person(2),
        location: main_room(),
    });
    start(&mut state);
    run(&mut state, 2, hand_in(Submission::Item(map))).unwrap();
    let events = run(&mut state, 0, Command::Breakout(BreakoutCommand::Stop)).unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ContentAdded { .. })),
        "{events:?}"
    );
    assert!(state.activities[&breakout(0)].result.is_none());
}

#[test]
fn deleted_rooms_take_their_tasks_with_them() {
    let mut state = ready();
    run(&mut state, 0, set(vec![], "Discuss", vec![])).unwrap();
    let delete = BreakoutCommand::DeleteRooms {
        rooms: Some(vec![breakout(1)]),
    };
    run(&mut state, 0, Command::Breakout(delete)).unwrap();
    assert_eq!(
        state.activities.keys().copied().collect::<Vec<_>>(),
        vec![breakout(0)]
    );
}

#[test]
fn a_copy_id_is_a_new_well_formed_id() {
    let original = ContentId(uuid::Uuid::now_v7());
    let copy = copy_id(original);
    assert_ne!(copy, original);
    assert_eq!(copy.0.get_version_num(), original.0.get_version_num());
    assert_eq!(copy.0.get_variant(), original.0.get_variant());
    assert_eq!(copy_id(original), copy, "the same every time");
}
