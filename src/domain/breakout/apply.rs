//! What a breakout command does: [`apply`] checks the caller and the state and answers the
//! events, or refuses and changes nothing; with the guards it shares (a round running, a room
//! closed for the round) and the moves it is made of.

use std::collections::HashSet;

use super::{
    Assignment, BreakoutCommand, HelpRequest, Mode, Status, StopReason, breakout_room, distribute,
    import, manager, may_switch, rotate, schedule,
};
use crate::domain::DomainError;
use crate::domain::event::Event;
use crate::domain::room::{Caller, Ctx, Message, MessageKind, Role, RoomInfo, RoomState};
use crate::domain::validate;
use crate::ids::{HelpId, PersonId, RoomId};

/// Refuses a brought-back room while its round lasts: nobody goes into it again, moderators
/// included (they would be alone there, and its people are back in the main room), until the next
/// round opens it.
pub(super) fn closed_for_the_round(state: &RoomState, room: RoomId) -> Result<(), DomainError> {
    if state.breakout.closed.contains(&room) {
        Err(DomainError::conflict(
            "room_closed",
            "this breakout room was brought back: nobody goes into it again this round",
        ))
    } else {
        Ok(())
    }
}

/// Refuses while a round runs (or counts down): what may only change between rounds.
pub(super) fn between_rounds(state: &RoomState) -> Result<(), DomainError> {
    if state.breakout.is_live() {
        Err(DomainError::conflict(
            "running",
            "breakout rooms are running; stop the round first",
        ))
    } else {
        Ok(())
    }
}

pub(super) fn running(state: &RoomState) -> Result<(), DomainError> {
    if state.breakout.is_live() {
        Ok(())
    } else {
        Err(DomainError::conflict(
            "not_running",
            "breakout rooms are not running",
        ))
    }
}

/// The breakout room `person` is in now; else a conflict saying to `what` from inside one.
pub(in crate::domain) fn breakout_here(
    state: &RoomState,
    person: PersonId,
    what: &str,
) -> Result<RoomId, DomainError> {
    state
        .locations
        .get(&person)
        .copied()
        .filter(|r| *r != state.id())
        .ok_or_else(|| {
            DomainError::conflict(
                "not_in_breakout",
                format!("{what} from inside a breakout room"),
            )
        })
}

/// Decides what a breakout command does.
pub fn apply(
    state: &RoomState,
    caller: &Caller,
    command: BreakoutCommand,
    ctx: Ctx,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let me = caller.person_id;
    if !state.has_access(me) {
        return Err(DomainError::NotFound("room"));
    }
    let session = &state.breakout;
    match command {
        BreakoutCommand::Change { changes } => {
            let config = changes.over(&session.config);
            apply(state, caller, BreakoutCommand::Configure { config }, ctx)
        }
        BreakoutCommand::Configure { config } => {
            manager(state, me)?;
            config.validate()?;
            may_switch(session, config.enabled)?;
            let ends_at = match (session.status, config.duration_secs, session.started_at) {
                // A duration shorter than the round has already run means time is up now: the
                // countdown still runs in full, the rooms do not close at once.
                (Status::Running, Some(d), Some(start)) => {
                    Some((start + i64::from(d) * 1000).max(ctx.now))
                }
                (Status::Running, None, _) => None,
                _ => session.ends_at,
            };
            if config == session.config && ends_at == session.ends_at {
                return Ok(vec![]);
            }
            Ok(vec![Event::BreakoutConfigured {
                room: main,
                config,
                ends_at,
            }])
        }
        BreakoutCommand::CreateRooms { count, names } => {
            manager(state, me)?;
            let names = match (count, names) {
                (Some(n), None) => {
                    if n == 0 {
                        return Err(DomainError::invalid("count", "must be at least 1"));
                    }
                    // One more than the limit is enough to be refused below.
                    default_names(state, (n as usize).min(ctx.max_breakout_rooms + 1))
                }
                (None, Some(names)) if !names.is_empty() => names
                    .iter()
                    .map(|n| validate::name("names", n))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(DomainError::invalid(
                        "count",
                        "give either count (1 or more) or names",
                    ));
                }
            };
            let total = state.breakouts.len() + names.len();
            if total > ctx.max_breakout_rooms {
                return Err(DomainError::invalid(
                    "count",
                    format!(
                        "a main room may have at most {} breakout rooms; it has {} and {} more were asked",
                        ctx.max_breakout_rooms,
                        state.breakouts.len(),
                        names.len()
                    ),
                ));
            }
            let rooms = new_rooms(main, names, &ctx);
            Ok(vec![Event::BreakoutRoomsCreated { room: main, rooms }])
        }
        BreakoutCommand::DeleteRooms { rooms } => {
            manager(state, me)?;
            let rooms: Vec<RoomId> = match rooms {
                None => state.breakouts.keys().copied().collect(),
                Some(rooms) => {
                    for r in &rooms {
                        breakout_room(state, *r)?;
                    }
                    let mut unique = rooms;
                    unique.sort();
                    unique.dedup();
                    unique
                }
            };
            if rooms.is_empty() {
                return Ok(vec![]);
            }
            let mut events = Vec::new();
            if session.is_live() && rooms.len() == state.breakouts.len() {
                events.extend(stopped(state, StopReason::RoomsDeleted, ctx.now));
            }
            events.push(Event::BreakoutRoomsDeleted { room: main, rooms });
            Ok(events)
        }
        BreakoutCommand::Assign {
            person_id,
            breakout,
        } => {
            manager(state, me)?;
            assign(state, person_id, breakout, &caller.display_name)
        }
        BreakoutCommand::Reset => {
            manager(state, me)?;
            between_rounds(state)?;
            if session.assignments.is_empty() {
                return Ok(vec![]);
            }
            Ok(vec![Event::AssignmentsReset { room: main }])
        }
        BreakoutCommand::Start => {
            manager(state, me)?;
            if !session.config.enabled {
                return Err(DomainError::conflict(
                    "disabled",
                    "enable breakout rooms first",
                ));
            }
            if session.is_live() {
                return Err(DomainError::conflict(
                    "running",
                    "breakout rooms are already running",
                ));
            }
            if session.schedule.is_some() {
                return Err(DomainError::conflict(
                    "schedule_running",
                    "a schedule starts the rounds itself: stop it to run rounds by hand",
                ));
            }
            if state.breakouts.is_empty() {
                return Err(DomainError::conflict(
                    "no_rooms",
                    "create breakout rooms first",
                ));
            }
            let mut assignments = session.assignments.clone();
            if session.config.mode == Mode::Automatic {
                distribute(state, &mut assignments, ctx.seed);
            }
            let mut assignments: Vec<Assignment> = assignments
                .into_iter()
                .map(|(person_id, breakout)| Assignment {
                    person_id,
                    breakout,
                })
                .collect();
            assignments.sort_by_key(|a| a.person_id);
            let ends_at = session
                .config
                .duration_secs
                .map(|d| ctx.now + i64::from(d) * 1000);
            Ok(vec![Event::BreakoutStarted {
                room: main,
                round: session.round + 1,
                assignments,
                ends_at,
                started_at: ctx.now,
            }])
        }
        BreakoutCommand::Stop => {
            manager(state, me)?;
            if !session.is_live() {
                return Ok(vec![]);
            }
            Ok(stopped(state, StopReason::Stopped, ctx.now))
        }
        BreakoutCommand::BringBack { rooms } => {
            manager(state, me)?;
            running(state)?;
            if rooms.is_empty() {
                return Err(DomainError::invalid(
                    "rooms",
                    "name at least one breakout room",
                ));
            }
            for r in &rooms {
                breakout_room(state, *r)?;
            }
            let mut rooms: Vec<RoomId> = rooms
                .into_iter()
                .filter(|r| !session.closed.contains(r))
                .collect();
            rooms.sort();
            rooms.dedup();
            if rooms.is_empty() {
                return Ok(vec![]);
            }
            Ok(vec![Event::RoomsBroughtBack { room: main, rooms }])
        }
        BreakoutCommand::Broadcast { text, cta } => {
            let role = state.role(main, me);
            let is_manager = role.is_some_and(Role::manages);
            if !is_manager {
                if role.is_none() {
                    return Err(DomainError::Forbidden(
                        "only main-room members may broadcast",
                    ));
                }
                if !session.config.everyone_broadcasts {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators may broadcast",
                    ));
                }
                if cta.is_some() {
                    return Err(DomainError::Forbidden(
                        "only owners and moderators may add a call to action",
                    ));
                }
            }
            running(state)?;
            let messages = state
                .breakouts
                .keys()
                .filter(|r| !session.closed.contains(r))
                .enumerate()
                .map(|(i, room)| Message {
                    id: ctx.message_id(i as u16),
                    room_id: *room,
                    author_id: Some(me),
                    author_name: Some(caller.display_name.clone()),
                    kind: MessageKind::Broadcast,
                    text: text.clone(),
                    created_at: ctx.now,
                })
                .collect();
            Ok(vec![Event::Broadcast {
                room: main,
                from: me,
                from_name: caller.display_name.clone(),
                text,
                cta,
                messages,
            }])
        }
        BreakoutCommand::MessageRoom { breakout, text } => {
            manager(state, me)?;
            breakout_room(state, breakout)?;
            Ok(vec![Event::MessagePosted {
                room: breakout,
                message: Message {
                    id: ctx.message_id(0),
                    room_id: breakout,
                    author_id: Some(me),
                    author_name: Some(caller.display_name.clone()),
                    kind: MessageKind::Broadcast,
                    text,
                    created_at: ctx.now,
                },
            }])
        }
        BreakoutCommand::Join { breakout } => join(state, me, breakout),
        BreakoutCommand::Leave => {
            let Some(&here) = state.locations.get(&me) else {
                return Err(DomainError::conflict(
                    "not_connected",
                    "connect to the event stream first",
                ));
            };
            if here == main {
                return Ok(vec![]);
            }
            match state.role(main, me) {
                None => Err(DomainError::Forbidden(
                    "you have no access to the main room",
                )),
                Some(r) if !r.manages() && session.is_live() && !session.config.return_to_main => {
                    Err(DomainError::Forbidden(
                        "participants may not return to the main room on their own now",
                    ))
                }
                Some(_) => Ok(vec![Event::Located {
                    room: main,
                    person_id: me,
                    location: main,
                }]),
            }
        }
        BreakoutCommand::AskHelp => {
            if state.role(main, me).is_some_and(Role::manages) {
                return Err(DomainError::Forbidden(
                    "moderators answer help requests; they do not ask",
                ));
            }
            running(state)?;
            let here = breakout_here(state, me, "ask for help")?;
            if session.help.values().any(|h| h.breakout == here) {
                return Err(DomainError::conflict(
                    "help_pending",
                    "this room already asked for help",
                ));
            }
            let request = HelpRequest {
                id: HelpId(ctx.uuid(0)),
                breakout: here,
                person_id: me,
                display_name: caller.display_name.clone(),
                created_at: ctx.now,
            };
            Ok(vec![Event::HelpRequested {
                room: main,
                request,
            }])
        }
        BreakoutCommand::Import { rows } => import::apply(state, caller, rows, ctx),
        BreakoutCommand::Rotate { rotation, history } => {
            let met = crate::domain::rotation::Met::of(&history);
            rotate::apply(state, caller, &rotation, &met, ctx)
        }
        BreakoutCommand::Schedule { request, history } => {
            let met = crate::domain::rotation::Met::of(&history);
            schedule::start(state, caller, request, &met, ctx)
        }
        BreakoutCommand::StopSchedule => schedule::stop(state, caller),
        BreakoutCommand::AnswerHelp { id, accept } => {
            manager(state, me)?;
            if session.answered.contains(&id) {
                return Err(DomainError::conflict(
                    "help_answered",
                    "this help request was already answered",
                ));
            }
            let request = session
                .help
                .get(&id)
                .ok_or(DomainError::NotFound("help request"))?;
            let mut events = vec![Event::HelpAnswered {
                room: main,
                id,
                breakout: request.breakout,
                person_id: request.person_id,
                by: me,
                accepted: accept,
            }];
            if accept && state.locations.contains_key(&me) {
                events.push(Event::Located {
                    room: main,
                    person_id: me,
                    location: request.breakout,
                });
            }
            Ok(events)
        }
    }
}

/// The end of a round: everyone back, the rooms' results handed over to the main room, and the
/// schedule (if any) counts it and takes a break.
pub(super) fn stopped(state: &RoomState, reason: StopReason, now: i64) -> Vec<Event> {
    let mut events = vec![Event::BreakoutStopped {
        room: state.id(),
        reason,
    }];
    events.extend(crate::domain::activity::hand_over(state));
    events.extend(schedule::after_round(state, now));
    events
}

/// New breakout rooms of `main` with these names, their ids the command's uuids from 0.
pub(super) fn new_rooms(main: RoomId, names: Vec<String>, ctx: &Ctx) -> Vec<RoomInfo> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| RoomInfo {
            id: RoomId(ctx.uuid(i as u16)),
            parent_id: Some(main),
            name,
            created_at: ctx.now,
        })
        .collect()
}

/// `n` names `Room k` not taken yet, lowest `k` first.
pub(super) fn default_names(state: &RoomState, n: usize) -> Vec<String> {
    let taken: HashSet<&str> = state.breakouts.values().map(|r| r.name.as_str()).collect();
    (1..)
        .map(|k| format!("Room {k}"))
        .filter(|name| !taken.contains(name.as_str()))
        .take(n)
        .collect()
}

/// Assign, unassign or (while running) move a person.
pub(super) fn assign(
    state: &RoomState,
    person: PersonId,
    breakout: Option<RoomId>,
    by: &str,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    if let Some(b) = breakout {
        breakout_room(state, b)?;
        closed_for_the_round(state, b)?;
    }
    let direct_breakout_member = state
        .breakouts
        .keys()
        .any(|b| state.role(*b, person).is_some());
    if state.role(main, person).is_none() && !direct_breakout_member {
        return Err(DomainError::NotFound("member"));
    }
    if state.breakout.assignments.get(&person).copied() == breakout {
        return Ok(vec![]);
    }
    Ok(vec![Event::Assigned {
        room: main,
        person_id: person,
        breakout,
        by: Some(by.to_owned()),
    }])
}

/// A person goes to a breakout room themselves.
pub(super) fn join(
    state: &RoomState,
    me: PersonId,
    breakout: RoomId,
) -> Result<Vec<Event>, DomainError> {
    let main = state.id();
    let session = &state.breakout;
    breakout_room(state, breakout)?;
    let role = state.role(main, me);
    let is_manager = role.is_some_and(Role::manages);
    let assigned = session.assignments.get(&me) == Some(&breakout);
    let direct = state.role(breakout, me).is_some();
    closed_for_the_round(state, breakout)?;
    if !is_manager {
        if role.is_none() && !direct {
            return Err(DomainError::Forbidden(
                "breakout-only members stay in their own room",
            ));
        }
        let free = session.config.free_movement || session.config.mode == Mode::Free;
        if !session.is_live() {
            // Before a round, a free choice is a self-assignment.
            if session.config.mode != Mode::Free {
                return Err(DomainError::Forbidden(
                    "participants choose rooms only in free mode",
                ));
            }
            return Ok(if assigned {
                vec![]
            } else {
                vec![Event::Assigned {
                    room: main,
                    person_id: me,
                    breakout: Some(breakout),
                    by: None,
                }]
            });
        }
        if !(assigned || direct || free) {
            return Err(DomainError::Forbidden(
                "participants may not switch rooms on their own now",
            ));
        }
    }
    if !state.locations.contains_key(&me) {
        return Err(DomainError::conflict(
            "not_connected",
            "connect to the event stream first",
        ));
    }
    let mut events = Vec::new();
    if !is_manager && !assigned && !direct {
        events.push(Event::Assigned {
            room: main,
            person_id: me,
            breakout: Some(breakout),
            by: None,
        });
    }
    if state.locations.get(&me) != Some(&breakout) {
        events.push(Event::Located {
            room: main,
            person_id: me,
            location: breakout,
        });
    }
    Ok(events)
}
