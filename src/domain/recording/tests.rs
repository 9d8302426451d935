//! Recording rules: who records, several at once, what stops a recording, the item it becomes.

use super::*;
use crate::domain::breakout::StopReason;
use crate::domain::room::{Command, apply as apply_room};
use crate::domain::testkit::{breakout, caller, ctx, main_room, person, workshop};

fn run(
    state: &mut RoomState,
    who: u128,
    command: RecordingCommand,
) -> Result<Vec<Event>, DomainError> {
    let events = apply_room(
        state,
        &caller(who),
        Command::Recording(command),
        ctx(state.recordings.len() as u64 + 11),
    )?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

/// The workshop with someone in each of its rooms.
fn occupied() -> RoomState {
    let mut state = workshop();
    state.locations.insert(person(0), main_room());
    state.locations.insert(person(2), breakout(0));
    state.locations.insert(person(1), breakout(1));
    state
}

fn start(state: &mut RoomState, who: u128, room: RoomId) -> Result<Vec<Event>, DomainError> {
    run(state, who, RecordingCommand::Start { room })
}

#[test]
fn owners_and_moderators_record_any_room_and_nobody_else_does() {
    let mut state = occupied();
    // Participant 2 (assigned to A) may see both rooms but not record them.
    for room in [main_room(), breakout(0)] {
        assert!(matches!(
            start(&mut state, 2, room),
            Err(DomainError::Forbidden(_))
        ));
    }
    // Person 3 belongs to A only: the main room does not exist for them.
    assert_eq!(
        start(&mut state, 3, main_room()).unwrap_err(),
        DomainError::NotFound("room")
    );
    assert!(matches!(
        start(&mut state, 3, breakout(0)),
        Err(DomainError::Forbidden(_))
    ));
    // A stranger, and a room of another stream.
    assert_eq!(
        start(&mut state, 9, breakout(1)).unwrap_err(),
        DomainError::NotFound("room")
    );
    assert_eq!(
        start(&mut state, 0, RoomId(uuid::Uuid::from_u128(77))).unwrap_err(),
        DomainError::NotFound("room")
    );
    assert!(
        state.recordings.is_empty(),
        "nothing refused changed anything"
    );

    // Several at once: the owner records the main room, the moderator both breakout rooms.
    start(&mut state, 0, main_room()).unwrap();
    start(&mut state, 1, breakout(0)).unwrap();
    let events = start(&mut state, 1, breakout(1)).unwrap();
    match &events[..] {
        [Event::RecordingStarted { room, recording }] => {
            assert_eq!(*room, breakout(1));
            assert_eq!(recording.started_by, person(1));
            assert_eq!(recording.started_by_name, "P1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.recordings.len(), 3);
    let again = start(&mut state, 0, breakout(0)).unwrap_err();
    assert!(matches!(
        again,
        DomainError::Conflict {
            code: "already_recording",
            ..
        }
    ));
}

#[test]
fn a_stop_needs_a_recording_and_says_who_stopped_it() {
    let mut state = occupied();
    let err = run(&mut state, 0, RecordingCommand::Stop { room: breakout(0) }).unwrap_err();
    assert!(matches!(
        err,
        DomainError::Conflict {
            code: "not_recording",
            ..
        }
    ));
    start(&mut state, 0, breakout(0)).unwrap();
    let err = run(&mut state, 2, RecordingCommand::Stop { room: breakout(0) }).unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)));
    let events = run(&mut state, 1, RecordingCommand::Stop { room: breakout(0) }).unwrap();
    match &events[..] {
        [
            Event::RecordingStopped {
                reason,
                by,
                recording,
                ..
            },
        ] => {
            assert_eq!(*reason, RecordingEnd::Stopped);
            assert_eq!(*by, Some(person(1)));
            assert_eq!(recording.started_by, person(0));
        }
        other => panic!("{other:?}"),
    }
    assert!(state.recordings.is_empty());
}

#[test]
fn the_end_of_a_round_stops_breakout_recordings_but_not_the_main_rooms() {
    let mut state = occupied();
    for room in [main_room(), breakout(0), breakout(1)] {
        start(&mut state, 0, room).unwrap();
    }
    let stop = [Event::BreakoutStopped {
        room: main_room(),
        reason: StopReason::Stopped,
    }];
    let stops = follow(&state, &stop, 5);
    let rooms: Vec<RoomId> = stops.iter().map(Event::room).collect();
    assert_eq!(rooms, vec![breakout(0), breakout(1)]);
    assert!(stops.iter().all(|e| matches!(
        e,
        Event::RecordingStopped {
            reason: RecordingEnd::RoundEnded,
            by: None,
            stopped_at: 5,
            ..
        }
    )));
    // A stop already in the batch is not repeated; a room brought back or deleted stops too.
    let batch = [
        stops[0].clone(),
        Event::RoomsBroughtBack {
            room: main_room(),
            rooms: vec![breakout(0), breakout(1)],
        },
    ];
    let more = follow(&state, &batch, 6);
    assert_eq!(
        more.iter().map(Event::room).collect::<Vec<_>>(),
        vec![breakout(1)]
    );
    let deleted = [Event::BreakoutRoomsDeleted {
        room: main_room(),
        rooms: vec![breakout(1)],
    }];
    assert!(matches!(
        &follow(&state, &deleted, 7)[..],
        [Event::RecordingStopped {
            reason: RecordingEnd::RoomClosed,
            ..
        }]
    ));
    // Nothing else stops anything.
    let unrelated = [Event::BreakoutClosing {
        room: main_room(),
        closes_at: 9,
    }];
    assert!(follow(&state, &unrelated, 8).is_empty());
}

#[test]
fn a_room_is_empty_when_nobody_is_located_there() {
    let mut state = occupied();
    start(&mut state, 0, main_room()).unwrap();
    start(&mut state, 0, breakout(0)).unwrap();
    state.locations.clear();
    assert_eq!(emptied(&state), vec![main_room(), breakout(0)]);
    state.locations.insert(person(2), breakout(0));
    assert_eq!(emptied(&state), vec![main_room()]);
    state.locations.insert(person(0), main_room());
    assert!(emptied(&state).is_empty());
    let stop = stop(&state, breakout(0), RecordingEnd::Emptied, 40).unwrap();
    assert!(matches!(
        stop,
        Event::RecordingStopped {
            reason: RecordingEnd::Emptied,
            stopped_at: 40,
            ..
        }
    ));
    assert!(super::stop(&state, breakout(1), RecordingEnd::Emptied, 40).is_none());
}

#[test]
fn the_composed_file_becomes_one_item_of_its_room_by_who_started_it() {
    let mut state = occupied();
    start(&mut state, 1, breakout(0)).unwrap();
    let recording = state.recordings[&breakout(0)].clone();
    run(&mut state, 1, RecordingCommand::Stop { room: breakout(0) }).unwrap();
    let file = FileInfo {
        name: "recording.webm".into(),
        content_type: "video/webm".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        duration_ms: Some(20_000),
    };
    let finish = RecordingCommand::Finish {
        room: breakout(0),
        id: recording.id,
        started_at: recording.started_at,
        file: file.clone(),
    };
    // The composer acts on behalf of whoever started it.
    let events = run(&mut state, 1, finish.clone()).unwrap();
    let item = match &events[..] {
        [Event::ContentAdded { room, item }] if *room == breakout(0) => item.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(item.id, ContentId(recording.id.0));
    assert_eq!(item.kind, ContentKind::Recording);
    assert_eq!(item.file, Some(file));
    assert_eq!(item.created_by, person(1));
    assert!(item.title.starts_with("Recording of A, "), "{}", item.title);
    // Finishing again (a crash between the item and removing the files) adds nothing.
    assert!(run(&mut state, 1, finish).unwrap().is_empty());
    // The breakout-only member sees it in their room, and a moderator may promote it.
    assert!(state.item_in(breakout(0), item.id, person(3)).is_some());
    let promoted = apply_room(
        &state,
        &caller(1),
        Command::Content(crate::domain::content::ContentCommand::Promote {
            room: breakout(0),
            id: item.id,
        }),
        ctx(99),
    )
    .unwrap();
    assert!(matches!(&promoted[..], [Event::ContentAdded { room, .. }] if *room == main_room()));
}

#[test]
fn everyone_who_sees_the_room_and_only_they_hear_of_its_recording() {
    let mut state = occupied();
    let events = start(&mut state, 0, breakout(0)).unwrap();
    let event = &events[0];
    for (who, hears) in [(0, true), (1, true), (2, true), (3, true)] {
        assert_eq!(
            state.should_receive(event, person(who), false, &[]),
            hears,
            "P{who}"
        );
    }
    let events = start(&mut state, 0, main_room()).unwrap();
    assert!(
        !state.should_receive(&events[0], person(3), true, &[]),
        "breakout-only"
    );
    assert!(state.should_receive(&events[0], person(2), false, &[]));
    assert!(
        !state.should_receive(&events[0], person(9), true, &[]),
        "stranger"
    );
}

#[test]
fn a_recording_needs_someone_in_the_room_and_room_under_the_limit() {
    let mut state = occupied();
    state.locations.remove(&person(2));
    let err = start(&mut state, 0, breakout(0)).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::Conflict {
                code: "room_empty",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(state.recordings.is_empty());
    state.locations.insert(person(2), breakout(0));

    // At most `max_recordings` in the main room with its breakout rooms.
    let limited = |state: &RoomState, room| {
        let mut ctx = ctx(50);
        ctx.max_recordings = 2;
        apply_room(
            state,
            &caller(0),
            Command::Recording(RecordingCommand::Start { room }),
            ctx,
        )
    };
    for room in [main_room(), breakout(0)] {
        for e in limited(&state, room).unwrap() {
            state.fold(&e);
        }
    }
    let err = limited(&state, breakout(1)).unwrap_err();
    match err {
        DomainError::Conflict { code, message } => {
            assert_eq!(code, "recording_limit");
            assert!(message.contains("max_recordings_per_room"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.recordings.len(), 2);
    // One stopped makes room.
    run(&mut state, 0, RecordingCommand::Stop { room: main_room() }).unwrap();
    for e in limited(&state, breakout(1)).unwrap() {
        state.fold(&e);
    }
    assert_eq!(state.recordings.len(), 2);
}
