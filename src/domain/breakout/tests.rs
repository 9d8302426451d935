//! Breakout rules one by one, and a property test: random commands from random people, with
//! people connecting and leaving and time passing, never break the invariants.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::domain::room::{Command, Ctx, Member};

const OWNER: u128 = 0;
const MODERATOR: u128 = 1;
const OUTSIDER: u128 = 99;

use crate::domain::testkit::{caller, person};

fn ctx(now: i64, seed: u64) -> Ctx {
    Ctx {
        now,
        seed,
        max_breakout_rooms: 8,
        ..Ctx::new(0, 0)
    }
}

/// A main room: owner 0, moderator 1, participants 2..2+n, all connected.
fn workshop(n: u128) -> RoomState {
    let main = RoomId(uuid::Uuid::from_u128(1_000));
    let (mut state, _) = RoomState::create(ctx(0, 1), main, "Main".into(), &caller(OWNER));
    let mut add = |p: u128, role: Role| {
        state.fold(&Event::MemberAdded {
            room: main,
            member: Member {
                person_id: person(p),
                display_name: format!("P{p}"),
                role,
            },
        });
    };
    add(MODERATOR, Role::Moderator);
    for p in 2..2 + n {
        add(p, Role::Participant);
    }
    for p in 0..2 + n {
        let event = connect(&state, person(p), format!("P{p}")).unwrap();
        state.fold(&event);
    }
    state
}

/// Each command gets its own seed, as in the server, so the ids it makes are new.
fn seed() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn run(
    state: &mut RoomState,
    who: u128,
    command: BreakoutCommand,
    now: i64,
) -> Result<Vec<Event>, DomainError> {
    let events = crate::domain::room::apply(
        state,
        &caller(who),
        Command::Breakout(command),
        ctx(now, seed()),
    )?;
    for e in &events {
        state.fold(e);
    }
    Ok(events)
}

fn enable(state: &mut RoomState, config: BreakoutConfig) {
    run(
        state,
        OWNER,
        BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: true,
                ..config
            },
        },
        0,
    )
    .unwrap();
}

fn rooms(state: &mut RoomState, n: u32) -> Vec<RoomId> {
    run(
        state,
        OWNER,
        BreakoutCommand::CreateRooms {
            count: Some(n),
            names: None,
        },
        0,
    )
    .unwrap();
    state.breakouts.keys().copied().collect()
}

fn sizes(state: &RoomState) -> Vec<usize> {
    let mut counts: HashMap<RoomId, usize> = state.breakouts.keys().map(|r| (*r, 0)).collect();
    for r in state.breakout.assignments.values() {
        *counts.get_mut(r).unwrap() += 1;
    }
    let mut v: Vec<usize> = counts.into_values().collect();
    v.sort();
    v
}

#[test]
fn rooms_get_default_names_within_the_limit() {
    let mut s = workshop(0);
    rooms(&mut s, 3);
    let names: Vec<_> = s
        .breakouts
        .values()
        .map(|r| r.name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["Room 1", "Room 2", "Room 3"]);
    assert_eq!(
        s.title(*s.breakouts.keys().next().unwrap())
            .unwrap()
            .split(" : ")
            .next(),
        Some("Main")
    );
    // Adding more continues the numbering; the limit (8 here) holds.
    run(
        &mut s,
        OWNER,
        BreakoutCommand::CreateRooms {
            count: Some(2),
            names: None,
        },
        0,
    )
    .unwrap();
    assert!(s.breakouts.values().any(|r| r.name == "Room 5"));
    let over = run(
        &mut s,
        OWNER,
        BreakoutCommand::CreateRooms {
            count: Some(4),
            names: None,
        },
        0,
    );
    assert!(matches!(
        over,
        Err(DomainError::Invalid { field: "count", .. })
    ));
    assert_eq!(s.breakouts.len(), 5);
    let bad = run(
        &mut s,
        OWNER,
        BreakoutCommand::CreateRooms {
            count: None,
            names: Some(vec!["ok".into(), " ".into()]),
        },
        0,
    );
    assert!(matches!(
        bad,
        Err(DomainError::Invalid { field: "names", .. })
    ));
}

#[test]
fn automatic_assignment_is_balanced_and_keeps_pre_assignments() {
    let mut s = workshop(11);
    enable(&mut s, BreakoutConfig::default());
    let r = rooms(&mut s, 3);
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Assign {
            person_id: person(2),
            breakout: Some(r[0]),
        },
        0,
    )
    .unwrap();
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    assert_eq!(s.breakout.assignments[&person(2)], r[0]);
    assert_eq!(sizes(&s), vec![3, 4, 4], "11 participants in 3 rooms");
    assert!(
        !s.breakout.assignments.contains_key(&person(MODERATOR)),
        "moderators are not distributed"
    );
    for p in 2..13 {
        assert_eq!(
            s.locations[&person(p)],
            s.breakout.assignments[&person(p)],
            "connected people moved at once"
        );
    }
    assert_eq!(s.locations[&person(OWNER)], s.id());
}

#[test]
fn manual_mode_distributes_nobody() {
    let mut s = workshop(4);
    enable(
        &mut s,
        BreakoutConfig {
            mode: Mode::Manual,
            ..BreakoutConfig::default()
        },
    );
    rooms(&mut s, 2);
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    assert!(s.breakout.assignments.is_empty());
    assert!(s.locations.values().all(|l| *l == s.id()));
}

#[test]
fn start_needs_enabled_rooms_and_an_idle_session() {
    let mut s = workshop(2);
    let refused = run(&mut s, OWNER, BreakoutCommand::Start, 0);
    assert!(matches!(
        refused,
        Err(DomainError::Conflict {
            code: "disabled",
            ..
        })
    ));
    enable(&mut s, BreakoutConfig::default());
    assert!(matches!(
        run(&mut s, OWNER, BreakoutCommand::Start, 0),
        Err(DomainError::Conflict {
            code: "no_rooms",
            ..
        })
    ));
    rooms(&mut s, 1);
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    assert!(matches!(
        run(&mut s, MODERATOR, BreakoutCommand::Start, 0),
        Err(DomainError::Conflict {
            code: "running",
            ..
        })
    ));
    assert!(matches!(
        run(
            &mut s,
            OWNER,
            BreakoutCommand::Configure {
                config: BreakoutConfig {
                    enabled: false,
                    ..BreakoutConfig::default()
                }
            },
            0
        ),
        Err(DomainError::Conflict {
            code: "running",
            ..
        })
    ));
    assert!(matches!(
        run(&mut s, OWNER, BreakoutCommand::Reset, 0),
        Err(DomainError::Conflict { .. })
    ));
    assert_eq!(
        run(&mut s, OWNER, BreakoutCommand::Stop, 0).unwrap().len(),
        1
    );
    assert!(
        run(&mut s, OWNER, BreakoutCommand::Stop, 0)
            .unwrap()
            .is_empty(),
        "stopping twice is harmless"
    );
}

#[test]
fn the_timer_warns_then_closes_and_can_be_extended() {
    let mut s = workshop(2);
    enable(
        &mut s,
        BreakoutConfig {
            duration_secs: Some(600),
            countdown_secs: 30,
            ..BreakoutConfig::default()
        },
    );
    rooms(&mut s, 2);
    run(&mut s, OWNER, BreakoutCommand::Start, 1_000).unwrap();
    assert_eq!(s.breakout.next_deadline(), Some(601_000));
    assert!(tick(&s, 600_999).is_empty());
    // Extend to 15 minutes while running.
    let longer = BreakoutConfig {
        duration_secs: Some(900),
        countdown_secs: 30,
        ..BreakoutConfig::default()
    };
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: true,
                ..longer
            },
        },
        2_000,
    )
    .unwrap();
    assert_eq!(s.breakout.next_deadline(), Some(901_000));
    assert!(tick(&s, 601_000).is_empty());
    let warning = tick(&s, 901_000);
    assert_eq!(
        warning,
        vec![Event::BreakoutClosing {
            room: s.id(),
            closes_at: 931_000
        }]
    );
    s.fold(&warning[0]);
    assert!(tick(&s, 930_999).is_empty());
    let stop = tick(&s, 931_000);
    assert!(matches!(
        stop[..],
        [Event::BreakoutStopped {
            reason: StopReason::TimeUp,
            ..
        }]
    ));
    s.fold(&stop[0]);
    assert!(s.locations.values().all(|l| *l == s.id()));
    // Long overdue (the server was down): close at once, no countdown.
    run(&mut s, OWNER, BreakoutCommand::Start, 1_000_000).unwrap();
    assert!(matches!(
        tick(&s, 5_000_000)[..],
        [Event::BreakoutStopped { .. }]
    ));
}

#[test]
fn shortening_a_round_below_its_age_still_counts_down() {
    let mut s = workshop(2);
    let config = |duration| BreakoutConfig {
        enabled: true,
        duration_secs: Some(duration),
        countdown_secs: 30,
        ..BreakoutConfig::default()
    };
    enable(&mut s, config(600));
    rooms(&mut s, 2);
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    // Five minutes in, the moderator sets two minutes: time is up now, and the countdown runs.
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Configure {
            config: config(120),
        },
        300_000,
    )
    .unwrap();
    assert_eq!(s.breakout.next_deadline(), Some(300_000));
    assert_eq!(
        tick(&s, 300_000),
        vec![Event::BreakoutClosing {
            room: s.id(),
            closes_at: 330_000
        }]
    );
}

#[test]
fn a_moderator_placing_someone_is_named() {
    let mut s = workshop(2);
    enable(
        &mut s,
        BreakoutConfig {
            mode: Mode::Free,
            ..BreakoutConfig::default()
        },
    );
    let ids = rooms(&mut s, 2);
    let moved = run(
        &mut s,
        OWNER,
        BreakoutCommand::Assign {
            person_id: person(1),
            breakout: Some(ids[0]),
        },
        0,
    )
    .unwrap();
    assert!(
        matches!(&moved[..], [Event::Assigned { by: Some(name), .. }] if name == "P0"),
        "{moved:?}"
    );
}

#[test]
fn participants_move_only_as_the_settings_allow() {
    let mut s = workshop(2);
    enable(
        &mut s,
        BreakoutConfig {
            mode: Mode::Manual,
            return_to_main: false,
            ..BreakoutConfig::default()
        },
    );
    let r = rooms(&mut s, 2);
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Assign {
            person_id: person(2),
            breakout: Some(r[0]),
        },
        0,
    )
    .unwrap();
    let join_other = BreakoutCommand::Join { breakout: r[1] };
    assert!(
        matches!(
            run(&mut s, 2, join_other.clone(), 0),
            Err(DomainError::Forbidden(_))
        ),
        "not before start in manual mode"
    );
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    assert!(matches!(
        run(&mut s, 2, join_other.clone(), 0),
        Err(DomainError::Forbidden(_))
    ));
    assert!(matches!(
        run(&mut s, 2, BreakoutCommand::Leave, 0),
        Err(DomainError::Forbidden(_))
    ));
    // Moderators go anywhere, any time.
    run(
        &mut s,
        MODERATOR,
        BreakoutCommand::Join { breakout: r[1] },
        0,
    )
    .unwrap();
    assert_eq!(s.locations[&person(MODERATOR)], r[1]);
    run(&mut s, MODERATOR, BreakoutCommand::Leave, 0).unwrap();
    // With free movement and return to main on, the participant may.
    let open = BreakoutConfig {
        mode: Mode::Manual,
        free_movement: true,
        return_to_main: true,
        ..BreakoutConfig::default()
    };
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: true,
                ..open
            },
        },
        0,
    )
    .unwrap();
    run(&mut s, 2, join_other, 0).unwrap();
    assert_eq!(
        (s.locations[&person(2)], s.breakout.assignments[&person(2)]),
        (r[1], r[1])
    );
    run(&mut s, 2, BreakoutCommand::Leave, 0).unwrap();
    assert_eq!(s.locations[&person(2)], s.id());
}

#[test]
fn free_mode_lets_participants_choose_before_and_during_a_round() {
    let mut s = workshop(2);
    enable(
        &mut s,
        BreakoutConfig {
            mode: Mode::Free,
            ..BreakoutConfig::default()
        },
    );
    let r = rooms(&mut s, 2);
    run(&mut s, 2, BreakoutCommand::Join { breakout: r[1] }, 0).unwrap();
    assert_eq!(s.breakout.assignments[&person(2)], r[1]);
    assert_eq!(
        s.locations[&person(2)],
        s.id(),
        "choosing before the round is a choice, not a move"
    );
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    assert_eq!(s.locations[&person(2)], r[1]);
    assert_eq!(
        s.locations[&person(3)],
        s.id(),
        "free mode assigns nobody automatically"
    );
    run(&mut s, 3, BreakoutCommand::Join { breakout: r[0] }, 0).unwrap();
    assert_eq!(s.locations[&person(3)], r[0]);
}

#[test]
fn broadcasts_reach_open_rooms_and_follow_the_setting() {
    let mut s = workshop(2);
    enable(&mut s, BreakoutConfig::default());
    let r = rooms(&mut s, 3);
    let say = |text: &str| BreakoutCommand::Broadcast {
        text: text.into(),
        cta: None,
    };
    assert!(
        matches!(
            run(&mut s, OWNER, say("early"), 0),
            Err(DomainError::Conflict { .. })
        ),
        "only while running"
    );
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    run(
        &mut s,
        OWNER,
        BreakoutCommand::BringBack { rooms: vec![r[2]] },
        0,
    )
    .unwrap();
    let events = run(&mut s, OWNER, say("hello"), 0).unwrap();
    let Event::Broadcast { messages, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(messages.len(), 2, "closed rooms get no message");
    assert!(matches!(
        run(&mut s, 2, say("me too"), 0),
        Err(DomainError::Forbidden(_))
    ));
    let everyone = BreakoutConfig {
        everyone_broadcasts: true,
        ..BreakoutConfig::default()
    };
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: true,
                ..everyone
            },
        },
        0,
    )
    .unwrap();
    run(&mut s, 2, say("me too"), 0).unwrap();
    let cta = CallToAction {
        label: "Go".into(),
        url: "https://example.org".into(),
    };
    let with_cta = BreakoutCommand::Broadcast {
        text: "x".into(),
        cta: Some(cta),
    };
    assert!(
        matches!(run(&mut s, 2, with_cta, 0), Err(DomainError::Forbidden(_))),
        "calls to action are for moderators"
    );
}

#[test]
fn calls_to_action_are_http_links_only() {
    for url in ["https://example.org/x", "http://example.org"] {
        assert!(
            CallToAction {
                label: "Go".into(),
                url: url.into()
            }
            .validate()
            .is_ok(),
            "{url}"
        );
    }
    for url in [
        "javascript:alert(1)",
        "ftp://x",
        "https://",
        "https:///path",
        "example.org",
        "https://a b",
    ] {
        assert!(
            CallToAction {
                label: "Go".into(),
                url: url.into()
            }
            .validate()
            .is_err(),
            "{url}"
        );
    }
}

#[test]
fn help_requests_one_per_room_and_they_end_with_the_round() {
    let mut s = workshop(3);
    enable(&mut s, BreakoutConfig::default());
    rooms(&mut s, 1);
    assert!(
        run(&mut s, 2, BreakoutCommand::AskHelp, 0).is_err(),
        "not before the round"
    );
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    run(&mut s, 2, BreakoutCommand::AskHelp, 0).unwrap();
    assert!(matches!(
        run(&mut s, 3, BreakoutCommand::AskHelp, 0),
        Err(DomainError::Conflict {
            code: "help_pending",
            ..
        })
    ));
    assert!(matches!(
        run(&mut s, MODERATOR, BreakoutCommand::AskHelp, 0),
        Err(DomainError::Forbidden(_))
    ));
    let id = *s.breakout.help.keys().next().unwrap();
    assert!(matches!(
        run(
            &mut s,
            3,
            BreakoutCommand::AnswerHelp { id, accept: true },
            0
        ),
        Err(DomainError::Forbidden(_))
    ));
    run(&mut s, OWNER, BreakoutCommand::Stop, 0).unwrap();
    assert!(
        s.breakout.help.is_empty(),
        "requests end when the rooms close"
    );
}

#[test]
fn deleting_rooms_brings_people_back_and_deleting_all_ends_the_round() {
    let mut s = workshop(4);
    enable(&mut s, BreakoutConfig::default());
    let r = rooms(&mut s, 2);
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    run(
        &mut s,
        OWNER,
        BreakoutCommand::DeleteRooms {
            rooms: Some(vec![r[0]]),
        },
        0,
    )
    .unwrap();
    assert!(s.breakout.assignments.values().all(|b| *b == r[1]));
    assert!(s.locations.values().all(|l| *l != r[0]));
    assert_eq!(s.breakout.status, Status::Running);
    run(
        &mut s,
        OWNER,
        BreakoutCommand::DeleteRooms { rooms: None },
        0,
    )
    .unwrap();
    assert_eq!(s.breakout.status, Status::Idle);
    assert!(s.breakouts.is_empty() && s.breakout.assignments.is_empty());
    assert!(s.locations.values().all(|l| *l == s.id()));
}

#[test]
fn strangers_and_participants_are_refused_the_controls() {
    let mut s = workshop(1);
    let before = s.clone();
    let controls = [
        BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: true,
                ..BreakoutConfig::default()
            },
        },
        BreakoutCommand::CreateRooms {
            count: Some(1),
            names: None,
        },
        BreakoutCommand::Start,
        BreakoutCommand::Stop,
        BreakoutCommand::Reset,
        BreakoutCommand::DeleteRooms { rooms: None },
    ];
    for c in controls {
        assert!(matches!(
            run(&mut s, 2, c.clone(), 0),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            run(&mut s, OUTSIDER, c, 0),
            Err(DomainError::NotFound("room"))
        ));
    }
    assert_eq!(s, before);
}

#[derive(Debug, Clone)]
enum Step {
    Do(u128, u8, u8),
    Connect(u128),
    Disconnect(u128),
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u128..8, 0u8..19, 0u8..4).prop_map(|(who, what, arg)| Step::Do(who, what, arg)),
        1 => (0u128..8).prop_map(Step::Connect),
        1 => (0u128..8).prop_map(Step::Disconnect),
        1 => (0i64..400_000).prop_map(Step::Wait),
    ]
}

fn command(state: &RoomState, what: u8, arg: u8) -> BreakoutCommand {
    let rooms: Vec<RoomId> = state.breakouts.keys().copied().collect();
    let room = rooms
        .get(arg as usize)
        .copied()
        .unwrap_or(RoomId(uuid::Uuid::from_u128(77)));
    let modes = [Mode::Automatic, Mode::Manual, Mode::Free, Mode::Automatic];
    match what {
        0 => BreakoutCommand::Configure {
            config: BreakoutConfig {
                enabled: arg != 3,
                mode: modes[arg as usize],
                free_movement: arg.is_multiple_of(2),
                return_to_main: arg != 1,
                everyone_broadcasts: arg == 2,
                duration_secs: [None, Some(60), Some(300), Some(5)][arg as usize],
                countdown_secs: 10 * u32::from(arg),
                participants_promote: arg != 2,
            },
        },
        1 => BreakoutCommand::CreateRooms {
            count: Some(u32::from(arg) + 1),
            names: None,
        },
        2 => BreakoutCommand::DeleteRooms {
            rooms: if arg == 0 { None } else { Some(vec![room]) },
        },
        3 => BreakoutCommand::Assign {
            person_id: person(u128::from(arg) + 2),
            breakout: Some(room),
        },
        4 => BreakoutCommand::Assign {
            person_id: person(u128::from(arg) + 2),
            breakout: None,
        },
        5 => BreakoutCommand::Reset,
        6 | 7 => BreakoutCommand::Start,
        8 => BreakoutCommand::Stop,
        9 => BreakoutCommand::BringBack { rooms: vec![room] },
        10 => BreakoutCommand::Broadcast {
            text: "hi".into(),
            cta: None,
        },
        11 => BreakoutCommand::Join { breakout: room },
        12 => BreakoutCommand::Leave,
        13 => BreakoutCommand::AskHelp,
        14 => BreakoutCommand::AnswerHelp {
            id: state
                .breakout
                .help
                .keys()
                .nth(arg as usize)
                .copied()
                .unwrap_or(HelpId(uuid::Uuid::from_u128(5))),
            accept: arg.is_multiple_of(2),
        },
        15 => BreakoutCommand::MessageRoom {
            breakout: room,
            text: "hi".into(),
        },
        16 => BreakoutCommand::Rotate {
            rotation: rotation(arg),
            history: vec![],
        },
        17 => BreakoutCommand::Schedule {
            request: schedule::ScheduleRequest {
                rounds: u32::from(arg) + 1,
                duration_secs: 60,
                break_secs: 10 * u32::from(arg),
                rotation: rotation(arg),
            },
            history: vec![],
        },
        _ => BreakoutCommand::StopSchedule,
    }
}

/// Rooms of two, or two or three rooms, only the connected at times.
fn rotation(arg: u8) -> rotate::Rotation {
    rotate::Rotation {
        rooms: (!arg.is_multiple_of(2)).then_some(u32::from(arg)),
        size: arg.is_multiple_of(2).then_some(2),
        present_only: arg == 3,
        ..rotate::Rotation::default()
    }
}

fn check_invariants(s: &RoomState, max_rooms: usize) -> Result<(), TestCaseError> {
    prop_assert!(s.breakouts.len() <= max_rooms, "room limit");
    for room in s.breakout.assignments.values() {
        prop_assert!(
            s.breakouts.contains_key(room),
            "assignment to a missing room"
        );
    }
    for (person, location) in &s.locations {
        prop_assert!(s.room(*location).is_some(), "location in a missing room");
        prop_assert!(
            s.can_see(*location, *person),
            "located where they may not be"
        );
        if s.breakout.status == Status::Idle
            && s.role(s.id(), *person).is_some()
            && !s.manages(*person)
        {
            prop_assert_eq!(
                *location,
                s.id(),
                "participants are in the main room between rounds"
            );
        }
    }
    for request in s.breakout.help.values() {
        prop_assert!(s.breakouts.contains_key(&request.breakout));
    }
    if s.breakout.status == Status::Idle {
        prop_assert!(
            s.breakout.help.is_empty(),
            "help requests end with the round"
        );
    }
    if let Some(schedule) = &s.breakout.schedule {
        prop_assert!(
            schedule.done < schedule.rounds,
            "a finished schedule is gone"
        );
        prop_assert_eq!(
            schedule.next_at.is_some(),
            !s.breakout.is_live(),
            "a schedule is either in a round or in a break"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn invariants_hold_whatever_happens(steps in proptest::collection::vec(step(), 1..80), seed in any::<u64>()) {
        let mut s = workshop(6);
        let mut now = 0i64;
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Step::Do(who, what, arg) => {
                    let cmd = command(&s, what, arg);
                    let is_start = matches!(cmd, BreakoutCommand::Start);
                    let automatic = s.breakout.config.mode == Mode::Automatic;
                    let unassigned_before = s.members[&s.id()].values()
                        .filter(|m| m.role == Role::Participant && !s.breakout.assignments.contains_key(&m.person_id))
                        .count();
                    let before = s.clone();
                    let c = Ctx { now, seed: seed ^ i as u64, max_breakout_rooms: 8, ..Ctx::new(0, 0) };
                    match crate::domain::room::apply(&s, &caller(who), Command::Breakout(cmd), c) {
                        Ok(events) => {
                            for e in &events {
                                prop_assert!(!e.is_ephemeral());
                                s.fold(e);
                            }
                            if is_start && automatic && unassigned_before > 0 && before.breakout.assignments.is_empty() {
                                let sz = sizes(&s);
                                prop_assert!(sz.last().unwrap() - sz.first().unwrap() <= 1, "unbalanced: {:?}", sz);
                            }
                        }
                        Err(_) => prop_assert_eq!(&s, &before, "a refused command changed the state"),
                    }
                }
                Step::Connect(p) => {
                    if let Some(e) = connect(&s, person(p), format!("P{p}")) { s.fold(&e); }
                }
                Step::Disconnect(p) => {
                    if let Some(e) = disconnect(&s, person(p)) { s.fold(&e); }
                }
                Step::Wait(ms) => {
                    now += ms;
                    for e in tick(&s, now) { s.fold(&e); }
                    if schedule::due(&s, now) {
                        let c = Ctx { now, seed: seed ^ i as u64, max_breakout_rooms: 8, ..Ctx::new(0, 0) };
                        for e in schedule::next_round(&s, &crate::domain::rotation::Met::new(), c) { s.fold(&e); }
                    }
                }
            }
            check_invariants(&s, 8)?;
        }
    }
}

#[test]
fn breakout_only_members_stay_in_their_room() {
    let mut s = workshop(1);
    enable(&mut s, BreakoutConfig::default());
    let r = rooms(&mut s, 2);
    let bo = 50;
    s.fold(&Event::MemberAdded {
        room: r[1],
        member: Member {
            person_id: person(bo),
            display_name: "Bo".into(),
            role: Role::Participant,
        },
    });
    let e = connect(&s, person(bo), "Bo".into()).unwrap();
    s.fold(&e);
    assert_eq!(s.locations[&person(bo)], r[1]);
    run(&mut s, OWNER, BreakoutCommand::Start, 0).unwrap();
    let refused = run(&mut s, bo, BreakoutCommand::Join { breakout: r[0] }, 0);
    assert!(
        matches!(refused, Err(DomainError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(matches!(
        run(&mut s, bo, BreakoutCommand::Leave, 0),
        Err(DomainError::Forbidden(_))
    ));
    assert!(run(&mut s, bo, BreakoutCommand::AskHelp, 0).is_ok());
}

#[test]
fn leaving_the_main_room_ends_the_assignment_and_keeps_a_breakout_member_in_their_room() {
    let mut s = workshop(1);
    enable(&mut s, BreakoutConfig::default());
    let r = rooms(&mut s, 2);
    let p = person(2);
    run(
        &mut s,
        OWNER,
        BreakoutCommand::Assign {
            person_id: p,
            breakout: Some(r[0]),
        },
        0,
    )
    .unwrap();
    s.fold(&Event::MemberAdded {
        room: r[1],
        member: Member {
            person_id: p,
            display_name: "P2".into(),
            role: Role::Participant,
        },
    });
    assert_eq!(s.locations[&p], s.id());
    let leave = crate::domain::room::Command::RemoveMember {
        room: s.id(),
        person_id: p,
    };
    let events = crate::domain::room::apply(&s, &caller(2), leave, ctx(0, seed())).unwrap();
    for e in &events {
        s.fold(e);
    }
    assert!(!s.breakout.assignments.contains_key(&p));
    assert_eq!(
        s.locations[&p], r[1],
        "still a member of Room 2, so that is where they are"
    );
    check_invariants(&s, 8).unwrap();
}

#[test]
fn a_breakout_only_member_is_moved_like_anyone_and_returns_to_their_own_room() {
    use crate::domain::testkit::{self, breakout};
    let mut state = testkit::workshop();
    let guest = person(3);
    enable(
        &mut state,
        BreakoutConfig {
            enabled: true,
            mode: Mode::Manual,
            ..BreakoutConfig::default()
        },
    );
    let event = connect(&state, guest, "P3".into()).unwrap();
    state.fold(&event);
    assert_eq!(
        state.locations[&guest],
        breakout(0),
        "a guest starts in their own room"
    );
    run(&mut state, OWNER, BreakoutCommand::Start, 10).unwrap();
    assert_eq!(state.locations[&guest], breakout(0));

    run(
        &mut state,
        MODERATOR,
        BreakoutCommand::Assign {
            person_id: guest,
            breakout: Some(breakout(1)),
        },
        20,
    )
    .unwrap();
    assert_eq!(state.locations[&guest], breakout(1), "moved at once");
    assert!(state.can_see(breakout(1), guest));
    assert!(!state.can_see(state.id(), guest), "still no main room");
    // Reconnecting during the round lands in the assigned room.
    state.fold(&disconnect(&state, guest).unwrap());
    state.fold(&connect(&state, guest, "P3".into()).unwrap());
    assert_eq!(state.locations[&guest], breakout(1));

    run(
        &mut state,
        MODERATOR,
        BreakoutCommand::Assign {
            person_id: guest,
            breakout: None,
        },
        30,
    )
    .unwrap();
    assert_eq!(
        state.locations[&guest],
        breakout(0),
        "unassigned: back to their own room"
    );
    run(&mut state, MODERATOR, BreakoutCommand::Stop, 40).unwrap();
    assert_eq!(
        state.locations[&guest],
        breakout(0),
        "a stop never sends a guest to the main room"
    );
}
